"""Task tries as one-shot Docker Swarm services, on a real one-node swarm (tests/swarm_engine.py).

``DockerSwarmOperator`` tasks, ``DockerOperator`` tasks under ``DOCKYARD_ENGINE_MODE=swarm``, the options a
service refuses, re-attaching to a running service by its labels, and what a try does when the swarm is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from dockyard import DockerSwarmOperator
from dockyard.container import RunControl, build_spec, labels_for
from dockyard.container.control import Abandoned, StopReason
from dockyard.container.runtime import DockerRuntime
from dockyard.container.spec import engine_config
from dockyard.errors import DagDefinitionError
from dockyard.execution import TaskRunner
from dockyard.settings import Settings
from dockyard.states import TaskState
from tests.helpers import (
    IMAGE,
    LOGICAL_DATE,
    TEST_LABEL,
    TOKEN,
    docker_task,
    log_text,
    make_dag,
    output_lines,
    wait_for,
    write_dag,
)
from tests.swarm_engine import SwarmEngine, swarm_engine, swarm_engine_at, worker_name  # noqa: F401

pytestmark = pytest.mark.engine


def swarm_task(dag: Any, task_id: str = "task", **kwargs: Any) -> DockerSwarmOperator:
    kwargs.setdefault("image", IMAGE)
    return DockerSwarmOperator(task_id=task_id, dag=dag, labels={TEST_LABEL: TOKEN}, **kwargs)


def services_of(client: docker.APIClient, dag_id: str) -> list[dict[str, Any]]:
    return list(client.services(filters={"label": f"dockyard.dag_id={dag_id}"}))


def settings_for(tmp_path: Path, url: str, **env: str) -> Settings:
    return Settings.from_env(
        {"DOCKYARD_HOME": str(tmp_path / "home"), "DOCKER_HOST": url, "DOCKYARD_STOP_GRACE_SECONDS": "1", **env}
    )


@pytest.fixture
def swarm_runner(tmp_path: Path, swarm_engine: SwarmEngine) -> Iterator[TaskRunner]:  # noqa: F811
    runner = TaskRunner(settings_for(tmp_path, swarm_engine.url), instance="swarm-tests")
    yield runner
    runner.runtime.close()


def run(runner: TaskRunner, dag: Any, task: Any, control: RunControl | None = None) -> Any:
    return runner.run(dag, task, logical_date=LOGICAL_DATE, run_id=f"r_{uuid.uuid4().hex[:8]}", control=control)


def test_a_swarm_task_streams_its_log_pushes_its_last_line_and_its_service_is_removed(
    swarm_runner: TaskRunner,
    swarm_engine: SwarmEngine,  # noqa: F811
) -> None:
    dag = make_dag()
    task = swarm_task(dag, command=["sh", "-c", "echo one; sleep 1; echo two >&2; printf last"])
    outcome = run(swarm_runner, dag, task)
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert output_lines(outcome) == ["one", "two", "last"]
    assert outcome.xcom == "last"
    assert "Created Swarm service airflow-" in log_text(outcome)
    assert services_of(swarm_engine.client, dag.dag_id) == []  # auto_remove "success"
    with pytest.raises(docker.errors.NotFound):
        swarm_engine.client.inspect_service(outcome.container_id)


def test_a_failing_service_fails_the_task_with_its_exit_code_and_keeps_or_removes_it_per_auto_remove(
    swarm_runner: TaskRunner,
    swarm_engine: SwarmEngine,  # noqa: F811
) -> None:
    dag = make_dag()
    kept = run(swarm_runner, dag, swarm_task(dag, "kept", command="sh -c 'echo bad input; exit 3'"))
    assert kept.state is TaskState.FAILED and kept.exit_code == 3
    assert "exited with code 3" in kept.message and "bad input" in kept.message
    [service] = services_of(swarm_engine.client, dag.dag_id)  # "success" keeps a failed one, as for containers
    assert service["ID"] == kept.container_id
    assert service["Spec"]["Labels"]["dockyard.task_id"] == "kept"
    swarm_engine.client.remove_service(service["ID"])
    forced = run(swarm_runner, dag, swarm_task(dag, "forced", command="false", auto_remove="force"))
    assert forced.state is TaskState.FAILED and forced.exit_code == 1
    assert services_of(swarm_engine.client, dag.dag_id) == []


def test_xcom_all_args_and_the_providers_command_meaning(swarm_runner: TaskRunner) -> None:
    dag = make_dag()
    # The provider's command is the service's command (it replaces the image's entrypoint); args follow it.
    task = swarm_task(dag, command="sh -c", args=["echo a; echo b"], xcom_all=True, mode="replicated")
    outcome = run(swarm_runner, dag, task)
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.xcom == ["a", "b"]


def test_execution_timeout_removes_the_running_service(
    swarm_runner: TaskRunner,
    swarm_engine: SwarmEngine,  # noqa: F811
) -> None:
    import datetime as dt

    dag = make_dag()
    task = swarm_task(dag, command="sleep 60", execution_timeout=dt.timedelta(seconds=2), auto_remove="never")
    started = time.monotonic()
    outcome = run(swarm_runner, dag, task)
    assert time.monotonic() - started < 15
    assert outcome.state is TaskState.FAILED and outcome.stop_reason is StopReason.TIMEOUT
    assert "execution_timeout of 2 s" in outcome.message
    assert services_of(swarm_engine.client, dag.dag_id) == []  # stopping a service is removing it


def test_docker_operator_runs_as_a_service_with_engine_mode_swarm(
    tmp_path: Path,
    swarm_engine: SwarmEngine,  # noqa: F811
) -> None:
    runner = TaskRunner(settings_for(tmp_path, swarm_engine.url, DOCKYARD_ENGINE_MODE="swarm"))
    try:
        dag = make_dag()
        task = docker_task(dag, command=["sh", "-c", "echo $GREETING"], environment={"GREETING": "hi"})
        task.auto_remove = "never"
        outcome = run(runner, dag, task)
        assert outcome.state is TaskState.SUCCESS, outcome.message
        assert outcome.xcom == "hi"
        [service] = services_of(swarm_engine.client, dag.dag_id)  # "never" keeps the service
        assert service["ID"] == outcome.container_id
        assert service["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
        assert swarm_engine.client.containers(all=True, filters={"label": f"dockyard.dag_id={dag.dag_id}"}) == []
        swarm_engine.client.remove_service(service["ID"])
    finally:
        runner.runtime.close()


def test_options_a_service_cannot_honour_are_refused_with_what_to_do_instead(
    tmp_path: Path,
    swarm_engine: SwarmEngine,  # noqa: F811
) -> None:
    dag = make_dag()
    with pytest.raises(DagDefinitionError, match=r"task 'p': privileged=True cannot be used with a Swarm service"):
        swarm_task(dag, "p", privileged=True)
    with pytest.raises(
        DagDefinitionError, match=r"retrieve_output=True cannot be used with a Swarm service.*last line"
    ):
        swarm_task(dag, "r", retrieve_output=True, retrieve_output_path="/tmp/out.json")
    with pytest.raises(DagDefinitionError, match="logging_driver='syslog' is not supported; use one of json-file"):
        swarm_task(dag, "l", logging_driver="syslog")
    # An ordinary DockerOperator under DOCKYARD_ENGINE_MODE=swarm: refused when its try builds the spec.
    runner = TaskRunner(settings_for(tmp_path, swarm_engine.url, DOCKYARD_ENGINE_MODE="swarm"))
    try:
        outcome = run(runner, dag, docker_task(dag, "ports", command="true", port_bindings={8080: 8080}))
    finally:
        runner.runtime.close()
    assert outcome.state is TaskState.FAILED
    assert "port_bindings={'8080/tcp'" in outcome.message and "publishes no ports" in outcome.message
    assert services_of(swarm_engine.client, dag.dag_id) == []
    with pytest.raises(Exception, match="DOCKYARD_ENGINE_MODE='pods' is not known; use 'container'"):
        Settings.from_env({"DOCKYARD_ENGINE_MODE": "pods"})


def test_a_running_service_is_found_by_its_labels_and_re_attached(
    swarm_runner: TaskRunner,
    swarm_engine: SwarmEngine,  # noqa: F811
) -> None:
    """What a restarted scheduler does: list dockyard's services on the engine, resume the try's one."""
    dag = make_dag()
    task = swarm_task(dag, command=["sh", "-c", "echo before; sleep 3; echo after; exit 5"])
    control = RunControl()
    outcome: list[Any] = []

    def first() -> None:
        try:
            outcome.append(run(swarm_runner, dag, task, control))
        except Abandoned as exc:
            outcome.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    engine = engine_config({}, swarm_engine.url)  # as the scheduler asks: by engine, in container mode
    wait_for(
        lambda: [s for s in swarm_runner.runtime.managed_containers(engine, "swarm-tests") if s["state"] == "running"],
        timeout=20,
        what="the service to run",
    )
    control.abandon()  # the scheduler stops watching; the service runs on
    thread.join(timeout=10)
    assert isinstance(outcome[0], Abandoned)
    [found] = [
        s
        for s in swarm_runner.runtime.managed_containers(engine, "swarm-tests")
        if s["labels"].get("dockyard.dag_id") == dag.dag_id
    ]
    assert found["kind"] == "service" and found["labels"]["dockyard.task_id"] == "task"
    spec = build_spec(
        task.options.render({}),
        labels=labels_for(dag.dag_id, "task", "r", 1, "swarm-tests"),
        default_docker_url=swarm_engine.url,
        mode="swarm",
        service=task.service_options,
    )
    lines: list[str] = []
    result = swarm_runner.runtime.resume(spec, found["id"], lines.extend, skip_lines=1)
    assert result.exit_code == 5 and lines == ["after"]
    swarm_runner.runtime.discard(engine, found["id"])
    assert services_of(swarm_engine.client, dag.dag_id) == []


def test_a_dag_of_swarm_tasks_runs_under_dags_test(tmp_path: Path, swarm_engine: SwarmEngine) -> None:  # noqa: F811
    folder = tmp_path / "dags"
    write_dag(
        folder,
        "swarmed",
        """
from dockyard import DockerSwarmOperator
SWARM = {"image": ARGS["image"], "labels": ARGS["labels"]}
with DAG("swarmed", start_date=START, schedule=None, default_args={"retries": 1, "retry_delay": 0}) as dag:
    make = DockerSwarmOperator(task_id="make", command=["sh", "-c", "echo making; echo 42"], **SWARM)
    use = DockerSwarmOperator(
        task_id="use", command=["sh", "-c", "echo got {{ ti.xcom_pull(task_ids='make') }}; exit 7"], **SWARM
    )
    make >> use
""",
    )
    env = {
        **os.environ,
        "DOCKYARD_HOME": str(tmp_path / "home"),
        "DOCKYARD_DAGS_FOLDER": str(folder),
        "DOCKER_HOST": swarm_engine.url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "dags", "test", "swarmed", "2024-02-29"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1, result.stderr  # "use" fails twice (a retry), so the run fails
    assert "got 42" in result.stdout and "making" in result.stdout
    assert "exited with code 7" in result.stdout + result.stderr
    assert "Run test__2024-02-29T00:00:00+00:00 of swarmed: failed" in result.stderr
    leftover = [s["Spec"]["Labels"]["dockyard.task_id"] for s in services_of(swarm_engine.client, "swarmed")]
    assert sorted(leftover) == ["use", "use"]  # both failed tries keep their service (auto_remove "success")
    for service in services_of(swarm_engine.client, "swarmed"):
        swarm_engine.client.remove_service(service["ID"])


def test_an_engine_that_is_no_swarm_manager_fails_the_try_at_once(tmp_path: Path, engine: docker.APIClient) -> None:
    """The main engine is not in a swarm: a service cannot be created there, and the error says what to do."""
    runner = TaskRunner(settings_for(tmp_path, os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"))
    try:
        dag = make_dag()
        started = time.monotonic()
        outcome = run(runner, dag, swarm_task(dag, command="true"))
    finally:
        runner.runtime.close()
    assert outcome.state is TaskState.FAILED and time.monotonic() - started < 10
    assert "is not a Docker Swarm manager" in outcome.message and "docker swarm init" in outcome.message


def test_a_swarm_that_goes_away_mid_try_fails_the_try_without_hanging(tmp_path: Path, engine: docker.APIClient) -> None:
    """The swarm is left while a service runs (the try fails at once, saying so); then the engine stops while
    another runs (the try waits the engine's return time, then fails)."""
    with swarm_engine_at(tmp_path / "gone", worker_name("gone")) as swarm:
        containers = DockerRuntime(docker_host=swarm.url, stop_grace_seconds=1, engine_return_seconds=2)
        runner = TaskRunner(settings_for(tmp_path, swarm.url), containers)
        try:
            dag = make_dag()
            task = swarm_task(dag, command="sleep 60")
            control = RunControl()
            threading.Timer(1.5, swarm.leave).start()
            started = time.monotonic()
            left = run(runner, dag, task, control)
            assert left.state is TaskState.FAILED and time.monotonic() - started < 30
            assert "is not a Docker Swarm manager" in left.message or "removed from outside" in left.message
            swarm.client.init_swarm(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
            stopping = threading.Timer(1.5, swarm.stop)
            stopping.start()
            started = time.monotonic()
            stopped = run(runner, dag, swarm_task(dag, "again", command="sleep 60"))
            stopping.join()
            assert stopped.state is TaskState.FAILED and time.monotonic() - started < 60
            # A stopping engine first drops its swarm (the manager answers 503), then stops answering at all.
            assert any(
                words in stopped.message
                for words in ("is not a Docker Swarm manager", "did not answer", "no Docker engine answered")
            ), stopped.message
        finally:
            runner.runtime.close()

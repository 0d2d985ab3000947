"""What a try's container used, read from the real engine: the image digest (or ID), peak memory and CPU time,
for a container run to its end and for one re-attached after its supervisor let go of it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from dockyard.connections import Connection, Connections
from dockyard.container import DockerRuntime, RunControl, build_spec, labels_for
from dockyard.container.control import Abandoned
from dockyard.container.spec import ContainerSpec
from dockyard.execution import TaskRunner
from dockyard.settings import Settings
from dockyard.states import TaskState
from dockyard.store import Store
from tests.helpers import IMAGE, LOGICAL_DATE, TEST_LABEL, TOKEN, RunTask, docker_task, make_dag, wait_for
from tests.registry import LOGIN, PASSWORD, Registry

pytestmark = pytest.mark.engine

PYTHON_IMAGE = "dockyard/python:latest"
"""A locally built image with python3 (scripts/build-images)."""
MB = 1024 * 1024
ALLOCATE_AND_SPIN = (
    "import time\n"
    "block = bytearray(64 * 1024 * 1024)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"  # touch every page: resident, not only reserved
    "until = time.time() + {seconds}\n"
    "while time.time() < until: pass\n"
    "print('spun')\n"
)
"""Holds 64 MiB and keeps a CPU busy for a few seconds, so that the once-a-second samples see both."""


@pytest.fixture
def runtime(engine: docker.APIClient) -> Iterator[DockerRuntime]:
    opened = DockerRuntime(stop_grace_seconds=1)
    yield opened
    opened.close()


def _spec(command: list[str], image: str = PYTHON_IMAGE) -> ContainerSpec:
    return build_spec(
        {"image": image, "command": command, "network_mode": "none", "labels": {TEST_LABEL: TOKEN}},
        labels=labels_for("usage", "spin", "test", 1),
        default_docker_url="unix:///var/run/docker.sock",
    )


def _image_reference(engine: docker.APIClient, image: str) -> str:
    """What `docker image inspect` says the digest should be: a RepoDigests entry, else the image ID."""
    inspected = engine.inspect_image(image)
    return str(inspected["RepoDigests"][0]) if inspected.get("RepoDigests") else str(inspected["Id"])


def test_a_try_records_its_image_id_peak_memory_and_cpu_time(run_task: RunTask, engine: docker.APIClient) -> None:
    outcome = run_task(image=PYTHON_IMAGE, command=["python3", "-c", ALLOCATE_AND_SPIN.format(seconds=3)])
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.usage is not None
    assert outcome.usage.samples >= 1
    assert outcome.usage.peak_memory_bytes is not None and outcome.usage.peak_memory_bytes >= 64 * MB
    assert outcome.usage.peak_memory_bytes < 1024 * MB  # a figure for this container, not for the machine
    assert outcome.usage.cpu_time_seconds is not None and outcome.usage.cpu_time_seconds > 0.2
    assert outcome.usage.image_digest == _image_reference(engine, PYTHON_IMAGE)
    assert outcome.usage.image_digest.startswith("sha256:")  # built locally: no registry digest, the image ID


def test_a_container_that_ends_at_once_still_names_its_image(runtime: DockerRuntime, engine: docker.APIClient) -> None:
    control = RunControl()
    result = runtime.run(_spec(["echo", "quick"], image=IMAGE), lambda lines: None, control=control)
    assert result.exit_code == 0
    assert control.usage is not None
    assert control.usage.image_digest == _image_reference(engine, IMAGE)


def test_a_failed_try_keeps_its_figures(runtime: DockerRuntime) -> None:
    control = RunControl()
    program = ALLOCATE_AND_SPIN.format(seconds=2) + "raise SystemExit(3)\n"
    result = runtime.run(_spec(["python3", "-c", program]), lambda lines: None, control=control)
    assert result.exit_code == 3
    assert control.usage is not None and control.usage.peak_memory_bytes is not None
    assert control.usage.peak_memory_bytes >= 64 * MB


def test_a_re_attached_try_is_sampled_again(engine: docker.APIClient) -> None:
    """A scheduler that let go of a running container (as one that crashed) and a new one that re-attaches:
    the new one's figures cover what it saw; CPU time is cumulative, so it counts the time before too."""
    spec = _spec(["python3", "-c", ALLOCATE_AND_SPIN.format(seconds=5)])
    first, control = DockerRuntime(stop_grace_seconds=1), RunControl()
    abandoned: list[BaseException] = []

    def supervise() -> None:
        try:
            first.run(spec, lambda lines: None, control=control)
        except Abandoned as exc:
            abandoned.append(exc)

    watcher = threading.Thread(target=supervise)
    watcher.start()
    container_id = ""
    try:
        wait_for(lambda: control.container_id is not None, timeout=30, what="the container to be created")
        container_id = str(control.container_id)
        wait_for(lambda: engine.inspect_container(container_id)["State"]["Running"], timeout=30, what="it to run")
        time.sleep(2)  # it spins a while under its first supervisor
        control.abandon()
        watcher.join(timeout=30)
        assert abandoned, "the first supervisor let go of the container"
        first.close()
        second, again = DockerRuntime(stop_grace_seconds=1), RunControl()
        try:
            result = second.resume(spec, container_id, lambda lines: None, control=again)
        finally:
            second.close()
        assert result.exit_code == 0
        assert again.usage is not None and again.usage.samples >= 1
        assert again.usage.cpu_time_seconds is not None and again.usage.cpu_time_seconds > 0.2
        assert again.usage.image_digest == _image_reference(engine, PYTHON_IMAGE)
    finally:
        if container_id:  # removed already when it succeeded (auto_remove="success"); a failure leaves it
            with contextlib.suppress(docker.errors.NotFound):
                engine.remove_container(container_id, force=True, v=True)


def test_an_image_from_a_registry_is_named_by_its_registry_digest(
    tmp_path: Path, registry: Registry, engine: docker.APIClient
) -> None:
    image = f"{registry.address}/{registry.image}:1"
    with contextlib.suppress(docker.errors.ImageNotFound):
        engine.remove_image(image, force=True)  # the engine has to pull it
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    store = Store.open(settings)
    host, port = registry.address.split(":")
    Connections(settings, store).add(
        Connection(conn_id="usage_reg", conn_type="docker", host=host, port=int(port), login=LOGIN, password=PASSWORD)
    )
    runner = TaskRunner(settings, connections=Connections(settings, store), variables=store.find_variable)
    dag = make_dag()
    task = docker_task(dag, image=image, command=["echo", "pulled"], docker_conn_id="usage_reg")
    try:
        outcome = runner.run(dag, task, logical_date=LOGICAL_DATE, run_id="usage_registry")
    finally:
        runner.runtime.close()
        store.close()
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.usage is not None
    assert outcome.usage.image_digest in engine.inspect_image(image)["RepoDigests"]
    assert str(outcome.usage.image_digest).startswith(f"{registry.address}/{registry.image}@sha256:")

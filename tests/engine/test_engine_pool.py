"""The engine pool under the scheduler, on the real engines: tasks go to the engines that serve their queue,
wait visibly while no engine has room for what they ask, never overcommit, and fail at once when they ask for
more than any engine has."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dockyard.scheduler import scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.engines import list_statuses
from dockyard.web.waiting import why_waiting
from tests.helpers import wait_for, write_dag
from tests.tls_engine import TlsEngine

pytestmark = pytest.mark.engine

ADMISSION = """
with DAG("admission", start_date=START, schedule=None, default_args=ARGS) as dag:
    first = DockerOperator(task_id="first", mem_limit="200m", command=["sh", "-c", "sleep 3; echo first"])
    second = DockerOperator(task_id="second", mem_limit="200m", command=["sh", "-c", "echo second"])
    huge = DockerOperator(task_id="huge", mem_limit="1g", command="true")
    gpu = DockerOperator(task_id="gpu", queue="gpu", command="true")
"""


def _settings(tmp_path: Path, engines: str, **extra: str) -> Settings:
    (tmp_path / "engines.toml").write_text(engines)
    (tmp_path / "dags").mkdir(exist_ok=True)
    return Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path / "home"),
            "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags"),
            "DOCKYARD_ENGINES": str(tmp_path / "engines.toml"),
            "DOCKYARD_STOP_GRACE_SECONDS": "1",
            **extra,
        }
    )


@pytest.fixture
def small_pool(tmp_path: Path, engine: docker.APIClient) -> Iterator[tuple[Settings, Store]]:
    """One engine (the test engine) whose memory counts as 256 MB: room for one 200 MB task at a time."""
    settings = _settings(tmp_path, '[[engine]]\nname = "small"\nurl = "unix:///var/run/docker.sock"\nmemory = "256m"\n')
    store = Store.open(settings)
    yield settings, store
    store.close()


def test_a_task_waits_visibly_for_room_and_refusals_name_the_largest_engine(small_pool: tuple[Settings, Store]) -> None:
    settings, store = small_pool
    write_dag(settings.dags_folder, "admission", ADMISSION)
    seen: set[str] = set()
    shown: set[str] = set()  # what the task instance's panel in the UI says
    with scheduler_running(settings, store) as scheduler:
        run = trigger_run(settings, store, scheduler.dags["admission"])

        def done() -> bool:
            for ti in store.list_task_instances("admission", run.run_id):
                if ti.waiting_reason:
                    seen.add(f"{ti.task_id}: {ti.waiting_reason}")
                    why = why_waiting(store, scheduler.dags["admission"], store.get_run("admission", run.run_id), ti)
                    shown.update(why.reasons if why else ())
            return store.get_run("admission", run.run_id).state in ("success", "failed")

        wait_for(done, 120, "the run to finish")
        records = {r.name: r for r in list_statuses(store)}
    tis = {ti.task_id: ti for ti in store.list_task_instances("admission", run.run_id)}
    assert tis["first"].state == "success" and tis["second"].state == "success"
    assert tis["first"].engine == "small" and tis["second"].engine == "small"
    assert any("waiting for resources: needs 200 MB memory" in text for text in seen), seen
    one, other = sorted((tis["first"], tis["second"]), key=lambda ti: ti.start_date or dt.datetime.max)
    assert one.end_date is not None and other.start_date is not None and other.start_date >= one.end_date, (
        "two 200 MB tasks ran at once on a 256 MB engine"
    )
    assert any(r.startswith("Waiting for resources: needs 200 MB memory") for r in shown), shown
    assert tis["second"].waiting_reason is None  # cleared once it started
    huge = store.list_tries("admission", run.run_id, "huge")[-1]
    assert tis["huge"].state == "failed" and "needs 1 GB memory" in (huge.error or "")
    assert "the largest, small, has" in (huge.error or "") and "mem_limit" in (huge.error or "")
    gpu = store.list_tries("admission", run.run_id, "gpu")[-1]
    assert tis["gpu"].state == "failed" and "no engine serves queue 'gpu'" in (gpu.error or "")
    assert records["small"].healthy and records["small"].capacity_memory == 256 * 1024**2


def test_a_queue_sends_tasks_to_the_engines_with_its_label(
    tmp_path: Path, engine: docker.APIClient, tls_engine: TlsEngine
) -> None:
    engines = f"""
[[engine]]
name = "local"
url = "unix:///var/run/docker.sock"

[[engine]]
name = "remote"
url = "{tls_engine.url}"
labels = ["remote"]
tls_ca_cert = "{tls_engine.ca}"
tls_client_cert = "{tls_engine.cert}"
tls_client_key = "{tls_engine.key}"
"""
    settings = _settings(tmp_path, engines)
    store = Store.open(settings)
    write_dag(
        settings.dags_folder,
        "queues",
        """
with DAG("queues", start_date=START, schedule=None, default_args={**ARGS, "auto_remove": "never"}) as dag:
    DockerOperator(task_id="here", command="echo here") >> DockerOperator(task_id="there", queue="remote",
        command="echo there")
""",
    )
    try:
        with scheduler_running(settings, store) as scheduler:
            run = trigger_run(settings, store, scheduler.dags["queues"])
            wait_for(lambda: store.get_run("queues", run.run_id).state in ("success", "failed"), 120, "the run")
        tis = {ti.task_id: ti for ti in store.list_task_instances("queues", run.run_id)}
        assert {t: (ti.state, ti.engine) for t, ti in tis.items()} == {
            "here": ("success", "local"),
            "there": ("success", "remote"),
        }
        assert store.get_xcom("queues", run.run_id, "there") == "there"
        remote = tls_engine.client.containers(all=True, filters={"label": "dockyard.dag_id=queues"})
        assert [c["Id"] for c in remote] == [tis["there"].container_id]
    finally:
        for container in tls_engine.client.containers(all=True, filters={"label": "dockyard.dag_id=queues"}):
            tls_engine.client.remove_container(container["Id"], force=True, v=True)
        for container in engine.containers(all=True, filters={"label": "dockyard.dag_id=queues"}):
            engine.remove_container(container["Id"], force=True, v=True)
        store.close()

"""SIGTERM to the scheduler: running containers are left for the next scheduler (default), which
re-attaches and finishes them, or stopped with --stop-running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from dockyard.scheduler import Scheduler, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import labelled, wait_for, write_dag

pytestmark = pytest.mark.engine


def start(env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dockyard", "scheduler", *flags],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_running", [False, True])
def test_sigterm_leaves_or_stops_running_containers(
    tmp_path: Path, engine: docker.APIClient, stop_running: bool
) -> None:
    dag_id = f"shutdown_{'stop' if stop_running else 'leave'}"
    env = {
        **os.environ,
        "DOCKYARD_HOME": str(tmp_path / "home"),
        "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags"),
        "DOCKYARD_STOP_GRACE_SECONDS": "1",
    }
    write_dag(
        tmp_path / "dags",
        dag_id,
        f'''
with DAG("{dag_id}", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="long", command=["sh", "-c", "echo before; sleep 4; echo after"])
''',
    )
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("DOCKYARD_")})
    store = Store.open(settings)
    parser = Scheduler(settings, store)
    parser.refresh_dags(force=True)
    run = trigger_run(settings, store, parser.dags[dag_id])
    parser.shutdown()
    first = start(env, *(["--stop-running"] if stop_running else []))
    try:
        wait_for(lambda: [c for c in labelled(engine, dag_id=dag_id) if c["State"] == "running"], 60, "the container")
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    states = [c["State"] for c in labelled(engine, dag_id=dag_id)]
    ti = store.get_task_instance(dag_id, run.run_id, "long")
    if stop_running:
        assert "running" not in states
        assert ti.state in ("failed", "up_for_retry") and "stopped them" in stderr
        return
    assert states == ["running"] and ti.state == "running"  # left for the next scheduler
    assert "left running" in stderr
    second = start(env)
    try:
        wait_for(lambda: store.get_run(dag_id, run.run_id).state in ("success", "failed"), 60, "the run to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    ti = store.get_task_instance(dag_id, run.run_id, "long")
    assert (ti.state, ti.try_number) == ("success", 1)
    assert store.get_xcom(dag_id, run.run_id, "long") == "after"
    log = next((settings.logs_folder / f"dag_id={dag_id}").rglob("attempt=1.log")).read_text()
    assert log.count(" before\n") == 1 and log.count(" after\n") == 1 and "Re-attached to container" in log
    store.close()

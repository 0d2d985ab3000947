"""Kill the scheduler with SIGKILL at many moments of a multi-task run; every restart must pick up
where the last one stopped: the run completes, no task runs twice, no container is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from dockyard.scheduler import Scheduler, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import TEST_LABEL, TOKEN, wait_for, write_dag

pytestmark = pytest.mark.engine

KILL_AFTER = [1.2, 1.6, 2.0, 2.4, 1.4, 2.8, 1.8, 3.2, 2.2, 1.0]
"""Seconds after each scheduler start at which it is killed: spread over parsing, launching and waiting."""


def test_sigkill_at_many_points_loses_and_duplicates_nothing(tmp_path: Path, engine: docker.APIClient) -> None:
    dags = tmp_path / "dags"
    out = tmp_path / "out"
    out.mkdir()
    env = {
        **os.environ,
        "DOCKYARD_HOME": str(tmp_path / "home"),
        "DOCKYARD_DAGS_FOLDER": str(dags),
        "DOCKYARD_STOP_GRACE_SECONDS": "1",
        "DOCKYARD_PARALLELISM": "3",
    }
    write_dag(
        dags,
        "crashy",
        f'''
def step(name, seconds):
    return DockerOperator(task_id=name, mounts=["{out}:/out"],
        command=["sh", "-c", f"echo {{name}} >> /out/ran; echo working; sleep {{seconds}}; echo {{name}}-done"])

with DAG("crashy", start_date=START, schedule=None, default_args=ARGS) as dag:
    first = step("first", 2)
    fan = [step(f"fan{{i}}", 2 + i) for i in range(3)]
    join = step("join", 2)
    last = step("last", 1.5)
    first >> fan >> join >> last
''',
    )
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("DOCKYARD_")})
    store = Store.open(settings)
    parsed = Scheduler(settings, store)
    parsed.refresh_dags(force=True)
    run = trigger_run(settings, store, parsed.dags["crashy"])
    parsed.shutdown()

    def run_state() -> str:
        return store.get_run("crashy", run.run_id).state

    kills = 0
    for delay in KILL_AFTER:
        if run_state() in ("success", "failed"):
            break
        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        kills += 1
    # A last scheduler, left alone, finishes whatever is left.
    final = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: run_state() in ("success", "failed"), 120, "the run to finish")
    finally:
        final.send_signal(signal.SIGTERM)
        _, stderr = final.communicate(timeout=60)
    assert run_state() == "success", stderr[-3000:]
    ran = (out / "ran").read_text().split()
    expected = ["first", "fan0", "fan1", "fan2", "join", "last"]
    assert sorted(ran) == sorted(expected), f"each task must run exactly once, got {ran}"
    tis = store.list_task_instances("crashy", run.run_id)
    assert {ti.task_id: (ti.state, ti.try_number) for ti in tis} == {t: ("success", 1) for t in expected}
    for task in expected:
        log = next((settings.logs_folder / "dag_id=crashy").rglob(f"task_id={task}/attempt=1.log")).read_text()
        assert f"{task}-done" in log and log.count(" working\n") == 1
    left = engine.containers(all=True, filters={"label": [f"{TEST_LABEL}={TOKEN}", "dockyard.dag_id=crashy"]})
    assert left == []
    assert kills >= 5, "the run should have outlived several schedulers"
    store.close()

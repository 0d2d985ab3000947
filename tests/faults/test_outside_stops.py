"""Containers stopped from outside dockyard's own try: a run deleted while it runs, a container killed by
someone else. Each ends in recorded states, with the starts the engine reports and no container left."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from tests.faults.harness import Installation
from tests.helpers import wait_for

pytestmark = pytest.mark.engine

GRACE = 3
"""Seconds between SIGTERM and SIGKILL; ``sleep`` as PID 1 ignores SIGTERM, so each stop takes all of it."""


def test_deleting_a_running_run_stops_its_containers_at_once_and_removes_them(
    installation: Callable[..., Installation], record_property: Callable[[str, object], None]
) -> None:
    dockyard = installation(
        """
with DAG("DAG_ID", start_date=START, schedule=None, default_args=ARGS) as dag:
    for i in range(4):
        DockerOperator(task_id=f"t{i}", command=["sleep", "120"])
""",
        DOCKYARD_STOP_GRACE_SECONDS=str(GRACE),
    )
    run_id = dockyard.trigger()
    scheduler = dockyard.scheduler()
    wait_for(lambda: len(dockyard.containers(status="running")) == 4, 60, "four running containers")
    began = time.monotonic()
    dockyard.store.delete_run(dockyard.dag_id, run_id)  # what DELETE /api/v1/dags/{dag_id}/dagRuns/{run_id} does
    wait_for(lambda: not dockyard.containers(), 4 * GRACE + 30, "the run's containers to be removed")
    took = time.monotonic() - began
    record_property("stopped_and_removed_s", round(took, 1))
    assert took < 2 * GRACE + 3, f"four containers took {took:.1f} s to stop: one after another, not together"
    time.sleep(1)
    assert dockyard.containers() == [], "a container of the deleted run was left"
    assert dockyard.starts() == 4
    assert scheduler.poll() is None, dockyard.scheduler_log()
    dockyard.stop(scheduler)


def test_a_container_killed_from_outside_fails_its_try_and_the_retry_succeeds(
    installation: Callable[..., Installation],
    engine: docker.APIClient,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    dockyard = installation(
        f"""
with DAG("DAG_ID", start_date=START, schedule=None, default_args={{**ARGS, "retries": 1}}) as dag:
    DockerOperator(task_id="victim", auto_remove="force", mounts=["{marks}:/marks"],
        command=["sh", "-c", "if [ -e /marks/tried ]; then echo second-try; else touch /marks/tried; sleep 120; fi"])
"""
    )
    run_id = dockyard.trigger()
    scheduler = dockyard.scheduler()
    running = wait_for(lambda: dockyard.containers(status="running"), 60, "the container to run")
    # Kill only once the first try has left its mark: a kill before `touch` would make the retry sleep too.
    wait_for(lambda: (marks / "tried").exists(), 60, "the first try to leave its mark")
    engine.kill(running[0]["Id"])  # someone else's `docker kill`
    assert dockyard.wait_finished(run_id) == "success", dockyard.scheduler_log()
    dockyard.stop(scheduler)
    assert dockyard.task_states(run_id) == {"victim": ("success", 2)}
    tries = dockyard.store.list_tries(dockyard.dag_id, run_id, "victim")
    assert [(t.state, t.exit_code) for t in tries] == [("up_for_retry", 137), ("success", 0)]
    assert dockyard.store.get_xcom(dockyard.dag_id, run_id, "victim") == "second-try"
    record_property("starts", dockyard.starts())
    assert dockyard.starts() == 2
    assert dockyard.containers() == []

"""The database's disk fills up while tasks finish: no result is lost, no finished task runs again.

The database lives on a real 16 MiB tmpfs that the test fills to the last byte while five containers are
running. They exit while nothing can be written. Their containers must then still be there (their result
is not recorded yet), and once space returns, either the same scheduler records them (its writes are
retried) or, after a SIGKILL, the next scheduler reads their outcome from the exited containers: each task
ran once, succeeded with its XCom, and no container is left.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import StoreError
from tests.faults.harness import Installation, fill
from tests.helpers import wait_for

pytestmark = pytest.mark.engine

TASKS = 5
DAG = f"""
with DAG("DAG_ID", start_date=START, schedule=None, default_args=ARGS) as dag:
    for i in range({TASKS}):
        DockerOperator(task_id=f"t{{i}}", command=["sh", "-c", f"echo working; sleep 4; echo value-{{i}}"])
"""


@pytest.mark.parametrize("restart", [False, True], ids=["same-scheduler", "after-sigkill"])
def test_results_survive_a_full_disk(
    installation: Callable[..., Installation],
    small_disk: Path,
    restart: bool,
    record_property: Callable[[str, object], None],
) -> None:
    dockyard = installation(DAG, database_url=f"sqlite:///{small_disk / 'dockyard.db'}")
    run_id = dockyard.trigger()
    scheduler = dockyard.scheduler()
    wait_for(lambda: len(dockyard.containers(status="running")) == TASKS, 60, "all five containers to run")

    filler = fill(small_disk)
    with pytest.raises(StoreError, match="full"):
        dockyard.store.probe_write()  # the fault is real: nothing can be written now
    wait_for(lambda: not dockyard.containers(status="running"), 60, "all five containers to exit")
    wait_for(lambda: "database or disk is full" in dockyard.scheduler_log(), 30, "the scheduler to meet the full disk")
    exited = dockyard.containers(status="exited")
    assert len(exited) == TASKS, "a container was removed before its result was recorded"
    assert {state for state, _ in dockyard.task_states(run_id).values()} == {"running"}

    if restart:
        dockyard.kill(scheduler)
        filler.unlink()
        scheduler = dockyard.scheduler()
    else:
        filler.unlink()
    assert dockyard.wait_finished(run_id) == "success", dockyard.scheduler_log()
    dockyard.stop(scheduler)

    assert dockyard.task_states(run_id) == {f"t{i}": ("success", 1) for i in range(TASKS)}
    for i in range(TASKS):
        assert dockyard.store.get_xcom(dockyard.dag_id, run_id, f"t{i}") == f"value-{i}"
    record_property("starts", dockyard.starts())
    assert dockyard.starts() == TASKS, "a task whose container had finished ran again"
    assert dockyard.containers() == []

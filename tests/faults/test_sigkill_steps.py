"""SIGKILL of the scheduler at each step of a try; the next scheduler finishes the run exactly once.

``DOCKYARD_FAULT_KILL_AT`` (a test-only setting, :mod:`dockyard.faults`) makes the scheduler kill itself
at one step of the first try that reaches it: claimed, created, started, exited, result written. A second
scheduler (without the setting) must then finish the run: every task succeeds on its first try with its
XCom, the engine started each task's container once, and no container is left.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.faults import KILL_POINTS
from tests.faults.harness import Installation

pytestmark = pytest.mark.engine

DAG = """
with DAG("DAG_ID", start_date=START, schedule=None, default_args=ARGS) as dag:
    first = DockerOperator(task_id="first", command=["sh", "-c", "echo working; sleep 1; echo first-value"])
    second = DockerOperator(task_id="second", command=["sh", "-c", "echo second-value"])
    first >> second
"""

AT_DEATH = {
    "claimed": ("running", []),
    "created": ("running", ["created"]),
    "started": ("running", ["running"]),
    "exited": ("running", ["exited"]),
    "written": ("success", ["exited"]),
}
"""For each step: the first task's state in the store and its containers on the engine when the scheduler died."""


STEPS = [
    *(("sqlite", point) for point in KILL_POINTS),
    *(pytest.param("postgresql", point, marks=pytest.mark.slow) for point in ("exited", "written")),
]
"""Every step on SQLite; on PostgreSQL the two around the result's commit (the others write as SQLite does)."""


@pytest.mark.parametrize(("database_url", "point"), STEPS, indirect=["database_url"])
def test_sigkill_at_each_step_of_a_try(
    installation: Callable[..., Installation],
    database_url: str,
    point: str,
    record_property: Callable[[str, object], None],
) -> None:
    dockyard = installation(DAG, database_url=database_url)
    run_id = dockyard.trigger()
    doomed = dockyard.scheduler(DOCKYARD_FAULT_KILL_AT=point)
    assert doomed.wait(timeout=90) == -9, dockyard.scheduler_log()

    state, containers = AT_DEATH[point]
    assert dockyard.task_states(run_id)["first"] == (state, 1)
    assert [c["State"] for c in dockyard.containers()] == containers

    survivor = dockyard.scheduler()
    assert dockyard.wait_finished(run_id) == "success", dockyard.scheduler_log()
    dockyard.stop(survivor)
    assert dockyard.task_states(run_id) == {"first": ("success", 1), "second": ("success", 1)}
    assert dockyard.store.get_xcom(dockyard.dag_id, run_id, "first") == "first-value"
    record_property("starts", dockyard.starts())
    assert dockyard.starts() == 2, "a task ran twice"
    assert dockyard.containers() == []
    log = next(dockyard.settings.logs_folder.rglob("task_id=first/attempt=1.log")).read_text()
    assert log.count(" working\n") == 1 and "first-value" in log

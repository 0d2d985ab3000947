"""A try's container figures on its history row, and the grid's mapped counts by state, in the store (SQLite and
PostgreSQL): written and read back per try, kept when a later write lacks them, counted in one grouped query."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from dockyard.store import Store, TaskState, TryResult
from dockyard.store.dag_views import mapped_states
from dockyard.store.usage import TryUsage, record_usage
from dockyard.web.dag_pages import mapped_cell

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
TASKS = [{"task_id": "one"}, {"task_id": "each"}]


def _run(store: Store, run_id: str) -> None:
    store.create_run("u", run_id, logical_date=START + dt.timedelta(days=len(run_id)), run_type="manual")
    store.start_run("u", run_id, TASKS)


def test_each_try_keeps_its_own_figures(store: Store) -> None:
    _run(store, "r1")
    key = ("u", "r1", "one", -1)
    store.set_ti_state("u", "r1", ["one"], TaskState.SCHEDULED)
    first = store.claim_try("u", "r1", "one")
    record_usage(store, key, first, TryUsage("sha256:aa", peak_memory_bytes=70_000_000, cpu_time_seconds=2.5))
    assert store.finish_try("u", "r1", "one", first, TryResult(state=TaskState.FAILED))
    store.clear("u", "r1", ["one"])
    store.set_ti_state("u", "r1", ["one"], TaskState.SCHEDULED)
    second = store.claim_try("u", "r1", "one")
    record_usage(store, key, second, TryUsage("127.0.0.1:5000/app@sha256:bb", peak_memory_bytes=5_000_000_000))
    record_usage(store, key, second, TryUsage())  # a write with no figures changes nothing
    record_usage(store, key, second, TryUsage(cpu_time_seconds=0.25))  # a later write adds, never erases
    rows = store.list_tries("u", "r1", "one")
    got = [(t.try_number, t.image_digest, t.peak_memory_bytes, t.cpu_time_seconds) for t in rows]
    assert got == [
        (first, "sha256:aa", 70_000_000, 2.5),
        (second, "127.0.0.1:5000/app@sha256:bb", 5_000_000_000, 0.25),  # past 2**32: a BigInteger column
    ]


def test_the_grid_counts_mapped_instances_by_state_in_one_query(store: Store) -> None:
    for run_id, states in (("r1", ["success", "success", "failed"]), ("r22", ["running", None])):
        _run(store, run_id)
        store.expand_task("u", run_id, "each", len(states))
        for index, state in enumerate(states):
            if state is not None:
                number = store.claim_try("u", run_id, "each", index)
                if state != "running":
                    store.finish_try("u", run_id, "each", number, TryResult(state=TaskState(state)), map_index=index)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        found = mapped_states(store, "u", ["r1", "r22", "absent"])
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    queries = [q for q in statements if q.lstrip().upper().startswith("SELECT")]  # not SQLite's BEGIN IMMEDIATE
    assert len(queries) == 1 and "GROUP BY" in queries[0]
    assert found == {("r1", "each"): {"success": 2, "failed": 1}, ("r22", "each"): {"running": 1, "scheduled": 1}}
    # a task that is not mapped has no entry: the grid shows its one state as before


def test_a_mapped_cell_counts_what_succeeded_of_all() -> None:
    cell = mapped_cell({"success": 3, "running": 2})
    assert cell["label"] == "3/5" and cell["state"] == "running"
    assert cell["segments"] == [("running", 2, 40.0), ("success", 3, 60.0)]
    assert cell["title"] == "5 mapped instances: 2 running, 3 success"
    assert mapped_cell({"success": 4})["label"] == "4/4 ✓"
    waiting = mapped_cell({"none": 2})
    assert waiting["label"] == "0/2" and waiting["state"] == "none" and waiting["segments"] == [("none", 2, 100.0)]

"""The DAG history queries (SQLite and PostgreSQL): durations per task over the latest runs (a mapped task's
longest instance, a running task's time so far), runs per UTC day and year for the calendar, and mapped
tasks' instance counts."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from dockyard.states import RunState
from dockyard.store import Store, TaskState
from dockyard.store.dag_views import mapped_counts, run_years, runs_per_day, task_durations
from dockyard.store.models import TaskInstanceModel

UTC = dt.timezone.utc


def _run(store: Store, run_id: str, when: dt.datetime, state: RunState) -> None:
    store.create_run("h", run_id, logical_date=when, run_type="scheduled")
    store.finish_run("h", run_id, state)


def _ti(
    store: Store, run_id: str, task_id: str, start: dt.datetime, seconds: float | None, map_index: int = -1
) -> None:
    with store.session() as s:
        s.add(
            TaskInstanceModel(
                dag_id="h",
                run_id=run_id,
                task_id=task_id,
                map_index=map_index,
                state=TaskState.SUCCESS if seconds is not None else TaskState.RUNNING,
                start_date=start,
                end_date=start + dt.timedelta(seconds=seconds) if seconds is not None else None,
                duration=seconds,
            )
        )


def test_durations_of_the_latest_runs(store: Store) -> None:
    start = dt.datetime(2024, 5, 1, tzinfo=UTC)
    for n in range(5):
        when = start + dt.timedelta(days=n)
        _run(store, f"r{n}", when, RunState.SUCCESS)
        _ti(store, f"r{n}", "a", when, 10.0 * (n + 1))
    for index, seconds in enumerate((3.0, 7.5, 5.0)):  # a mapped task: the run waited for the longest
        _ti(store, "r4", "fan", start, seconds, map_index=index)
    _ti(store, "r4", "b", dt.datetime.now(UTC) - dt.timedelta(seconds=30), None)  # still running
    found = task_durations(store, "h", runs=3)
    assert [p.run_id for p in found.runs] == ["r2", "r3", "r4"]  # oldest first
    assert {k: v for k, v in found.seconds.items() if k[0] == "a"} == {
        ("a", "r2"): 30.0,
        ("a", "r3"): 40.0,
        ("a", "r4"): 50.0,
    }
    assert found.seconds[("fan", "r4")] == 7.5
    assert 29 <= found.seconds[("b", "r4")] < 120
    assert task_durations(store, "nope", runs=3).runs == []


def test_runs_per_day_and_year_in_utc(store: Store) -> None:
    if store.engine.dialect.name == "postgresql":  # a server in another zone must not move runs to other days
        with store.engine.connect() as connection:
            name = connection.execute(sa.text("select current_database()")).scalar_one()
            connection.execute(sa.text(f"ALTER DATABASE {name} SET timezone TO 'Asia/Kolkata'"))
            connection.commit()
        store.engine.dispose()
    _run(store, "late", dt.datetime(2023, 12, 31, 23, 30, tzinfo=UTC), RunState.FAILED)
    east = dt.timezone(dt.timedelta(hours=5))
    _run(store, "east", dt.datetime(2024, 1, 1, 3, 0, tzinfo=east), RunState.SUCCESS)  # 2023-12-31 22:00 UTC
    _run(store, "new", dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC), RunState.SUCCESS)
    _run(store, "new2", dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC), RunState.SUCCESS)
    days = runs_per_day(store, "h", dt.date(2023, 12, 1), dt.date(2024, 2, 1))
    assert days == {dt.date(2023, 12, 31): {"failed": 1, "success": 1}, dt.date(2024, 1, 1): {"success": 2}}
    assert runs_per_day(store, "h", dt.date(2024, 1, 1), dt.date(2024, 1, 2)) == {dt.date(2024, 1, 1): {"success": 2}}
    assert run_years(store, "h") == [2024, 2023]


def test_mapped_counts(store: Store) -> None:
    start = dt.datetime(2024, 5, 1, tzinfo=UTC)
    _run(store, "r", start, RunState.RUNNING)
    for index in range(4):
        _ti(store, "r", "fan", start, 1.0, map_index=index)
    _ti(store, "r", "plain", start, 1.0)
    assert mapped_counts(store, "h", "r") == {"fan": 4}

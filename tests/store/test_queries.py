"""The list readers of :mod:`dockyard.store.queries` on real SQLite and real PostgreSQL: filters, order and
pages computed by the database, and the writes of :mod:`dockyard.store.changes`."""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard.errors import ConflictError, InvalidInputError, NotFoundError
from dockyard.states import RunState, TaskState
from dockyard.store import DagRecord, Store
from dockyard.store.changes import Changes
from dockyard.store.queries import (
    DagFilter,
    EventFilter,
    Queries,
    RunFilter,
    TaskInstanceFilter,
)

UTC = dt.timezone.utc
DAY = dt.datetime(2024, 1, 1, tzinfo=UTC)


def dag(dag_id: str, tags: list[str]) -> DagRecord:
    return DagRecord(
        dag_id=dag_id,
        fileloc=f"/dags/{dag_id}.py",
        schedule="@daily",
        description=None,
        tags=tags,
        max_active_runs=2,
        max_active_tasks=4,
        is_paused_upon_creation=None,
    )


@pytest.fixture
def filled(store: Store) -> Queries:
    """Three DAGs; ``etl_daily`` has three runs of two tasks, the second run failed in ``load``."""
    store.sync_dags([dag("etl_daily", ["etl", "daily"]), dag("etl_hourly", ["etl"]), dag("report", ["bi"])], {})
    store.set_paused("report", True)
    tasks = [{"task_id": "extract"}, {"task_id": "load", "pool": "db"}]
    for day in range(3):
        run_id = f"r{day}"
        store.create_run("etl_daily", run_id, logical_date=DAY + dt.timedelta(days=day), run_type="scheduled")
        store.start_run("etl_daily", run_id, tasks)
        store.set_ti_state("etl_daily", run_id, ["extract"], TaskState.SUCCESS)
        store.set_ti_state("etl_daily", run_id, ["load"], TaskState.FAILED if day == 1 else TaskState.SUCCESS)
    store.finish_run("etl_daily", "r1", RunState.FAILED)
    return Queries(store)


def test_dag_filters_order_and_pages(filled: Queries) -> None:
    def ids(flt: DagFilter | None = None, **kw: object) -> list[str]:
        return [d.dag_id for d in filled.dags(flt or DagFilter(), **kw).items]  # type: ignore[arg-type]

    assert ids() == ["etl_daily", "etl_hourly", "report"]
    assert ids(DagFilter(tags=["etl"])) == ["etl_daily", "etl_hourly"]
    assert ids(DagFilter(tags=["daily", "bi"])) == ["etl_daily", "report"]  # any of the tags, as in Airflow
    assert ids(DagFilter(dag_id_pattern="HOUR")) == ["etl_hourly"]
    assert ids(DagFilter(paused=True)) == ["report"]
    assert ids(DagFilter(paused=False, tags=["etl"]), order_by="-dag_id") == ["etl_hourly", "etl_daily"]
    page = filled.dags(limit=1, offset=1)
    assert [d.dag_id for d in page.items] == ["etl_hourly"] and page.total == 3
    with pytest.raises(InvalidInputError, match="order_by takes one of"):
        filled.dags(order_by="colour")


def test_runs_by_dag_state_and_date(filled: Queries) -> None:
    assert filled.runs(RunFilter(dag_ids=["etl_daily"])).total == 3
    assert [r.run_id for r in filled.runs(RunFilter(states=["failed"])).items] == ["r1"]
    second = (DAY + dt.timedelta(days=1), None)
    assert [r.run_id for r in filled.runs(RunFilter(logical_date=second), order_by="-execution_date").items] == [
        "r2",
        "r1",
    ]
    assert filled.run("etl_daily", "r1").state == "failed"
    with pytest.raises(NotFoundError, match="has no run 'nope'"):
        filled.run("etl_daily", "nope")


def test_task_instance_filters(filled: Queries) -> None:
    def keys(flt: TaskInstanceFilter, **kw: object) -> list[tuple[str, str]]:
        return [(t.run_id, t.task_id) for t in filled.task_instances(flt, **kw).items]  # type: ignore[arg-type]

    assert keys(TaskInstanceFilter(states=["failed"])) == [("r1", "load")]
    assert len(keys(TaskInstanceFilter(pools=["db"]))) == 3
    assert keys(TaskInstanceFilter(queues=["elsewhere"])) == []
    assert len(keys(TaskInstanceFilter(queues=["default"]))) == 6
    assert keys(TaskInstanceFilter(run_ids=["r2"], task_ids=["load"])) == [("r2", "load")]
    assert keys(TaskInstanceFilter(logical_date=(DAY, DAY))) == [("r0", "extract"), ("r0", "load")]
    assert keys(TaskInstanceFilter(), order_by="-execution_date", limit=2) == [("r2", "extract"), ("r2", "load")]
    page = filled.task_instances(TaskInstanceFilter(dag_ids=["etl_daily"]), limit=4, offset=4)
    assert page.total == 6 and len(page.items) == 2
    ti = filled.task_instance("etl_daily", "r1", "load")
    assert ti.state == "failed" and ti.logical_date == DAY + dt.timedelta(days=1)


def test_run_state_set_by_a_person(filled: Queries) -> None:
    changes = Changes(filled.store)
    changes.set_run_state("etl_daily", "r1", RunState.SUCCESS)
    assert filled.run("etl_daily", "r1").state == "success"
    assert filled.task_instance("etl_daily", "r1", "load").state == "success"
    assert filled.run_state_counts(["etl_daily"]) == {"etl_daily": {"running": 2, "success": 1}}


def test_pools_and_deleting_a_dag(filled: Queries) -> None:
    changes = Changes(filled.store)
    changes.put_pool("db", 2, "the database", create=True)
    with pytest.raises(ConflictError):
        changes.put_pool("db", 3, None, create=True)
    changes.rename_pool("db", "warehouse")
    [pool] = filled.pools(names=["warehouse"]).items
    assert (pool.slots, pool.description) == (2, "the database")
    with pytest.raises(InvalidInputError, match="default_pool"):
        changes.rename_pool("default_pool", "other")
    changes.delete_dag("etl_daily")
    assert filled.runs(RunFilter(dag_ids=["etl_daily"])).total == 0
    assert filled.task_instances(TaskInstanceFilter(dag_ids=["etl_daily"])).total == 0
    with pytest.raises(NotFoundError):
        changes.delete_dag("etl_daily")


def test_event_log(filled: Queries) -> None:
    changes = Changes(filled.store)
    changes.record_event("paused", owner="ada", dag_id="report")
    changes.record_event("trigger", owner="bob", dag_id="etl_daily", run_id="r9", extra={"conf": "n"})
    assert [e.event for e in filled.events(EventFilter(owner="bob")).items] == ["trigger"]
    assert [e.owner for e in filled.events(EventFilter(excluded_events=["trigger"])).items] == ["ada"]
    newest = filled.events(order_by="-event_log_id", limit=1).items[0]
    assert newest.event == "trigger" and newest.extra == '{"conf": "n"}'
    assert filled.event(newest.id) == newest

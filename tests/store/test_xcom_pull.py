"""``ti.xcom_pull`` over the real store (SQLite and PostgreSQL): with only ``key`` (any task of the run),
``include_prior_dates`` (the latest run up to this one's logical date), ``default``, ``run_id`` and
``map_indexes``, as Airflow 2 answers them."""

from __future__ import annotations

import datetime as dt

from dockyard.preparation import TaskTry, store_xcom_search
from dockyard.store import DagRecord, Store, TaskState, TryResult
from dockyard.store.api import KeyedXCom
from dockyard.templating import TaskInstanceView

UTC = dt.timezone.utc
DAY = dt.datetime(2024, 3, 1, tzinfo=UTC)


def _run_with_results(store: Store, run_id: str, day: int, results: dict[str, object]) -> None:
    """A run on March ``day`` whose tasks pushed ``results`` (a dict value also pushes its keys)."""
    store.create_run("feed", run_id, logical_date=DAY.replace(day=day), run_type="manual")
    store.start_run("feed", run_id, [{"task_id": "fetch"}, {"task_id": "count"}, {"task_id": "use"}])
    for task_id, value in results.items():
        store.set_ti_state("feed", run_id, [task_id], TaskState.SCHEDULED)
        try_number = store.claim_try("feed", run_id, task_id)
        xcom = KeyedXCom(value) if isinstance(value, dict) else value
        result = TryResult(state=TaskState.SUCCESS, xcom=xcom, push_xcom=True)
        assert store.finish_try("feed", run_id, task_id, try_number, result)


def _ti(store: Store, run_id: str, day: int) -> TaskTry:
    return TaskTry("feed", "use", run_id, 1, DAY.replace(day=day), xcom_search=store_xcom_search(lambda: store))


def test_xcom_pull_with_only_a_key_and_with_prior_dates(store: Store) -> None:
    store.sync_dags(
        [DagRecord("feed", "/dags/feed.py", None, None, [], 16, 16, None, {"tasks": []})], {}, keep_others=True
    )
    _run_with_results(store, "early", 1, {"fetch": {"cursor": "c-1", "rows": 10}, "count": 10})
    _run_with_results(store, "middle", 2, {"count": 20})
    _run_with_results(store, "late", 3, {"fetch": {"cursor": "c-3"}})
    ti = _ti(store, "middle", 2)
    # Only a key, no task_ids: any task of this run.
    assert ti.xcom_pull(key="cursor") is None
    assert ti.xcom_pull(key="rows", default="none") == "none"
    assert ti.xcom_pull() == 20  # the return_value some task of the run pushed
    assert ti.xcom_pull(task_ids="count") == 20
    # include_prior_dates: the latest run up to this run's logical date, never a later one.
    assert ti.xcom_pull(key="cursor", include_prior_dates=True) == "c-1"
    assert ti.xcom_pull(task_ids="fetch", key="rows", include_prior_dates=True) == 10
    assert ti.xcom_pull(task_ids=["count", "fetch"], key="rows", include_prior_dates=True) == [None, 10]
    assert _ti(store, "late", 3).xcom_pull(key="cursor", include_prior_dates=True) == "c-3"
    assert _ti(store, "late", 3).xcom_pull(task_ids="count", include_prior_dates=True) == 20
    # Airflow's positional order (task_ids, dag_id, key, include_prior_dates) and its keyword-only arguments.
    view = TaskInstanceView(ti)
    assert view.xcom_pull("count", "feed", "return_value", True) == 20
    assert view.xcom_pull("fetch", run_id="early", key="cursor") == "c-1"
    assert view.xcom_pull("count", map_indexes=-1) == 20
    assert view.xcom_pull("count", map_indexes=[-1]) == [20]
    assert view.xcom_pull("count", map_indexes=2, default=0) == 0
    assert view.xcom_pull("count", dag_id="other_dag") is None

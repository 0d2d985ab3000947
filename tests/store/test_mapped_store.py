"""Mapped task instances in the store (SQLite and PostgreSQL): expansion into ``map_index`` rows, results per
instance read back as one ordered list, clearing one instance or all of them, and the scheduler's trigger
rules counting every instance of a mapped upstream task."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dockyard import DAG, BashOperator, EmptyOperator
from dockyard.errors import NotFoundError
from dockyard.scheduler import Scheduler
from dockyard.serialized import serialize_dag
from dockyard.settings import Settings
from dockyard.store import Store, TaskState, TryResult

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
TASKS = [{"task_id": "up"}, {"task_id": "each", "retries": 1}, {"task_id": "empty"}]


def started(store: Store) -> None:
    store.create_run("m", "r1", logical_date=START, run_type="manual")
    store.start_run("m", "r1", TASKS)


def finish(store: Store, task_id: str, map_index: int, state: TaskState, xcom: object = None) -> None:
    number = store.claim_try("m", "r1", task_id, map_index)
    result = TryResult(state=state, xcom=xcom, push_xcom=True)
    assert store.finish_try("m", "r1", task_id, number, result, map_index=map_index)


def test_expansion_results_and_clearing_per_map_index(store: Store) -> None:
    started(store)
    assert store.expand_task("m", "r1", "empty", 0) == []
    assert store.get_task_instance("m", "r1", "empty").state == TaskState.SKIPPED
    made = store.expand_task("m", "r1", "each", 3)
    assert [(ti.map_index, ti.state, ti.max_tries) for ti in made] == [(i, TaskState.SCHEDULED, 1) for i in range(3)]
    assert store.expand_task("m", "r1", "each", 3) == []  # expanded once only
    with pytest.raises(NotFoundError, match="has no map_index -1; its instances are 0..2"):
        store.get_task_instance("m", "r1", "each")
    for index, value in ((2, "c"), (0, "a"), (1, None)):
        finish(store, "each", index, TaskState.SUCCESS, value)
    assert store.get_xcom("m", "r1", "each", map_index=2) == "c"
    assert store.mapped_xcoms("m", "r1", "each") == ["a", "c"]  # in map_index order, None left out
    page, total = store.list_mapped("m", "r1", "each", limit=2, offset=1)
    assert total == 3 and [ti.map_index for ti in page] == [1, 2]
    assert store.list_mapped("m", "r1", "each", states=["failed"]) == ([], 0)
    assert [t.try_number for t in store.list_tries("m", "r1", "each", 2)] == [1]

    assert store.clear("m", "r1", ["each"], map_indexes=[1]) == 1
    assert [ti.state for ti in store.list_mapped("m", "r1", "each")[0]] == ["success", None, "success"]
    assert store.mapped_xcoms("m", "r1", "each") == ["a", "c"]
    store.collapse_mapped("m", "r1", "each")  # not every instance is cleared: nothing changes
    assert store.list_mapped("m", "r1", "each")[1] == 3

    assert store.clear("m", "r1", ["each"]) == 3
    assert store.mapped_xcoms("m", "r1", "each") == []
    store.collapse_mapped("m", "r1", "each")  # all cleared: one unexpanded instance, to expand anew
    assert store.list_mapped("m", "r1", "each")[1] == 0
    assert store.get_task_instance("m", "r1", "each").state is None


def test_trigger_rules_count_each_instance_of_a_mapped_upstream(store: Store, tmp_path: Path) -> None:
    with DAG("tr", start_date=START, schedule=None) as dag:
        mapped = BashOperator.partial(task_id="mapped").expand(bash_command=["echo a", "exit 1", "exit 1"])
        mapped >> [
            EmptyOperator(task_id="one_success", trigger_rule="one_success"),
            EmptyOperator(task_id="all_success"),
            EmptyOperator(task_id="all_done", trigger_rule="all_done"),
        ]
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    scheduler = Scheduler(settings, store, dags={"tr": serialize_dag(dag)}, create_scheduled_runs=False)
    try:
        scheduler.refresh_dags(force=True)
        store.create_run("tr", "r1", logical_date=START, run_type="manual")
        scheduler._start_queued_runs()
        now = dt.datetime.now(dt.timezone.utc)
        ready = scheduler._advance_runs(now)
        assert sorted((ti.task_id, ti.map_index) for _, ti in ready) == [("mapped", 0), ("mapped", 1), ("mapped", 2)]
        assert scheduler._advance_runs(now) != []  # still scheduled, not expanded twice
        assert store.list_mapped("tr", "r1", "mapped")[1] == 3
        for index, state in ((0, TaskState.SUCCESS), (1, TaskState.FAILED)):
            number = store.claim_try("tr", "r1", "mapped", index)
            store.finish_try("tr", "r1", "mapped", number, TryResult(state=state), map_index=index)
        scheduler._advance_runs(now)
        waiting = {ti.task_id: ti.state for ti in store.list_task_instances("tr", "r1") if ti.map_index < 0}
        assert waiting == {
            "one_success": TaskState.SCHEDULED,
            "all_success": TaskState.UPSTREAM_FAILED,  # one failed instance is enough, as in Airflow
            "all_done": None,  # waits for the third instance
        }
        number = store.claim_try("tr", "r1", "mapped", 2)
        store.finish_try("tr", "r1", "mapped", number, TryResult(state=TaskState.FAILED), map_index=2)
        scheduler._advance_runs(now)
        decided = {ti.task_id: ti.state for ti in store.list_task_instances("tr", "r1") if ti.map_index < 0}
        assert decided == {
            "one_success": TaskState.SCHEDULED,
            "all_success": TaskState.UPSTREAM_FAILED,
            "all_done": TaskState.SCHEDULED,
        }
    finally:
        scheduler.shutdown()


def test_a_failed_instance_is_retried_alone(store: Store, tmp_path: Path) -> None:
    with DAG("retry", start_date=START, schedule=None) as dag:
        BashOperator.partial(task_id="mapped", retries=1, retry_delay=0).expand(bash_command=["a", "b"])
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    scheduler = Scheduler(settings, store, dags={"retry": serialize_dag(dag)}, create_scheduled_runs=False)
    try:
        scheduler.refresh_dags(force=True)
        store.create_run("retry", "r1", logical_date=START, run_type="manual")
        scheduler._start_queued_runs()
        now = dt.datetime.now(dt.timezone.utc)
        scheduler._advance_runs(now)
        for index, state in ((0, TaskState.SUCCESS), (1, TaskState.FAILED)):
            number = store.claim_try("retry", "r1", "mapped", index)
            retry_at = now if state is TaskState.FAILED else None
            result = TryResult(state=state)
            store.finish_try("retry", "r1", "mapped", number, result, retry_at=retry_at, map_index=index)
        assert [ti.state for ti in store.list_mapped("retry", "r1", "mapped")[0]] == ["success", "up_for_retry"]
        ready = scheduler._advance_runs(now)
        assert [(ti.task_id, ti.map_index) for _, ti in ready] == [("mapped", 1)]
        assert store.claim_try("retry", "r1", "mapped", 1) == 2
    finally:
        scheduler.shutdown()

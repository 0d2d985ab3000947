"""A paused DAG's runs wait queued until it is unpaused (as in Airflow), and ``is_paused_upon_creation``
decides the paused state of a DAG the first time it is seen (later parses keep what a person chose)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runs import trigger_run
from dockyard.scheduler import Scheduler
from tests.helpers import stepped_scheduler

FLAGS = """
with DAG("born_paused", start_date=START, schedule=None, is_paused_upon_creation=True) as dag:
    EmptyOperator(task_id="only")
with DAG("born_active", start_date=START, schedule=None, is_paused_upon_creation=False) as other:
    EmptyOperator(task_id="only")
with DAG("unsaid", start_date=START, schedule=None) as third:
    EmptyOperator(task_id="only")
"""


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[Scheduler]:
    with stepped_scheduler(tmp_path, "flags", FLAGS) as scheduler:
        yield scheduler


def _run_passes(scheduler: Scheduler, passes: int = 4) -> None:
    for _ in range(passes):
        scheduler.step()
        time.sleep(0.1)


def test_is_paused_upon_creation_sets_the_first_paused_state_only(scheduler: Scheduler) -> None:
    store = scheduler.store
    assert {d.dag_id: d.is_paused for d in store.list_dags()} == {
        "born_active": False,
        "born_paused": True,
        "unsaid": False,
    }
    store.set_paused("born_paused", False)
    scheduler.refresh_dags(force=True)  # a later parse keeps the person's choice
    assert store.get_dag("born_paused").is_paused is False


def test_a_paused_dags_triggered_run_waits_queued_until_unpaused(scheduler: Scheduler) -> None:
    store = scheduler.store
    waiting = trigger_run(scheduler.settings, store, scheduler.dags["born_paused"], run_id="waits")
    free = trigger_run(scheduler.settings, store, scheduler.dags["born_active"], run_id="goes")
    _run_passes(scheduler)
    assert store.get_run("born_paused", "waits").state == "queued"
    assert store.list_task_instances("born_paused", "waits") == []
    assert store.get_run("born_active", free.run_id).state == "success"
    store.set_paused("born_paused", False)
    _run_passes(scheduler)
    assert store.get_run("born_paused", waiting.run_id).state == "success"


def test_dags_test_runs_a_paused_dag(scheduler: Scheduler) -> None:
    """``dags test`` (a scheduler of fixed DAGs) runs its run whatever the DAG's paused state, as Airflow's does."""
    store = scheduler.store
    dag = scheduler.dags["born_paused"]
    run = trigger_run(scheduler.settings, store, dag, run_id="test__now")
    fixed = Scheduler(scheduler.settings, store, dags={dag.dag_id: dag}, create_scheduled_runs=False)
    try:
        assert fixed.run_until_done(dag.dag_id, run.run_id) == "success"
    finally:
        fixed.shutdown()
    assert store.get_dag("born_paused").is_paused is True

"""Data-aware scheduling on real SQLite and PostgreSQL, with Airflow's rules: a producer's success queues its
outlets for each active, unpaused consumer; a consumer runs (``dataset_triggered``) once its condition holds,
with the events since its previous such run; a paused consumer is not queued."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runs import trigger_run
from dockyard.scheduler import Scheduler
from dockyard.store import Store
from dockyard.store.datasets import DatasetStore
from tests.helpers import stepped_scheduler

DAGS = """
from dockyard.datasets import Dataset, DatasetAny
from airflow.sdk import Asset

A, B, C = Dataset("s3://lake/a"), Dataset("s3://lake/b"), Asset(uri="s3://lake/c", name="c")
for name, outlet in (("make_a", A), ("make_b", B), ("make_c", C)):
    with DAG(name, start_date=START, schedule=None) as producer:
        EmptyOperator(task_id="write", outlets=[outlet]) >> EmptyOperator(task_id="after")
with DAG("needs_both", start_date=START, schedule=[A, B]) as both:
    EmptyOperator(task_id="read")
with DAG("needs_either", start_date=START, schedule=A | C) as either:
    EmptyOperator(task_id="read")
with DAG("asleep", start_date=START, schedule=[A], is_paused_upon_creation=True) as asleep:
    EmptyOperator(task_id="read")
"""


@pytest.fixture
def scheduler(tmp_path: Path, database_url: str) -> Iterator[Scheduler]:
    with stepped_scheduler(tmp_path, "lake", DAGS, database_url) as scheduler:
        yield scheduler


def _produce(scheduler: Scheduler, dag_id: str) -> str:
    """Trigger a producer and run passes until it (and any run it triggers) is done; returns its run_id."""
    run = trigger_run(scheduler.settings, scheduler.store, scheduler.dags[dag_id])
    for _ in range(40):
        scheduler.step()
        active = scheduler.store.list_runs(states=["queued", "running"])
        if scheduler.store.get_run(dag_id, run.run_id).state == "success" and not [
            r for r in active if r.dag_id != "asleep"
        ]:
            return run.run_id
        time.sleep(0.05)
    raise AssertionError(f"{dag_id} did not finish: {scheduler.store.list_runs(limit=20)}")


def _triggered(store: Store, dag_id: str) -> list[str]:
    return [r.run_id for r in reversed(store.list_runs(dag_id)) if r.run_type == "dataset_triggered"]


def _sources(store: Store, dag_id: str, run_id: str) -> list[tuple[str, str | None, str | None]]:
    events = DatasetStore(store).events_of_run(dag_id, run_id)
    return [(e["uri"], e["source_dag_id"], e["source_run_id"]) for e in events]


def test_producers_trigger_consumers_by_their_conditions(scheduler: Scheduler) -> None:
    store = scheduler.store
    assert scheduler.dags["needs_both"].schedule == "Triggered by datasets"
    first_a = _produce(scheduler, "make_a")
    assert _triggered(store, "needs_both") == []  # b has had no event yet
    [either] = _triggered(store, "needs_either")  # a | c: a is enough
    assert _sources(store, "needs_either", either) == [("s3://lake/a", "make_a", first_a)]
    run = store.get_run("needs_either", either)
    assert run.state == "success" and run.external_trigger is False and either.startswith("dataset_triggered__")
    producer = store.get_run("make_a", first_a)
    assert (run.data_interval_start, run.data_interval_end) == (
        producer.data_interval_start,
        producer.data_interval_end,
    )
    assert _triggered(store, "asleep") == []
    assert DatasetStore(store).queued() == {"needs_both": {"s3://lake/a": run.logical_date}}

    only_b = _produce(scheduler, "make_b")
    [both] = _triggered(store, "needs_both")
    assert _sources(store, "needs_both", both) == [
        ("s3://lake/a", "make_a", first_a),
        ("s3://lake/b", "make_b", only_b),
    ]
    assert len(_triggered(store, "needs_either")) == 1  # b is not in a | c

    second_a = _produce(scheduler, "make_a")
    _, second = _triggered(store, "needs_either")
    assert _sources(store, "needs_either", second) == [("s3://lake/a", "make_a", second_a)]  # only the new event
    assert len(_triggered(store, "needs_both")) == 1  # a again, but b has had no new event
    _produce(scheduler, "make_c")
    assert len(_triggered(store, "needs_either")) == 3

    # The paused consumer was never queued; once unpaused, the next event queues it.
    store.set_paused("asleep", False)
    _produce(scheduler, "make_a")
    assert len(_triggered(store, "asleep")) == 1
    datasets, total = DatasetStore(store).list_datasets(limit=10, offset=0)
    assert total == 3
    assert {d.row.uri: [r.dag_id for r in d.consuming] for d in datasets} == {
        "s3://lake/a": ["asleep", "needs_both", "needs_either"],
        "s3://lake/b": ["needs_both"],
        "s3://lake/c": ["needs_either"],
    }
    assert {d.row.uri: [(r.dag_id, r.task_id) for r in d.producing] for d in datasets}["s3://lake/c"] == [
        ("make_c", "write")
    ]

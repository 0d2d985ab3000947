"""The authoring side of data-aware scheduling: datasets and assets, their conditions as Airflow evaluates them,
the timetables of dataset schedules (stored and read back), and clear errors for what is not a dataset."""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard import DAG, Asset, Dataset, DatasetAll, DatasetAny, EmptyOperator
from dockyard.datasets import DatasetOrTimeSchedule, DatasetTriggeredTimetable, TriggeringEvents, triggering_events
from dockyard.errors import DagDefinitionError
from dockyard.serialized import serialize_dag
from dockyard.timetable import deserialize_timetable, serialize_timetable
from dockyard.timetables import CronTriggerTimetable

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
A, B, C = Dataset("s3://a"), Dataset("s3://b"), Asset("c")


def test_conditions_evaluate_as_in_airflow() -> None:
    assert (A & B).evaluate({"s3://a": True}) is False
    assert (A | B).evaluate({"s3://b": True}) is True
    nested = (A | B) & C
    assert nested == DatasetAll(DatasetAny(A, B), C)
    assert not nested.evaluate({"s3://a": True}) and nested.evaluate({"s3://a": True, "c": True})
    assert (A & B & C) == DatasetAll(A, B, C)  # flattened, as Airflow does
    assert [uri for uri, _ in (A | (A & B)).iter_datasets()] == ["s3://a", "s3://b"]
    assert Dataset("s3://a", extra={"k": 1}) == A and len({A, Dataset("s3://a")}) == 1
    assert (C.name, C.uri) == ("c", "c") and Asset(uri="s3://x", name="x").uri == "s3://x"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Dataset(""), "cannot be empty"),
        (lambda: Dataset("s3://bücket"), "ASCII"),
        (lambda: Dataset("airflow://x"), "reserved"),
        (lambda: Asset(), "needs a name or a uri"),
        (lambda: DatasetAll(A, "s3://b"), "takes datasets and conditions"),
        (lambda: DAG("d", start_date=START, schedule=[]), "names no dataset"),
        (lambda: DAG("d", start_date=START, schedule=[A, "@daily"]), "a list schedule holds datasets"),
    ],
)
def test_bad_datasets_are_clear_errors(make: object, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        make()  # type: ignore[operator]


def test_dataset_schedules_are_stored_and_read_back() -> None:
    with DAG("consumer", start_date=START, schedule=[A, B]) as dag:
        EmptyOperator(task_id="read", outlets=[C, "not a dataset"])
    stored = serialize_dag(dag)
    table = stored.timetable()
    assert isinstance(table, DatasetTriggeredTimetable) and table.condition == DatasetAll(A, B)
    assert stored.schedule == "Triggered by datasets" and table.summary == "Dataset"
    assert stored.task("read").outlets == ("c",)
    assert table.next_interval(after=None, start_date=START, catchup=True, now=START.replace(year=2030)) is None
    with pytest.raises(DagDefinitionError, match="outlets name datasets, not conditions"):
        with DAG("bad", start_date=START, schedule=None) as bad:
            EmptyOperator(task_id="x", outlets=[A | B])
        serialize_dag(bad)


def test_dataset_or_time_schedule_runs_by_time_too() -> None:
    both = DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * *", timezone="UTC"), datasets=A | B)
    again = deserialize_timetable(serialize_timetable(both))
    assert isinstance(again, DatasetOrTimeSchedule) and again.condition == DatasetAny(A, B)
    assert again.summary == "Dataset or 0 1 * * *"
    due = again.next_interval(after=None, start_date=START, catchup=True, now=START + dt.timedelta(days=1))
    assert due is not None and due.start == START.replace(hour=1)


def test_triggering_events_are_keyed_by_uri_or_dataset() -> None:
    event = {
        "id": 1,
        "dataset_id": 7,
        "uri": "s3://a",
        "extra": {"rows": 3},
        "timestamp": START,
        "source_dag_id": "etl",
        "source_task_id": "load",
        "source_run_id": "manual__1",
        "source_run": {"dag_id": "etl", "run_id": "manual__1", "logical_date": START},
    }
    events = triggering_events([event])
    assert isinstance(events, TriggeringEvents)
    assert events[A] is events["s3://a"] and A in events and events["s3://b"] == []
    [only] = events["s3://a"]
    assert only.source_dag_run is not None and only.source_dag_run.execution_date == START
    assert only.dataset == A and only.extra == {"rows": 3}

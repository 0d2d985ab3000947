"""Data-aware scheduling as in Airflow: ``Dataset`` (Airflow 3: ``Asset``), conditions, and the timetables of
DAGs scheduled on them.

A producer task names what it updates in ``outlets``; when one of its tries succeeds, an event is recorded for
each dataset, and every active, unpaused DAG scheduled on that dataset has it queued. A consumer DAG gets a
run (``run_type`` ``dataset_triggered``) as soon as its queued datasets satisfy its condition: a list (or
``DatasetAll``, ``&``) needs every dataset, ``DatasetAny`` (``|``) one of them. The run's
``triggering_dataset_events`` are the events since its previous dataset-triggered run. The decisions live in
:mod:`dockyard.dataset_scheduling`; this module is the authoring side and touches nothing outside.

Example::

    orders = Dataset("s3://lake/orders")
    with DAG("report", schedule=[orders, Dataset("s3://lake/stock")], start_date=...):
        ...
    with DAG("nightly", schedule=DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * *"),
                                                     datasets=orders | Dataset("s3://lake/fix"))):
        ...
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from dockyard.errors import DagDefinitionError
from dockyard.timetable import DagRunInfo, DataInterval, TimeRestriction, Timetable, deserialize_timetable

MAX_URI_LENGTH = 3000
"""The width of Airflow's ``dataset.uri`` column (and ours)."""


def check_uri(uri: object) -> str:
    """``uri`` if Airflow accepts it as a dataset URI; else an error saying what is wrong and what is right."""
    if not isinstance(uri, str):
        raise DagDefinitionError(f"a Dataset URI must be a string, got {type(uri).__name__} {uri!r}")
    if not uri or uri.isspace():
        raise DagDefinitionError("a Dataset URI cannot be empty; name the data, e.g. Dataset('s3://bucket/orders')")
    if len(uri) > MAX_URI_LENGTH:
        raise DagDefinitionError(f"Dataset URI {uri[:60]!r}... has {len(uri)} characters, more than {MAX_URI_LENGTH}")
    if not uri.isascii():
        raise DagDefinitionError(f"Dataset URI {uri!r} must only consist of ASCII characters (percent-encode others)")
    if urlsplit(uri).scheme.lower() == "airflow":
        raise DagDefinitionError(f"Dataset URI {uri!r}: the scheme 'airflow' is reserved; use another scheme")
    return uri


class BaseDataset:
    """What a schedule can be made of: a dataset, or an all/any condition over datasets."""

    def __and__(self, other: object) -> DatasetAll:
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAll(self, other)

    def __or__(self, other: object) -> DatasetAny:
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAny(self, other)

    def evaluate(self, statuses: Mapping[str, bool]) -> bool:
        """Whether the condition holds, given which URIs have had an event (``{uri: True}``)."""
        raise NotImplementedError

    def iter_datasets(self) -> Iterator[tuple[str, Dataset]]:
        """Every dataset the condition names, as ``(uri, dataset)``."""
        raise NotImplementedError

    def as_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Dataset(BaseDataset):
    """Airflow's ``Dataset(uri, extra=None)``: a piece of data, named by its URI. Two datasets with the same URI
    are the same dataset."""

    uri: str
    extra: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_uri(self.uri)
        object.__setattr__(self, "extra", dict(self.extra or {}))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dataset) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri={self.uri!r}, extra={self.extra!r})"

    def evaluate(self, statuses: Mapping[str, bool]) -> bool:
        return bool(statuses.get(self.uri))

    def iter_datasets(self) -> Iterator[tuple[str, Dataset]]:
        yield self.uri, self

    def as_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "extra": self.extra}


class Asset(Dataset):
    """Airflow 3's ``Asset(name=None, uri=None, *, group="asset", extra=None)``: a dataset with a name; the
    name stands for the URI when only one of them is given."""

    name: str
    group: str

    def __init__(
        self,
        name: str | None = None,
        uri: str | None = None,
        *,
        group: str = "asset",
        extra: dict[str, Any] | None = None,
        watchers: list[Any] | None = None,
    ) -> None:
        if name is None and uri is None:
            raise DagDefinitionError("an Asset needs a name or a uri, e.g. Asset('orders') or Asset(uri='s3://b/o')")
        super().__init__(uri or name or "", extra)
        object.__setattr__(self, "name", name or uri)
        object.__setattr__(self, "group", group)
        if watchers:
            raise DagDefinitionError(
                f"Asset {self.uri!r}: watchers (event-driven scheduling) are not supported; a producer task's "
                "outlets update the asset"
            )

    def __repr__(self) -> str:
        return f"Asset(name={self.name!r}, uri={self.uri!r}, group={self.group!r}, extra={self.extra!r})"


class _Condition(BaseDataset):
    kind = ""

    def __init__(self, *objects: BaseDataset) -> None:
        for item in objects:
            if not isinstance(item, BaseDataset):
                raise DagDefinitionError(
                    f"{type(self).__name__} takes datasets and conditions, got {type(item).__name__} {item!r}"
                )
        self.objects = list(objects)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(o) for o in self.objects)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Condition) and type(other) is type(self) and other.objects == self.objects

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self.objects))

    def iter_datasets(self) -> Iterator[tuple[str, Dataset]]:
        seen: set[str] = set()
        for item in self.objects:
            for uri, dataset in item.iter_datasets():
                if uri not in seen:
                    seen.add(uri)
                    yield uri, dataset

    def as_json(self) -> dict[str, Any]:
        return {self.kind: [item.as_json() for item in self.objects]}


class DatasetAll(_Condition):
    """Every one of the datasets (and conditions) has had an event: what a list in ``schedule`` means."""

    kind = "all"

    def __and__(self, other: object) -> DatasetAll:
        if isinstance(other, BaseDataset) and not isinstance(other, DatasetAll):
            return DatasetAll(*self.objects, other)
        return super().__and__(other)

    def evaluate(self, statuses: Mapping[str, bool]) -> bool:
        return all(item.evaluate(statuses) for item in self.objects)


class DatasetAny(_Condition):
    """At least one of the datasets (or conditions) has had an event."""

    kind = "any"

    def __or__(self, other: object) -> DatasetAny:
        if isinstance(other, BaseDataset) and not isinstance(other, DatasetAny):
            return DatasetAny(*self.objects, other)
        return super().__or__(other)

    def evaluate(self, statuses: Mapping[str, bool]) -> bool:
        return any(item.evaluate(statuses) for item in self.objects)


class AssetAll(DatasetAll):
    """Airflow 3's name of :class:`DatasetAll`."""


class AssetAny(DatasetAny):
    """Airflow 3's name of :class:`DatasetAny`."""


def condition_from_json(data: Mapping[str, Any]) -> BaseDataset:
    """The condition :meth:`BaseDataset.as_json` wrote."""
    if "uri" in data:
        return Dataset(data["uri"], data.get("extra"))
    if "all" in data:
        return DatasetAll(*(condition_from_json(item) for item in data["all"]))
    return DatasetAny(*(condition_from_json(item) for item in data["any"]))


def as_condition(schedule: object) -> BaseDataset:
    """A ``schedule`` made of datasets as one condition: a list means all of them, as in Airflow."""
    if isinstance(schedule, BaseDataset):
        return schedule if isinstance(schedule, _Condition) else DatasetAll(schedule)
    items = list(schedule) if isinstance(schedule, (list, tuple, set, frozenset)) else [schedule]
    if not items:
        raise DagDefinitionError("schedule=[] names no dataset; give datasets, or schedule=None for manual runs only")
    bad = [item for item in items if not isinstance(item, BaseDataset)]
    if bad:
        raise DagDefinitionError(
            f"schedule {schedule!r}: a list schedule holds datasets (Dataset('s3://...')), got "
            f"{type(bad[0]).__name__} {bad[0]!r}; use a cron string, a timedelta or a timetable for time"
        )
    return DatasetAll(*(item for item in items if isinstance(item, BaseDataset)))


def outlet_uris(outlets: object, task_id: str) -> tuple[str, ...]:
    """The URIs a task's ``outlets`` update (other outlet objects are lineage only and ignored, as in Airflow)."""
    if outlets is None:
        return ()
    items = outlets if isinstance(outlets, (list, tuple, set, frozenset)) else [outlets]
    uris: list[str] = []
    for item in items:
        if isinstance(item, _Condition):
            raise DagDefinitionError(
                f"task {task_id!r}: outlets name datasets, not conditions ({item!r}); list the datasets it updates"
            )
        if isinstance(item, Dataset) and item.uri not in uris:
            uris.append(item.uri)
    return tuple(uris)


class DatasetTriggeredTimetable(Timetable):
    """The timetable of a DAG scheduled on datasets: no runs by time; the scheduler creates one when the
    condition holds (:mod:`dockyard.dataset_scheduling`)."""

    description = "Triggered by datasets"
    periodic = False
    can_be_scheduled = False
    run_ordering: tuple[str, ...] = ("execution_date",)

    def __init__(self, condition: BaseDataset) -> None:
        self.condition = condition

    @property
    def summary(self) -> str:
        return "Dataset"

    def serialize(self) -> dict[str, Any]:
        return {"condition": self.condition.as_json()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(condition_from_json(data["condition"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetTriggeredTimetable) and other.condition == self.condition

    def __hash__(self) -> int:
        return hash(self.condition)


class DatasetOrTimeSchedule(DatasetTriggeredTimetable):
    """Airflow's ``DatasetOrTimeSchedule(timetable=..., datasets=...)``: runs by the timetable, and also
    whenever the dataset condition holds."""

    periodic = True
    can_be_scheduled = True

    def __init__(self, *, timetable: Timetable, datasets: object = None, assets: object = None) -> None:
        if not isinstance(timetable, Timetable):
            raise DagDefinitionError(f"DatasetOrTimeSchedule: timetable must be a Timetable, got {timetable!r}")
        super().__init__(as_condition(datasets if datasets is not None else assets))
        self.timetable = timetable
        self.description = f"Triggered by datasets or {timetable.description}"
        self.run_ordering = timetable.run_ordering
        self.active_runs_limit = timetable.active_runs_limit

    @property
    def summary(self) -> str:
        return f"Dataset or {self.timetable.summary}"

    def serialize(self) -> dict[str, Any]:
        from dockyard.timetable import serialize_timetable

        return {"condition": self.condition.as_json(), "timetable": serialize_timetable(self.timetable)}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(timetable=deserialize_timetable(data["timetable"]), datasets=condition_from_json(data["condition"]))

    def validate(self) -> None:
        self.timetable.validate()

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        return self.timetable.infer_manual_data_interval(run_after=run_after)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        return self.timetable.next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )

    def automated_interval(self, logical_date: dt.datetime) -> DataInterval:
        return self.timetable.automated_interval(logical_date)

    def prev_logical_date(self, logical_date: dt.datetime) -> dt.datetime | None:
        return self.timetable.prev_logical_date(logical_date)


def dataset_timetable(schedule: object) -> DatasetTriggeredTimetable:
    """The timetable of ``schedule=[Dataset(...), ...]`` (or one dataset, or a condition)."""
    return DatasetTriggeredTimetable(as_condition(schedule))


def is_dataset_schedule(schedule: object) -> bool:
    if isinstance(schedule, BaseDataset):
        return True
    return isinstance(schedule, (list, tuple)) and any(isinstance(item, BaseDataset) for item in schedule)


# -- the consumer's template context -------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetEventView:
    """One event of ``triggering_dataset_events``, with Airflow's attribute names (``source_dag_run`` too)."""

    id: int
    dataset_id: int
    uri: str
    extra: dict[str, Any]
    timestamp: dt.datetime
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int = -1
    source_run: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset(self) -> Dataset:
        return Dataset(self.uri)

    @property
    def asset(self) -> Dataset:
        return Dataset(self.uri)

    @property
    def source_dag_run(self) -> SimpleNamespace | None:
        """The producer's run (``dag_id``, ``run_id``, ``logical_date``, data interval, ``conf``), if it exists."""
        if not self.source_run:
            return None
        run = dict(self.source_run)
        run.setdefault("execution_date", run.get("logical_date"))
        return SimpleNamespace(**run)

    def __repr__(self) -> str:
        return (
            f"DatasetEvent(id={self.id}, dataset_id={self.dataset_id}, extra={self.extra!r}, "
            f"source_task_id={self.source_task_id!r}, source_dag_id={self.source_dag_id!r}, "
            f"source_run_id={self.source_run_id!r}, source_map_index={self.source_map_index})"
        )


class TriggeringEvents(defaultdict[str, list[DatasetEventView]]):
    """``triggering_dataset_events`` / ``triggering_asset_events``: events by URI; a Dataset or Asset is a key too."""

    def __init__(self, events: Iterable[DatasetEventView] = ()) -> None:
        super().__init__(list)
        for event in events:
            self[event.uri].append(event)

    def __getitem__(self, key: object) -> list[DatasetEventView]:
        return super().__getitem__(key.uri if isinstance(key, Dataset) else str(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.uri if isinstance(key, Dataset) else key)

    def __repr__(self) -> str:
        return f"defaultdict(<class 'list'>, {dict(self)!r})"


def triggering_events(events: Iterable[Mapping[str, Any]]) -> TriggeringEvents:
    """The context's events from the plain dicts a try's context carries (see :class:`DatasetEventView`)."""
    return TriggeringEvents(DatasetEventView(**dict(event)) for event in events)

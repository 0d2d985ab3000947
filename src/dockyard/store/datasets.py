"""The store's side of data-aware scheduling: datasets, their events, the queue of datasets each consumer DAG
waits on, and the runs those events triggered (Airflow's tables and rules, see :mod:`dockyard.datasets`).

Example::

    datasets = DatasetStore(store)
    datasets.record_events(["s3://lake/orders"], source=("etl", "manual__...", "load"))
    datasets.queued()                   # {"report": {"s3://lake/orders": <when queued>}}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dockyard.states import RunState
from dockyard.store.api import Store, utcnow
from dockyard.store.models import (
    DagModel,
    DagRunDatasetEventModel,
    DagRunModel,
    DatasetDagRunQueueModel,
    DatasetEventModel,
    DatasetModel,
    DatasetReferenceModel,
)

DATASET_TRIGGERED = "dataset_triggered"
"""The ``run_type`` of a run that dataset events created (Airflow 2's name)."""

References = Mapping[str, tuple[Sequence[str], Mapping[str, Sequence[str]]]]
"""``{dag_id: (schedule URIs, {task_id: outlet URIs})}`` for each active DAG."""


@dataclass
class DatasetRecord:
    """A dataset with the DAGs scheduled on it and the tasks that update it."""

    row: DatasetModel
    consuming: list[DatasetReferenceModel] = field(default_factory=list)
    producing: list[DatasetReferenceModel] = field(default_factory=list)


@dataclass
class EventRecord:
    """An event with its dataset's URI and the runs it triggered (``(dag_id, run_id)``...)."""

    row: DatasetEventModel
    uri: str
    created_runs: list[DagRunModel] = field(default_factory=list)


def _dataset(s: Session, uri: str, now: dt.datetime) -> DatasetModel:
    row = s.scalars(sa.select(DatasetModel).where(DatasetModel.uri == uri)).first()
    if row is None:
        row = DatasetModel(uri=uri, extra={}, created_at=now, updated_at=now, is_orphaned=False)
        s.add(row)
        s.flush()
    return row


def _add_event(
    s: Session,
    dataset: DatasetModel,
    now: dt.datetime,
    source: tuple[str, str, str] | None,
    extra: dict[str, Any] | None,
) -> tuple[DatasetEventModel, list[str]]:
    """Add an event of ``dataset`` and queue it for each active, unpaused DAG scheduled on it; returns the event
    and those dag_ids."""
    dag_id, run_id, task_id = source or (None, None, None)
    event = DatasetEventModel(
        dataset_id=dataset.id,
        extra=dict(extra or {}),
        source_dag_id=dag_id,
        source_task_id=task_id,
        source_run_id=run_id,
        source_map_index=-1,
        timestamp=now,
    )
    s.add(event)
    consumers = s.scalars(
        sa.select(DatasetReferenceModel.dag_id)
        .join(DagModel, DagModel.dag_id == DatasetReferenceModel.dag_id)
        .where(
            DatasetReferenceModel.dataset_id == dataset.id,
            DatasetReferenceModel.task_id == "",
            DagModel.is_active.is_(True),
            DagModel.is_paused.is_(False),
        )
    ).all()
    waiting = set(
        s.scalars(
            sa.select(DatasetDagRunQueueModel.target_dag_id).where(DatasetDagRunQueueModel.dataset_id == dataset.id)
        )
    )
    for consumer in consumers:
        if consumer not in waiting:  # the first event since the last run keeps its time
            s.add(DatasetDagRunQueueModel(dataset_id=dataset.id, target_dag_id=consumer, created_at=now))
    s.flush()
    return event, list(consumers)


class DatasetStore:
    """Named operations on the dataset tables, each one transaction of ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- what the DAGs name ------------------------------------------------------------------------------
    def sync_references(self, references: References) -> None:
        """Record which DAGs are scheduled on which datasets and which tasks update them; the datasets no
        active DAG names any more become orphaned (their events stay)."""
        now = utcnow()
        with self.store.session() as s:
            wanted: dict[tuple[str, str, str], None] = {}
            for dag_id, (schedule, outlets) in references.items():
                for uri in schedule:
                    wanted[(uri, dag_id, "")] = None
                for task_id, uris in outlets.items():
                    for uri in uris:
                        wanted[(uri, dag_id, task_id)] = None
            ids = {uri: _dataset(s, uri, now).id for uri, _, _ in wanted}
            existing = {(r.dataset_id, r.dag_id, r.task_id): r for r in s.scalars(sa.select(DatasetReferenceModel))}
            keep = {(ids[uri], dag_id, task_id) for uri, dag_id, task_id in wanted}
            for key, ref in existing.items():
                if key not in keep:
                    s.delete(ref)
            for dataset_id, dag_id, task_id in keep - set(existing):
                s.add(
                    DatasetReferenceModel(
                        dataset_id=dataset_id, dag_id=dag_id, task_id=task_id, created_at=now, updated_at=now
                    )
                )
            named = set(ids.values())
            for dataset in s.scalars(sa.select(DatasetModel)):
                dataset.is_orphaned = dataset.id not in named

    # -- producers -----------------------------------------------------------------------------------------
    def record_events(
        self, uris: Iterable[str], *, source: tuple[str, str, str], extra: dict[str, Any] | None = None
    ) -> list[str]:
        """An event for each dataset of ``uris`` updated by task ``source`` (dag_id, run_id, task_id), and each
        active, unpaused DAG scheduled on it gets the dataset queued (as Airflow). Returns the queued dag_ids."""
        now = utcnow()
        queued: list[str] = []
        with self.store.session() as s:
            for uri in uris:
                queued += _add_event(s, _dataset(s, uri, now), now, source, extra)[1]
        return queued

    def create_event(self, uri: str, extra: dict[str, Any] | None) -> EventRecord | None:
        """An event of the known dataset ``uri`` posted through the API (no source task), which queues the
        dataset for its consumers as a task's event does; None if no DAG names ``uri`` and it had no event."""
        now = utcnow()
        with self.store.session() as s:
            dataset = s.scalars(sa.select(DatasetModel).where(DatasetModel.uri == uri)).first()
            if dataset is None:
                return None
            event, _ = _add_event(s, dataset, now, None, {**(extra or {}), "from_rest_api": True})
            return EventRecord(event, uri)

    # -- consumers -----------------------------------------------------------------------------------------
    def queued(self) -> dict[str, dict[str, dt.datetime]]:
        """``{dag_id: {uri: when it was queued}}``: the datasets each consumer DAG has had events of since its
        last dataset-triggered run was created."""
        with self.store.session() as s:
            rows = s.execute(
                sa.select(
                    DatasetDagRunQueueModel.target_dag_id, DatasetModel.uri, DatasetDagRunQueueModel.created_at
                ).join(DatasetModel, DatasetModel.id == DatasetDagRunQueueModel.dataset_id)
            ).all()
        found: dict[str, dict[str, dt.datetime]] = {}
        for dag_id, uri, created_at in rows:
            found.setdefault(dag_id, {})[uri] = created_at
        return found

    def queued_events(
        self, *, dag_id: str | None = None, uri: str | None = None, before: dt.datetime | None = None
    ) -> list[tuple[str, str, dt.datetime]]:
        """The queue as Airflow's API shows it: ``(uri, dag_id, created_at)`` of each dataset a consumer DAG has
        had events of since its last dataset-triggered run, narrowed to ``dag_id``, ``uri``, queued before
        ``before``."""
        query = (
            sa.select(DatasetModel.uri, DatasetDagRunQueueModel.target_dag_id, DatasetDagRunQueueModel.created_at)
            .join(DatasetModel, DatasetModel.id == DatasetDagRunQueueModel.dataset_id)
            .where(*_queued(dag_id, uri, before))
            .order_by(DatasetDagRunQueueModel.target_dag_id, DatasetModel.uri)
        )
        with self.store.session() as s:
            rows = s.execute(query).all()
        return [(uri_, dag, created) for uri_, dag, created in rows]

    def delete_queued_events(
        self, *, dag_id: str | None = None, uri: str | None = None, before: dt.datetime | None = None
    ) -> int:
        """Empty the queue entries that :meth:`queued_events` shows for the same arguments; returns how many."""
        with self.store.session() as s:
            deleted = s.execute(sa.delete(DatasetDagRunQueueModel).where(*_queued(dag_id, uri, before)))
            return int(deleted.rowcount)  # type: ignore[attr-defined]

    def create_triggered_run(self, dag_id: str, logical_date: dt.datetime) -> DagRunModel | None:
        """Create the consumer's queued ``dataset_triggered`` run at ``logical_date`` (the latest queue time), with
        the events since its previous dataset-triggered run, and empty its queue. None if a run has that date."""
        with self.store.session() as s:
            taken = s.scalars(
                sa.select(DagRunModel.id).where(DagRunModel.dag_id == dag_id, DagRunModel.logical_date == logical_date)
            ).first()
            if taken is not None:
                return None
            previous = s.scalars(
                sa.select(DagRunModel.logical_date)
                .where(
                    DagRunModel.dag_id == dag_id,
                    DagRunModel.logical_date < logical_date,
                    DagRunModel.run_type == DATASET_TRIGGERED,
                )
                .order_by(DagRunModel.logical_date.desc())
                .limit(1)
            ).first()
            query = (
                sa.select(DatasetEventModel)
                .join(DatasetReferenceModel, DatasetReferenceModel.dataset_id == DatasetEventModel.dataset_id)
                .where(
                    DatasetReferenceModel.dag_id == dag_id,
                    DatasetReferenceModel.task_id == "",
                    DatasetEventModel.timestamp <= logical_date,
                )
                .order_by(DatasetEventModel.timestamp, DatasetEventModel.id)
            )
            if previous is not None:
                query = query.where(DatasetEventModel.timestamp > previous)
            events = list(s.scalars(query))
            start, end = _interval(s, events, logical_date)
            run = DagRunModel(
                dag_id=dag_id,
                run_id=f"{DATASET_TRIGGERED}__{logical_date.isoformat()}",
                logical_date=logical_date,
                data_interval_start=start,
                data_interval_end=end,
                run_type=DATASET_TRIGGERED,
                state=RunState.QUEUED.value,
                conf={},
                queued_at=utcnow(),
                external_trigger=False,
            )
            s.add(run)
            s.flush()
            for event in events:
                s.add(DagRunDatasetEventModel(dag_run_id=run.id, event_id=event.id))
            s.execute(sa.delete(DatasetDagRunQueueModel).where(DatasetDagRunQueueModel.target_dag_id == dag_id))
            return run

    def events_of_run(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The events that triggered a run, as plain dicts (:class:`dockyard.datasets.DatasetEventView`'s fields)."""
        with self.store.session() as s:
            rows = s.execute(
                sa.select(DatasetEventModel, DatasetModel.uri)
                .join(DagRunDatasetEventModel, DagRunDatasetEventModel.event_id == DatasetEventModel.id)
                .join(DagRunModel, DagRunModel.id == DagRunDatasetEventModel.dag_run_id)
                .join(DatasetModel, DatasetModel.id == DatasetEventModel.dataset_id)
                .where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id)
                .order_by(DatasetEventModel.timestamp, DatasetEventModel.id)
            ).all()
            sources = _source_runs(s, [event for event, _ in rows])
        return [
            {
                "id": event.id,
                "dataset_id": event.dataset_id,
                "uri": uri,
                "extra": dict(event.extra or {}),
                "timestamp": event.timestamp,
                "source_dag_id": event.source_dag_id,
                "source_task_id": event.source_task_id,
                "source_run_id": event.source_run_id,
                "source_map_index": event.source_map_index,
                "source_run": sources.get((event.source_dag_id, event.source_run_id), {}),
            }
            for event, uri in rows
        ]

    # -- the API -------------------------------------------------------------------------------------------
    def list_datasets(
        self,
        *,
        limit: int,
        offset: int,
        uri_pattern: str | None = None,
        dag_ids: Sequence[str] | None = None,
        order_by: str = "id",
    ) -> tuple[list[DatasetRecord], int]:
        """A page of datasets (filtered and ordered in SQL) with their references, and how many match."""
        with self.store.session() as s:
            query = sa.select(DatasetModel)
            if uri_pattern:
                query = query.where(DatasetModel.uri.contains(uri_pattern, autoescape=True))
            if dag_ids:
                named = sa.select(DatasetReferenceModel.dataset_id).where(DatasetReferenceModel.dag_id.in_(dag_ids))
                query = query.where(DatasetModel.id.in_(named))
            total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
            rows = list(s.scalars(query.order_by(_order(DatasetModel, order_by)).limit(limit).offset(offset)))
            return [_with_references(s, row) for row in rows], total

    def get_dataset(self, uri: str) -> DatasetRecord | None:
        with self.store.session() as s:
            row = s.scalars(sa.select(DatasetModel).where(DatasetModel.uri == uri)).first()
            return None if row is None else _with_references(s, row)

    def list_events(
        self,
        *,
        limit: int,
        offset: int,
        filters: Mapping[str, Any],
        order_by: str = "timestamp",
        triggered: tuple[str, str] | None = None,
    ) -> tuple[list[EventRecord], int]:
        """A page of events matching ``filters`` (``dataset_id``, ``source_dag_id``, ``source_task_id``,
        ``source_run_id``, ``source_map_index``) and, with ``triggered`` (dag_id, run_id), that triggered that
        run, with the runs each triggered, and how many match."""
        with self.store.session() as s:
            query = sa.select(DatasetEventModel, DatasetModel.uri).join(
                DatasetModel, DatasetModel.id == DatasetEventModel.dataset_id
            )
            if triggered is not None:
                of_run = (
                    sa.select(DagRunDatasetEventModel.event_id)
                    .join(DagRunModel, DagRunModel.id == DagRunDatasetEventModel.dag_run_id)
                    .where(DagRunModel.dag_id == triggered[0], DagRunModel.run_id == triggered[1])
                )
                query = query.where(DatasetEventModel.id.in_(of_run))
            for name, value in filters.items():
                if value is not None:
                    query = query.where(getattr(DatasetEventModel, name) == value)
            total = int(s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
            rows = s.execute(query.order_by(_order(DatasetEventModel, order_by)).limit(limit).offset(offset)).all()
            runs: dict[int, list[DagRunModel]] = {}
            if rows:
                created = s.execute(
                    sa.select(DagRunDatasetEventModel.event_id, DagRunModel)
                    .join(DagRunModel, DagRunModel.id == DagRunDatasetEventModel.dag_run_id)
                    .where(DagRunDatasetEventModel.event_id.in_([event.id for event, _ in rows]))
                ).all()
                for event_id, run in created:
                    runs.setdefault(event_id, []).append(run)
            return [EventRecord(event, uri, runs.get(event.id, [])) for event, uri in rows], total


ORDER_FIELDS = {
    DatasetModel: ("id", "uri", "created_at", "updated_at"),
    DatasetEventModel: ("id", "dataset_id", "source_dag_id", "source_task_id", "source_run_id", "timestamp"),
}
"""The columns ``order_by`` may name (``-name`` for descending), as Airflow's API allows."""


def _queued(dag_id: str | None, uri: str | None, before: dt.datetime | None) -> list[sa.ColumnElement[bool]]:
    """The conditions on ``dataset_dag_run_queue`` that pick a consumer's, a dataset's, or older entries."""
    where: list[sa.ColumnElement[bool]] = []
    if dag_id is not None:
        where.append(DatasetDagRunQueueModel.target_dag_id == dag_id)
    if uri is not None:
        where.append(DatasetDagRunQueueModel.dataset_id.in_(sa.select(DatasetModel.id).where(DatasetModel.uri == uri)))
    if before is not None:
        where.append(DatasetDagRunQueueModel.created_at < before)
    return where


def _order(model: Any, order_by: str) -> sa.ColumnElement[Any]:
    name = order_by.removeprefix("-")
    column: sa.ColumnElement[Any] = getattr(model, name)
    return column.desc() if order_by.startswith("-") else column.asc()


def _with_references(s: Session, row: DatasetModel) -> DatasetRecord:
    refs = list(
        s.scalars(
            sa.select(DatasetReferenceModel)
            .where(DatasetReferenceModel.dataset_id == row.id)
            .order_by(DatasetReferenceModel.dag_id, DatasetReferenceModel.task_id)
        )
    )
    return DatasetRecord(row, [r for r in refs if not r.task_id], [r for r in refs if r.task_id])


def _source_runs(s: Session, events: Sequence[DatasetEventModel]) -> dict[tuple[str | None, str | None], Any]:
    keys = {(e.source_dag_id, e.source_run_id) for e in events if e.source_dag_id and e.source_run_id}
    if not keys:
        return {}
    runs = s.scalars(
        sa.select(DagRunModel).where(
            sa.or_(*(sa.and_(DagRunModel.dag_id == d, DagRunModel.run_id == r) for d, r in keys))
        )
    )
    return {
        (run.dag_id, run.run_id): {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "run_type": run.run_type,
            "logical_date": run.logical_date,
            "data_interval_start": run.data_interval_start,
            "data_interval_end": run.data_interval_end,
            "conf": dict(run.conf or {}),
        }
        for run in runs
    }


def _interval(
    s: Session, events: Sequence[DatasetEventModel], logical_date: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """Airflow's data interval of a dataset-triggered run: from the earliest to the latest data interval of the
    producers' runs (an event without its run counts at its own time); the logical date without events."""
    if not events:
        return logical_date, logical_date
    sources = _source_runs(s, events)
    starts, ends = [], []
    for event in events:
        run = sources.get((event.source_dag_id, event.source_run_id))
        if run and run["data_interval_start"] is not None and run["data_interval_end"] is not None:
            starts.append(run["data_interval_start"])
            ends.append(run["data_interval_end"])
        else:
            starts.append(event.timestamp)
            ends.append(event.timestamp)
    return min(starts), max(ends)

"""Read queries for lists: filters in, plain records and a total out, ordered and paged in SQL.

Readers (the HTTP API above all) never fetch a whole table to page it in Python: each list here builds one
``SELECT ... WHERE ... ORDER BY ... LIMIT ... OFFSET`` and one ``SELECT count(*)`` with the same filter, on
SQLite as on PostgreSQL, and hands back frozen dataclasses rather than ORM rows.

Example::

    page = Queries(store).dags(DagFilter(tags=("etl",), paused=False), order_by="-dag_id", limit=10)
    page.total, [d.dag_id for d in page.items]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from dockyard.errors import InvalidInputError
from dockyard.store.api import Store
from dockyard.store.models import (
    DagModel,
    DagRunModel,
    EventLogModel,
    ImportErrorModel,
    PoolModel,
    TaskInstanceModel,
    TaskTryModel,
)

T = TypeVar("T")
DateRange = tuple[dt.datetime | None, dt.datetime | None]
"""``(from, to)``, both inclusive, either open (``None``): Airflow's ``*_gte`` and ``*_lte`` parameters."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the number of entries of the whole filtered list."""

    items: list[T]
    total: int


@dataclass(frozen=True)
class DagRecord:
    dag_id: str
    fileloc: str
    is_paused: bool
    is_active: bool
    schedule: str | None
    description: str | None
    tags: list[str]
    max_active_runs: int
    max_active_tasks: int
    next_dagrun: dt.datetime | None
    last_parsed_at: dt.datetime | None
    has_import_errors: bool


@dataclass(frozen=True)
class RunRecord:
    dag_id: str
    run_id: str
    logical_date: dt.datetime
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    run_type: str
    state: str
    conf: dict[str, Any]
    queued_at: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    external_trigger: bool
    note: str | None = None


@dataclass(frozen=True)
class TaskInstanceRecord:
    dag_id: str
    run_id: str
    task_id: str
    logical_date: dt.datetime | None
    state: str | None
    try_number: int
    max_tries: int
    operator: str | None
    pool: str
    pool_slots: int
    priority_weight: int
    queued_at: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None
    hostname: str | None
    container_id: str | None
    exit_code: int | None
    rendered: dict[str, Any] | None
    map_index: int = -1
    """Which instance of a mapped task (-1: not mapped)."""
    rendered_map_index: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ImportErrorRecord:
    import_error_id: int
    filename: str
    message: str
    timestamp: dt.datetime


@dataclass(frozen=True)
class PoolRecord:
    name: str
    slots: int
    description: str | None
    running: int
    queued: int
    scheduled: int


@dataclass(frozen=True)
class EventRecord:
    id: int
    dttm: dt.datetime
    event: str
    owner: str | None
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    try_number: int | None
    extra: str | None


@dataclass(frozen=True)
class EventFilter:
    """Airflow's ``GET /eventLogs`` filters; ``after``/``before`` bound the time, both inclusive."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    event: str | None = None
    owner: str | None = None
    after: dt.datetime | None = None
    before: dt.datetime | None = None
    included_events: Sequence[str] | None = None
    excluded_events: Sequence[str] | None = None


@dataclass(frozen=True)
class DagFilter:
    """Airflow's ``GET /dags`` filters: ``tags`` matches a DAG with any of them; ``dag_id_pattern`` is a
    case-insensitive substring of the dag_id."""

    dag_ids: Sequence[str] | None = None
    dag_id_pattern: str | None = None
    tags: Sequence[str] = ()
    paused: bool | None = None
    only_active: bool = True


@dataclass(frozen=True)
class RunFilter:
    dag_ids: Sequence[str] | None = None
    run_ids: Sequence[str] | None = None
    states: Sequence[str] | None = None
    logical_date: DateRange = (None, None)
    start_date: DateRange = (None, None)
    end_date: DateRange = (None, None)


@dataclass(frozen=True)
class TaskInstanceFilter:
    dag_ids: Sequence[str] | None = None
    run_ids: Sequence[str] | None = None
    task_ids: Sequence[str] | None = None
    states: Sequence[str | None] | None = None
    pools: Sequence[str] | None = None
    queues: Sequence[str] | None = None
    logical_date: DateRange = (None, None)
    start_date: DateRange = (None, None)
    end_date: DateRange = (None, None)
    duration: tuple[float | None, float | None] = (None, None)
    map_indexes: Sequence[int] | None = None
    """Only these instances; ``mapped`` only a mapped task's instances (``map_index`` 0 and up)."""
    mapped: bool = False


DEFAULT_QUEUE = "default"
"""Every task instance is in this queue (dockyard has one executor); a ``queue`` filter matches it or nothing."""

DAG_ORDER: Mapping[str, Any] = {
    "dag_id": DagModel.dag_id,
    "fileloc": DagModel.fileloc,
    "is_paused": DagModel.is_paused,
    "is_active": DagModel.is_active,
    "next_dagrun": DagModel.next_dagrun,
    "last_parsed_time": DagModel.last_parsed_at,
    "max_active_runs": DagModel.max_active_runs,
    "max_active_tasks": DagModel.max_active_tasks,
    "description": DagModel.description,
}
RUN_ORDER: Mapping[str, Any] = {
    "id": DagRunModel.id,
    "dag_id": DagRunModel.dag_id,
    "dag_run_id": DagRunModel.run_id,
    "run_id": DagRunModel.run_id,
    "state": DagRunModel.state,
    "run_type": DagRunModel.run_type,
    "execution_date": DagRunModel.logical_date,
    "logical_date": DagRunModel.logical_date,
    "start_date": DagRunModel.start_date,
    "end_date": DagRunModel.end_date,
    "data_interval_start": DagRunModel.data_interval_start,
    "data_interval_end": DagRunModel.data_interval_end,
    "external_trigger": DagRunModel.external_trigger,
}
TI_ORDER: Mapping[str, Any] = {
    "dag_id": TaskInstanceModel.dag_id,
    "dag_run_id": TaskInstanceModel.run_id,
    "run_id": TaskInstanceModel.run_id,
    "task_id": TaskInstanceModel.task_id,
    "map_index": TaskInstanceModel.map_index,
    "state": TaskInstanceModel.state,
    "try_number": TaskInstanceModel.try_number,
    "start_date": TaskInstanceModel.start_date,
    "end_date": TaskInstanceModel.end_date,
    "duration": TaskInstanceModel.duration,
    "pool": TaskInstanceModel.pool,
    "priority_weight": TaskInstanceModel.priority_weight,
    "execution_date": DagRunModel.logical_date,
    "logical_date": DagRunModel.logical_date,
}
EVENT_ORDER: Mapping[str, Any] = {
    "event_log_id": EventLogModel.id,
    "when": EventLogModel.dttm,
    "dag_id": EventLogModel.dag_id,
    "task_id": EventLogModel.task_id,
    "run_id": EventLogModel.run_id,
    "event": EventLogModel.event,
    "owner": EventLogModel.owner,
}


def order_clause(order_by: str | None, columns: Mapping[str, Any], default: str) -> list[Any]:
    """``"-start_date"`` -> ``[start_date DESC, ...]``; an unknown field is Airflow's 400 that names the allowed
    ones. The default's column breaks ties so that pages never overlap."""
    name = (order_by or default).strip()
    descending = name.startswith("-")
    column = columns.get(name.lstrip("-"))
    if column is None:
        raise InvalidInputError(
            f"Ordering with {name.lstrip('-')!r} is disallowed or the attribute does not exist on the model; "
            f"order_by takes one of {', '.join(sorted(columns))}, with a leading '-' for descending"
        )
    tie = columns[default.lstrip("-")]
    clause = [column.desc() if descending else column.asc()]
    return clause if column is tie else [*clause, tie.asc()]


def _in_range(column: Any, bounds: tuple[Any, Any]) -> list[sa.ColumnElement[bool]]:
    low, high = bounds
    found: list[sa.ColumnElement[bool]] = []
    if low is not None:
        found.append(column >= low)
    if high is not None:
        found.append(column <= high)
    return found


def _columns(model: Any, kind: Any, *skip: str) -> list[Any]:
    """The columns of ``model`` that the record ``kind`` has fields for: only what a reader shows is read (a
    DAG's serialized structure, for one, stays in the database)."""
    return [getattr(model, f.name) for f in dataclasses.fields(kind) if f.name not in skip]


def _record(kind: type[T], row: Any, **extra: Any) -> T:
    """A frozen record from a result row (or an ORM object): the record's fields, read by name."""
    source = row._mapping if hasattr(row, "_mapping") else None
    values: dict[str, Any] = {}
    for item in dataclasses.fields(kind):  # type: ignore[arg-type]
        name = item.name
        value = extra[name] if name in extra else source[name] if source is not None else getattr(row, name)
        values[name] = value.value if isinstance(value, enum.Enum) else value  # records carry plain strings
    return kind(**values)


def _count(model: Any, where: Sequence[sa.ColumnElement[bool]]) -> Any:
    return sa.select(sa.func.count()).select_from(model).where(*where)


class Queries:
    """The store's list readers. They share the store's engine and sessions; nothing here writes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _dialect(self) -> str:
        return self.store.engine.dialect.name

    def _page(
        self, query: Any, order: list[Any], limit: int, offset: int, make: Callable[[Any], T], count: Any = None
    ) -> Page[T]:
        """One page of ``query`` and the count of all its rows (``count``, a cheaper query with the same
        filter, where the caller has one: no join and no columns to carry)."""
        if limit < 0 or offset < 0:
            raise InvalidInputError(f"limit ({limit}) and offset ({offset}) must be 0 or more")
        if count is None:
            count = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        with self.store.session() as s:
            total = int(s.scalar(count) or 0)
            rows = s.execute(query.order_by(*order).limit(limit).offset(offset)).all()
            return Page([make(row) for row in rows], total)

    def _tag_match(self, tags: Sequence[str]) -> sa.ColumnElement[bool]:
        """Does the DAG's JSON list of tags hold any of ``tags``? One EXISTS over the dialect's JSON array."""
        if self._dialect == "postgresql":
            elements = sa.func.json_array_elements_text(DagModel.tags).table_valued("value")
        else:
            elements = sa.func.json_each(DagModel.tags).table_valued("value")
        return sa.exists(sa.select(1).select_from(elements).where(elements.c.value.in_(list(tags))))

    # -- DAGs --------------------------------------------------------------------------------------
    def dag_conditions(self, flt: DagFilter) -> list[sa.ColumnElement[bool]]:
        where: list[sa.ColumnElement[bool]] = []
        if flt.only_active:
            where.append(DagModel.is_active.is_(True))
        if flt.dag_ids is not None:
            where.append(DagModel.dag_id.in_(list(flt.dag_ids)))
        if flt.dag_id_pattern:
            where.append(DagModel.dag_id.ilike(f"%{flt.dag_id_pattern}%"))
        if flt.paused is not None:
            where.append(DagModel.is_paused.is_(flt.paused))
        if flt.tags:
            where.append(self._tag_match(flt.tags))
        return where

    def dags(
        self, flt: DagFilter = DagFilter(), *, order_by: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[DagRecord]:
        broken = sa.exists(sa.select(1).where(ImportErrorModel.filename == DagModel.fileloc))
        where = self.dag_conditions(flt)
        query = sa.select(*_columns(DagModel, DagRecord, "has_import_errors"), broken.label("has_import_errors"))
        order = order_clause(order_by, DAG_ORDER, "dag_id")
        return self._page(
            query.where(*where),
            order,
            limit,
            offset,
            lambda row: _record(DagRecord, row, tags=list(row.tags or []), has_import_errors=bool(row[-1])),
            _count(DagModel, where),
        )

    def check_dag(self, dag_id: str) -> None:
        """A :class:`NotFoundError` naming the known DAGs unless ``dag_id`` is stored (one indexed look-up; the
        DAG's serialized structure is not read)."""
        with self.store.session() as s:
            found = s.scalar(sa.select(DagModel.dag_id).where(DagModel.dag_id == dag_id))
        if found is None:
            self.store.get_dag(dag_id)

    # -- runs --------------------------------------------------------------------------------------
    def runs(
        self, flt: RunFilter = RunFilter(), *, order_by: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[RunRecord]:
        where: list[sa.ColumnElement[bool]] = []
        if flt.dag_ids is not None:
            where.append(DagRunModel.dag_id.in_(list(flt.dag_ids)))
        if flt.run_ids is not None:
            where.append(DagRunModel.run_id.in_(list(flt.run_ids)))
        if flt.states is not None:
            where.append(DagRunModel.state.in_([str(s) for s in flt.states]))
        where += _in_range(DagRunModel.logical_date, flt.logical_date)
        where += _in_range(DagRunModel.start_date, flt.start_date)
        where += _in_range(DagRunModel.end_date, flt.end_date)
        query = sa.select(*_columns(DagRunModel, RunRecord)).where(*where)
        order = order_clause(order_by, RUN_ORDER, "id")
        return self._page(
            query,
            order,
            limit,
            offset,
            lambda row: _record(RunRecord, row, conf=row.conf or {}),
            _count(DagRunModel, where),
        )

    def run(self, dag_id: str, run_id: str) -> RunRecord:
        found = self.runs(RunFilter(dag_ids=[dag_id], run_ids=[run_id]), limit=1).items
        if not found:
            self.store.get_run(dag_id, run_id)  # the 404 that says how to list the runs
        return found[0]

    def run_state_counts(self, dag_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Runs per state of each DAG: ``{dag_id: {state: count}}``, one GROUP BY."""
        query = (
            sa.select(DagRunModel.dag_id, DagRunModel.state, sa.func.count())
            .where(DagRunModel.dag_id.in_(list(dag_ids)))
            .group_by(DagRunModel.dag_id, DagRunModel.state)
        )
        counts: dict[str, dict[str, int]] = {d: {} for d in dag_ids}
        with self.store.session() as s:
            for dag_id, state, count in s.execute(query):
                counts[dag_id][str(state.value if isinstance(state, enum.Enum) else state)] = int(count)
        return counts

    # -- task instances ----------------------------------------------------------------------------
    def task_instances(
        self,
        flt: TaskInstanceFilter = TaskInstanceFilter(),
        *,
        order_by: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[TaskInstanceRecord]:
        ti = TaskInstanceModel
        where: list[sa.ColumnElement[bool]] = []
        for column, values in ((ti.dag_id, flt.dag_ids), (ti.run_id, flt.run_ids), (ti.task_id, flt.task_ids)):
            if values is not None:
                where.append(column.in_(list(values)))
        if flt.states is not None:
            named = [str(s) for s in flt.states if s not in (None, "none", "")]
            either = [ti.state.in_(named)] if named else []
            if len(named) < len(flt.states):  # Airflow's "none" state: not yet scheduled
                either.append(ti.state.is_(None))
            where.append(sa.or_(*either) if either else sa.false())
        if flt.map_indexes is not None:
            where.append(ti.map_index.in_(list(flt.map_indexes)))
        if flt.mapped:
            where.append(ti.map_index >= 0)
        if flt.pools is not None:
            where.append(ti.pool.in_(list(flt.pools)))
        if flt.queues is not None and DEFAULT_QUEUE not in flt.queues:
            where.append(sa.false())
        where += _in_range(ti.start_date, flt.start_date)
        where += _in_range(ti.end_date, flt.end_date)
        where += _in_range(ti.duration, flt.duration)
        of_run = sa.and_(DagRunModel.dag_id == ti.dag_id, DagRunModel.run_id == ti.run_id)
        by_date = _in_range(DagRunModel.logical_date, flt.logical_date)
        # Every task instance has its run (a foreign key): the count joins the runs only to filter by date.
        count = _count(ti, where) if not by_date else _count(ti, [*where, *by_date]).join(DagRunModel, of_run)
        query = (
            sa.select(*_columns(ti, TaskInstanceRecord, "logical_date"), DagRunModel.logical_date)
            .join(DagRunModel, of_run)
            .where(*where, *by_date)
        )
        order = order_clause(order_by, TI_ORDER, "task_id")
        if not order_by:  # Airflow's default: by run, then task
            order = [ti.dag_id, DagRunModel.logical_date, ti.task_id]
        return self._page(query, order, limit, offset, lambda row: _record(TaskInstanceRecord, row), count)

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> TaskInstanceRecord:
        wanted = TaskInstanceFilter(dag_ids=[dag_id], run_ids=[run_id], task_ids=[task_id], map_indexes=[map_index])
        found = self.task_instances(wanted, limit=1).items
        if not found:
            self.store.get_task_instance(dag_id, run_id, task_id, map_index)  # the 404 that names them
        return found[0]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[TaskTryModel]:
        return self.store.list_tries(dag_id, run_id, task_id, map_index)

    # -- import errors and pools -------------------------------------------------------------------
    def import_errors(
        self, *, order_by: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[ImportErrorRecord]:
        """Import errors numbered in file-name order (the table is keyed by file name; ids are positions)."""
        number = sa.func.row_number().over(order_by=ImportErrorModel.filename).label("import_error_id")
        numbered = sa.select(ImportErrorModel, number).subquery()
        columns = {
            "import_error_id": numbered.c.import_error_id,
            "filename": numbered.c.filename,
            "timestamp": numbered.c.timestamp,
        }
        query = sa.select(numbered)
        order = order_clause(order_by, columns, "import_error_id")
        return self._page(
            query,
            order,
            limit,
            offset,
            lambda row: ImportErrorRecord(row.import_error_id, row.filename, row.message, row.timestamp),
        )

    def pools(self, *, names: Sequence[str] | None = None, limit: int = 100, offset: int = 0) -> Page[PoolRecord]:
        """Pools with the slots their task instances hold now (running, queued, scheduled), in one query."""
        ti = TaskInstanceModel

        def slots(state: str) -> Any:
            held = sa.select(sa.func.coalesce(sa.func.sum(ti.pool_slots), 0)).where(
                ti.pool == PoolModel.name, ti.state == state
            )
            return held.scalar_subquery()

        query = sa.select(
            PoolModel, slots("running").label("r"), slots("queued").label("q"), slots("scheduled").label("s")
        )
        if names is not None:
            query = query.where(PoolModel.name.in_(list(names)))
        return self._page(
            query,
            [PoolModel.name],
            limit,
            offset,
            lambda row: PoolRecord(row[0].name, row[0].slots, row[0].description, int(row.r), int(row.q), int(row.s)),
        )

    # -- the event log -----------------------------------------------------------------------------
    def events(
        self, flt: EventFilter = EventFilter(), *, order_by: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[EventRecord]:
        log = EventLogModel
        where: list[sa.ColumnElement[bool]] = []
        for column, value in (
            (log.dag_id, flt.dag_id),
            (log.task_id, flt.task_id),
            (log.run_id, flt.run_id),
            (log.try_number, flt.try_number),
            (log.event, flt.event),
            (log.owner, flt.owner),
        ):
            if value is not None:
                where.append(column == value)
        where += _in_range(log.dttm, (flt.after, flt.before))
        if flt.included_events is not None:
            where.append(log.event.in_(list(flt.included_events)))
        if flt.excluded_events is not None:
            where.append(log.event.not_in(list(flt.excluded_events)))
        order = order_clause(order_by, EVENT_ORDER, "event_log_id")
        query = sa.select(*_columns(log, EventRecord)).where(*where)
        return self._page(query, order, limit, offset, lambda row: _record(EventRecord, row), _count(log, where))

    def event(self, event_id: int) -> EventRecord | None:
        with self.store.session() as s:
            row = s.get(EventLogModel, event_id)
            return None if row is None else _record(EventRecord, row)

    def dag_filelocs(self, fileloc: str) -> bool:
        """Does a stored DAG come from this file? (The source endpoint serves no other file.)"""
        with self.store.session() as s:
            return s.scalar(sa.select(sa.func.count()).where(DagModel.fileloc == fileloc)) != 0

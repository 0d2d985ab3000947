"""Read-only queries for the web pages: one page of DAGs or runs with its filters applied in SQL, run counts
by state, and the task states of a set of runs, so no page fetches "everything" to show twenty rows.

Example::

    page = dag_page(store, DagFilter(search="etl", paused=False), offset=0, limit=25)
    page.total, [d.dag_id for d in page.rows]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from dockyard.store.api import Store
from dockyard.store.models import DagModel, DagRunModel, TaskInstanceModel

Row = TypeVar("Row")

DAG_SORTS: dict[str, Any] = {
    "dag_id": DagModel.dag_id.asc(),
    "-dag_id": DagModel.dag_id.desc(),
    "next_run": DagModel.next_dagrun.asc(),
    "-next_run": DagModel.next_dagrun.desc(),
}
"""The orders the DAG list offers, by the name its ``sort`` parameter carries."""


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class DagFilter:
    search: str = ""
    tags: Sequence[str] = ()
    paused: bool | None = None
    last_state: str | None = None
    """Only DAGs whose latest run is in this state."""
    sort: str = "dag_id"


@dataclass(frozen=True)
class DagSummary:
    """A DAG's list row: its columns without the (large) structure, and its runs' counts by state."""

    dag_id: str
    fileloc: str
    is_paused: bool
    is_active: bool
    schedule: str | None
    description: str | None
    tags: list[str]
    next_dagrun: dt.datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    recent: list[DagRunModel] = field(default_factory=list)

    @property
    def last_run(self) -> DagRunModel | None:
        return self.recent[-1] if self.recent else None


def _latest_run_state() -> Any:
    latest = (
        sa.select(DagRunModel.state)
        .where(DagRunModel.dag_id == DagModel.dag_id)
        .order_by(DagRunModel.logical_date.desc(), DagRunModel.id.desc())
        .limit(1)
        .correlate(DagModel)
        .scalar_subquery()
    )
    return latest


def dag_page(store: Store, wanted: DagFilter, *, offset: int, limit: int, recent: int = 10) -> Page[DagSummary]:
    """One page of active DAGs matching ``wanted``, each with its run counts and ``recent`` latest runs."""
    columns = (
        DagModel.dag_id,
        DagModel.fileloc,
        DagModel.is_paused,
        DagModel.is_active,
        DagModel.schedule,
        DagModel.description,
        DagModel.tags,
        DagModel.next_dagrun,
    )
    query = sa.select(*columns).where(DagModel.is_active.is_(True))
    if wanted.search:
        needle = f"%{wanted.search.lower()}%"
        query = query.where(
            sa.or_(sa.func.lower(DagModel.dag_id).like(needle), sa.func.lower(DagModel.description).like(needle))
        )
    if wanted.paused is not None:
        query = query.where(DagModel.is_paused.is_(wanted.paused))
    if wanted.last_state:
        query = query.where(_latest_run_state() == wanted.last_state)
    query = query.order_by(DAG_SORTS.get(wanted.sort, DagModel.dag_id.asc()), DagModel.dag_id)
    with store.session() as s:
        found = [DagSummary(*row) for row in s.execute(query).all()]
    if wanted.tags:  # tags are a JSON list: matched here, the same on SQLite and PostgreSQL
        found = [d for d in found if set(wanted.tags) <= set(d.tags or [])]
    rows = found[offset : offset + limit]
    ids = [d.dag_id for d in rows]
    with store.session() as s:
        counted = s.execute(
            sa.select(DagRunModel.dag_id, DagRunModel.state, sa.func.count())
            .where(DagRunModel.dag_id.in_(ids))
            .group_by(DagRunModel.dag_id, DagRunModel.state)
        ).all()
    by_id = {d.dag_id: d for d in rows}
    for dag_id, state, count in counted:
        by_id[dag_id].counts[str(state)] = int(count)
    for summary in rows:
        summary.recent.extend(reversed(store.list_runs(summary.dag_id, limit=recent)))
    return Page(rows, len(found), offset, limit)


def all_tags(store: Store) -> list[str]:
    with store.session() as s:
        lists = s.scalars(sa.select(DagModel.tags).where(DagModel.is_active.is_(True))).all()
    return sorted({str(tag) for tags in lists for tag in (tags or [])})


@dataclass(frozen=True)
class RunFilter:
    dag_id: str | None = None
    states: Sequence[str] = ()
    run_type: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def run_page(store: Store, wanted: RunFilter, *, offset: int, limit: int) -> Page[DagRunModel]:
    """One page of runs, newest logical date first, with the number of runs that match ``wanted``."""
    conditions = []
    if wanted.dag_id is not None:
        conditions.append(DagRunModel.dag_id == wanted.dag_id)
    if wanted.states:
        conditions.append(DagRunModel.state.in_(list(wanted.states)))
    if wanted.run_type:
        conditions.append(DagRunModel.run_type == wanted.run_type)
    if wanted.since:
        conditions.append(DagRunModel.logical_date >= wanted.since)
    if wanted.until:
        conditions.append(DagRunModel.logical_date < wanted.until)
    with store.session() as s:
        total = int(s.scalar(sa.select(sa.func.count()).select_from(DagRunModel).where(*conditions)) or 0)
        rows = list(
            s.scalars(
                sa.select(DagRunModel)
                .where(*conditions)
                .order_by(DagRunModel.logical_date.desc(), DagRunModel.id.desc())
                .offset(offset)
                .limit(limit)
            )
        )
    return Page(rows, total, offset, limit)


def task_states(store: Store, dag_id: str, run_ids: Sequence[str]) -> dict[tuple[str, str], TaskInstanceModel]:
    """The task instances of ``run_ids`` by ``(run_id, task_id)``, in one query."""
    with store.session() as s:
        found = s.scalars(
            sa.select(TaskInstanceModel).where(
                TaskInstanceModel.dag_id == dag_id, TaskInstanceModel.run_id.in_(list(run_ids))
            )
        ).all()
    return {(ti.run_id, ti.task_id): ti for ti in found}


def runs_around(store: Store, dag_id: str, logical_date: dt.datetime, *, before: bool) -> list[str]:
    """The run ids of ``dag_id`` before (or after) ``logical_date``: the "past" and "future" of a clear."""
    with store.session() as s:
        when = DagRunModel.logical_date < logical_date if before else DagRunModel.logical_date > logical_date
        return list(s.scalars(sa.select(DagRunModel.run_id).where(DagRunModel.dag_id == dag_id, when)))

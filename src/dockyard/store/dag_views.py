"""Read-only queries for a DAG's history views: task durations over its latest runs, its runs per day for the
calendar, how many instances each mapped task has in a run and, for the grid, in which states. Each is one
grouped SQL query, so a DAG with thousands of runs costs the same page time as one with ten.

Example::

    durations = task_durations(store, "etl", runs=25)
    durations.runs[-1].run_id, durations.seconds[("load", durations.runs[-1].run_id)]
    days = runs_per_day(store, "etl", since, until)   # {date(2024, 1, 31): {"success": 1}, ...}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dockyard.store.api import Store
from dockyard.store.models import DagRunModel, TaskInstanceModel


@dataclass(frozen=True)
class RunPoint:
    """One run on the duration chart's time axis."""

    run_id: str
    logical_date: dt.datetime
    state: str


@dataclass(frozen=True)
class Durations:
    """The latest runs (oldest first) and each task's duration in seconds in each of them: the longest of a
    mapped task's instances, as the run waited for all of them."""

    runs: list[RunPoint]
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    """``(task_id, run_id) -> seconds``; a task that has not started in a run is missing."""


def _utc(column: Any, dialect: str) -> Any:
    """The column as a UTC wall-clock time: PostgreSQL's ``timestamptz`` otherwise follows the session's zone."""
    return sa.func.timezone("UTC", column) if dialect == "postgresql" else column


def task_durations(store: Store, dag_id: str, *, runs: int) -> Durations:
    """Each task's duration in the latest ``runs`` runs of ``dag_id`` (two queries: the runs, the durations)."""
    now = dt.datetime.now(dt.timezone.utc)
    with store.session() as s:
        latest = s.execute(
            sa.select(DagRunModel.run_id, DagRunModel.logical_date, DagRunModel.state)
            .where(DagRunModel.dag_id == dag_id)
            .order_by(DagRunModel.logical_date.desc(), DagRunModel.id.desc())
            .limit(runs)
        ).all()
        points = [RunPoint(str(r), when, str(state)) for r, when, state in reversed(latest)]
        rows = s.execute(
            sa.select(
                TaskInstanceModel.task_id,
                TaskInstanceModel.run_id,
                sa.func.max(TaskInstanceModel.duration),
                sa.func.min(TaskInstanceModel.start_date),
                sa.func.count(TaskInstanceModel.end_date),
                sa.func.count(),
            )
            .where(
                TaskInstanceModel.dag_id == dag_id,
                TaskInstanceModel.run_id.in_([p.run_id for p in points]),
                TaskInstanceModel.start_date.is_not(None),
            )
            .group_by(TaskInstanceModel.task_id, TaskInstanceModel.run_id)
        ).all()
    found = Durations(points)
    for task_id, run_id, seconds, started, ended, instances in rows:
        if seconds is None or ended < instances:  # still running: how long so far
            seconds = max((now - started).total_seconds(), float(seconds or 0.0)) if started else None
        if seconds is not None:
            found.seconds[(str(task_id), str(run_id))] = round(float(seconds), 3)
    return found


def runs_per_day(store: Store, dag_id: str, since: dt.date, until: dt.date) -> dict[dt.date, dict[str, int]]:
    """How many runs of ``dag_id`` have each state, per UTC day of their logical date in ``[since, until)``."""
    with store.session() as s:
        dialect = s.get_bind().dialect.name
        day = sa.func.date(_utc(DagRunModel.logical_date, dialect))
        start = dt.datetime.combine(since, dt.time(), dt.timezone.utc)
        end = dt.datetime.combine(until, dt.time(), dt.timezone.utc)
        rows = s.execute(
            sa.select(day, DagRunModel.state, sa.func.count())
            .where(DagRunModel.dag_id == dag_id, DagRunModel.logical_date >= start, DagRunModel.logical_date < end)
            .group_by(day, DagRunModel.state)
        ).all()
    days: dict[dt.date, dict[str, int]] = {}
    for when, state, count in rows:
        date = when if isinstance(when, dt.date) else dt.date.fromisoformat(str(when))
        days.setdefault(date, {})[str(state)] = int(count)
    return days


def run_years(store: Store, dag_id: str) -> list[int]:
    """The calendar years (UTC) in which ``dag_id`` has runs, newest first: the calendar's year links."""
    with store.session() as s:
        dialect = s.get_bind().dialect.name
        year = sa.extract("year", _utc(DagRunModel.logical_date, dialect))
        found = s.scalars(sa.select(year).where(DagRunModel.dag_id == dag_id).group_by(year)).all()
    return sorted((int(y) for y in found if y is not None), reverse=True)


def mapped_counts(store: Store, dag_id: str, run_id: str) -> dict[str, int]:
    """How many instances each mapped task of the run has (a task that is not mapped is missing)."""
    with store.session() as s:
        rows = s.execute(
            sa.select(TaskInstanceModel.task_id, sa.func.count())
            .where(
                TaskInstanceModel.dag_id == dag_id,
                TaskInstanceModel.run_id == run_id,
                TaskInstanceModel.map_index >= 0,
            )
            .group_by(TaskInstanceModel.task_id)
        ).all()
    return {str(task_id): int(count) for task_id, count in rows}


def mapped_states(store: Store, dag_id: str, run_ids: Sequence[str]) -> dict[tuple[str, str], dict[str, int]]:
    """How many instances of each mapped task have each state, by ``(run_id, task_id)``, in ``run_ids``: one
    grouped query for the whole grid. An instance that has no state yet counts under ``"none"``.

    Example: ``{("manual__1", "square"): {"success": 3, "running": 2}}``.
    """
    with store.session() as s:
        rows = s.execute(
            sa.select(TaskInstanceModel.run_id, TaskInstanceModel.task_id, TaskInstanceModel.state, sa.func.count())
            .where(
                TaskInstanceModel.dag_id == dag_id,
                TaskInstanceModel.run_id.in_(list(run_ids)),
                TaskInstanceModel.map_index >= 0,
            )
            .group_by(TaskInstanceModel.run_id, TaskInstanceModel.task_id, TaskInstanceModel.state)
        ).all()
    found: dict[tuple[str, str], dict[str, int]] = {}
    for run_id, task_id, state, count in rows:
        found.setdefault((str(run_id), str(task_id)), {})[str(state) if state else "none"] = int(count)
    return found

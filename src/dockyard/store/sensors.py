"""What the store keeps for sensors: reschedules (``task_reschedule``) and the states an external sensor watches.

A sensor in reschedule mode ends each unmet poke as ``up_for_reschedule`` with its next poke time in
``task_instance.next_retry_at`` (the time the task instance may run again, as for a retry), so one scheduler
query finds the due ones; ``task_reschedule`` keeps each poke, as Airflow's table of that name does. A poke
that is due is claimed with the same try number (:func:`claim_poke`): the try number counts tries, not pokes.

Every row is keyed by the task instance, ``map_index`` included (-1 for a task that is not mapped), as in
Airflow: each instance of a mapped sensor is rescheduled on its own, with its own next poke time, and its
timeout counts from its own first poke.

Example::

    reschedule_try(store, "etl", run_id, "wait", 1, map_index=2, at=utcnow() + timedelta(minutes=5))
    claim_poke(store, "etl", run_id, "wait", map_index=2)        # 1 again, once it is due
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from dockyard.errors import ConflictError
from dockyard.states import TaskState
from dockyard.store.api import HOSTNAME, Store, _try_key, utcnow
from dockyard.store.mapped import NOT_MAPPED
from dockyard.store.models import DagRunModel, TaskInstanceModel, TaskRescheduleModel, TaskTryModel


@dataclass(frozen=True)
class Reschedule:
    """One unmet poke of a sensor in reschedule mode (a ``task_reschedule`` row)."""

    map_index: int
    try_number: int
    start_date: dt.datetime
    end_date: dt.datetime
    duration: float
    reschedule_date: dt.datetime
    """When the next poke is due."""


def _of_instance(dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions that pick one task instance's reschedules."""
    return (
        TaskRescheduleModel.dag_id == dag_id,
        TaskRescheduleModel.run_id == run_id,
        TaskRescheduleModel.task_id == task_id,
        TaskRescheduleModel.map_index == map_index,
    )


def reschedule_try(
    store: Store,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    *,
    at: dt.datetime,
    map_index: int = NOT_MAPPED,
    poked_at: dt.datetime | None = None,
    container_id: str | None = None,
) -> bool:
    """End a poke (begun at ``poked_at``) of instance ``map_index`` that found its condition unmet:
    ``up_for_reschedule`` until ``at``. Ignored (False) when the task instance moved on meanwhile (cleared, or
    marked by a person)."""
    now = utcnow()
    with store.session() as s:
        ti = s.get(TaskInstanceModel, (dag_id, run_id, task_id, map_index), with_for_update=True)
        if ti is None or ti.try_number != try_number or ti.state != TaskState.RUNNING.value:
            return False
        started = poked_at or ti.start_date or now
        ti.state = TaskState.UP_FOR_RESCHEDULE
        ti.end_date = now
        ti.duration = (now - (ti.start_date or started)).total_seconds()
        ti.next_retry_at = at
        ti.container_id = container_id or ti.container_id
        s.add(
            TaskRescheduleModel(
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=map_index,
                try_number=try_number,
                start_date=started,
                end_date=now,
                duration=(now - started).total_seconds(),
                reschedule_date=at,
            )
        )
        s.execute(
            sa.update(TaskTryModel)
            .where(*_try_key(dag_id, run_id, task_id, try_number, map_index))
            .values(state=TaskState.UP_FOR_RESCHEDULE.value, container_id=container_id)
        )
        return True


def claim_poke(
    store: Store, dag_id: str, run_id: str, task_id: str, *, map_index: int = NOT_MAPPED, job_id: int | None = None
) -> int:
    """Mark a due ``up_for_reschedule`` task instance (instance ``map_index``) running again with the same try
    number (committed before its container exists, as :meth:`Store.claim_try`, by the scheduler job ``job_id``).
    Raises :class:`ConflictError` if it moved on or another scheduler holds it right now."""
    with store.session() as s:
        ti = s.get(TaskInstanceModel, (dag_id, run_id, task_id, map_index), with_for_update={"skip_locked": True})
        if ti is None or ti.state != TaskState.UP_FOR_RESCHEDULE.value:
            instance = f" (map_index {map_index})" if map_index != NOT_MAPPED else ""
            raise ConflictError(f"task {task_id!r}{instance} of run {run_id!r} is no longer waiting for its next poke")
        ti.queued_by_job_id = job_id
        ti.state, ti.hostname = TaskState.RUNNING, HOSTNAME  # start_date stays the first poke's, as in Airflow
        for name in ("end_date", "duration", "container_id", "exit_code", "next_retry_at", "waiting_reason"):
            setattr(ti, name, None)  # this poke's, once it ends
        s.execute(
            sa.update(TaskTryModel)
            .where(*_try_key(dag_id, run_id, task_id, ti.try_number, map_index))
            .values(state=TaskState.RUNNING.value, end_date=None)
        )
        return ti.try_number


def poke_history(
    store: Store,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    first_try: int,
    try_number: int,
    map_index: int = NOT_MAPPED,
) -> tuple[dt.datetime | None, int]:
    """When instance ``map_index`` first poked in try ``first_try`` (its timeout counts from there, as in
    Airflow), and how many unmet pokes its try ``try_number`` has had (its exponential backoff grows with them)."""
    where = _of_instance(dag_id, run_id, task_id, map_index)
    with store.session() as s:
        first = s.scalar(
            sa.select(sa.func.min(TaskRescheduleModel.start_date)).where(
                *where, TaskRescheduleModel.try_number == first_try
            )
        )
        count = s.scalar(sa.select(sa.func.count()).where(*where, TaskRescheduleModel.try_number == try_number))
    if isinstance(first, dt.datetime) and first.tzinfo is None:  # min() skips the column's type on SQLite
        first = first.replace(tzinfo=dt.timezone.utc)
    return first, int(count or 0)


def list_reschedules(
    store: Store,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    map_index: int = NOT_MAPPED,
    try_number: int | None = None,
) -> list[Reschedule]:
    """The unmet pokes of one task instance (of try ``try_number``, or of every try), oldest first."""
    where = [*_of_instance(dag_id, run_id, task_id, map_index)]
    if try_number is not None:
        where.append(TaskRescheduleModel.try_number == try_number)
    with store.session() as s:
        rows = s.scalars(
            sa.select(TaskRescheduleModel)
            .where(*where)
            .order_by(TaskRescheduleModel.try_number, TaskRescheduleModel.start_date, TaskRescheduleModel.id)
        ).all()
        return [
            Reschedule(
                map_index=row.map_index,
                try_number=row.try_number,
                start_date=row.start_date,
                end_date=row.end_date,
                duration=row.duration,
                reschedule_date=row.reschedule_date,
            )
            for row in rows
        ]


def count_in_states(
    store: Store,
    dag_id: str,
    logical_dates: Sequence[dt.datetime],
    states: Sequence[str],
    task_ids: Sequence[str] | None,
) -> float:
    """``ExternalTaskSensor``'s count, as Airflow's: with ``task_ids``, the task instances in ``states`` in the
    runs at ``logical_dates`` divided by the number of tasks; without, the runs in ``states``."""
    with store.session() as s:
        if not task_ids:
            found = s.scalar(
                sa.select(sa.func.count()).where(
                    DagRunModel.dag_id == dag_id,
                    DagRunModel.logical_date.in_(list(logical_dates)),
                    DagRunModel.state.in_(list(states)),
                )
            )
            return float(found or 0)
        found = s.scalar(
            sa.select(sa.func.count())
            .select_from(TaskInstanceModel)
            .join(
                DagRunModel,
                sa.and_(DagRunModel.dag_id == TaskInstanceModel.dag_id, DagRunModel.run_id == TaskInstanceModel.run_id),
            )
            .where(
                TaskInstanceModel.dag_id == dag_id,
                TaskInstanceModel.task_id.in_(list(task_ids)),
                TaskInstanceModel.state.in_(list(states)),
                DagRunModel.logical_date.in_(list(logical_dates)),
            )
        )
        return float(found or 0) / len(task_ids)

"""What the store keeps for sensors: reschedules (``task_reschedule``) and the states an external sensor watches.

A sensor in reschedule mode ends each unmet poke as ``up_for_reschedule`` with its next poke time in
``task_instance.next_retry_at`` (the time the task instance may run again, as for a retry), so one scheduler
query finds the due ones; ``task_reschedule`` keeps each poke, as Airflow's table of that name does. A poke
that is due is claimed with the same try number (:func:`claim_poke`): the try number counts tries, not pokes.

Example::

    reschedule_try(store, "etl", run_id, "wait", 1, at=utcnow() + timedelta(minutes=5))
    claim_poke(store, "etl", run_id, "wait")        # 1 again, once it is due
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from dockyard.errors import ConflictError
from dockyard.states import TaskState
from dockyard.store.api import HOSTNAME, Store, utcnow
from dockyard.store.models import DagRunModel, TaskInstanceModel, TaskRescheduleModel, TaskTryModel

UNMAPPED = -1
"""Sensors are not mapped: their task instance is the one with ``map_index`` -1."""


def _try_row(dag_id: str, run_id: str, task_id: str, try_number: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        TaskTryModel.dag_id == dag_id,
        TaskTryModel.run_id == run_id,
        TaskTryModel.task_id == task_id,
        TaskTryModel.try_number == try_number,
        TaskTryModel.map_index == UNMAPPED,
    )


def reschedule_try(
    store: Store,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    *,
    at: dt.datetime,
    poked_at: dt.datetime | None = None,
    container_id: str | None = None,
) -> bool:
    """End a poke (begun at ``poked_at``) that found its condition unmet: ``up_for_reschedule`` until ``at``.
    Ignored (False) when the task instance moved on meanwhile (cleared, or marked by a person)."""
    now = utcnow()
    with store.session() as s:
        ti = s.get(TaskInstanceModel, (dag_id, run_id, task_id, UNMAPPED), with_for_update=True)
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
                try_number=try_number,
                start_date=started,
                end_date=now,
                duration=(now - started).total_seconds(),
                reschedule_date=at,
            )
        )
        s.execute(
            sa.update(TaskTryModel)
            .where(*_try_row(dag_id, run_id, task_id, try_number))
            .values(state=TaskState.UP_FOR_RESCHEDULE.value, container_id=container_id)
        )
        return True


def claim_poke(store: Store, dag_id: str, run_id: str, task_id: str, *, job_id: int | None = None) -> int:
    """Mark a due ``up_for_reschedule`` task instance running again with the same try number (committed
    before its container exists, as :meth:`Store.claim_try`, by the scheduler job ``job_id``). Raises
    :class:`ConflictError` if it moved on or another scheduler holds it right now."""
    with store.session() as s:
        ti = s.get(TaskInstanceModel, (dag_id, run_id, task_id, UNMAPPED), with_for_update={"skip_locked": True})
        if ti is None or ti.state != TaskState.UP_FOR_RESCHEDULE.value:
            raise ConflictError(f"task {task_id!r} of run {run_id!r} is no longer waiting for its next poke")
        ti.queued_by_job_id = job_id
        ti.state, ti.hostname = TaskState.RUNNING, HOSTNAME  # start_date stays the first poke's, as in Airflow
        for name in ("end_date", "duration", "container_id", "exit_code", "next_retry_at"):
            setattr(ti, name, None)  # this poke's, once it ends
        s.execute(
            sa.update(TaskTryModel)
            .where(*_try_row(dag_id, run_id, task_id, ti.try_number))
            .values(state=TaskState.RUNNING.value, end_date=None)
        )
        return ti.try_number


def poke_history(
    store: Store, dag_id: str, run_id: str, task_id: str, *, first_try: int, try_number: int
) -> tuple[dt.datetime | None, int]:
    """When the sensor first poked in try ``first_try`` (its timeout counts from there, as in Airflow), and
    how many unmet pokes try ``try_number`` has had (its exponential backoff grows with them)."""
    where = (
        TaskRescheduleModel.dag_id == dag_id,
        TaskRescheduleModel.run_id == run_id,
        TaskRescheduleModel.task_id == task_id,
    )
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

"""The store's part of dynamic task mapping: a mapped task's instances (one row per ``map_index``) and
their results.

A task instance starts as one row with ``map_index = -1``. When a mapped task's upstream tasks are done,
the scheduler counts its elements and :meth:`MappedInstances.expand_task` turns that row into rows
``0 .. n-1`` (or skips it when there is nothing to map over, as Airflow does). Downstream tasks pull the
results of all instances as one list (:meth:`MappedInstances.mapped_xcoms`), in ``map_index`` order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dockyard.states import TaskState
from dockyard.store.models import TaskInstanceModel, TaskRescheduleModel, XComModel

NOT_MAPPED = -1


class MappedInstances:
    """Mixed into :class:`~dockyard.store.api.Store`: the queries of mapped task instances."""

    def session(self) -> AbstractContextManager[Session]:  # provided by Store
        raise NotImplementedError

    def expand_task(self, dag_id: str, run_id: str, task_id: str, count: int) -> list[TaskInstanceModel]:
        """Turn the unexpanded instance (``map_index`` -1, not yet scheduled) of a mapped task into ``count``
        scheduled instances; with ``count`` 0 it is skipped instead. Returns the new instances (none if the
        task was expanded meanwhile)."""
        with self.session() as s:
            row = s.get(TaskInstanceModel, (dag_id, run_id, task_id, NOT_MAPPED), with_for_update=True)
            if row is None or row.state is not None:
                return []
            if count == 0:
                row.state = TaskState.SKIPPED
                row.end_date = dt.datetime.now(dt.timezone.utc)
                return []
            template = {
                "max_tries": row.max_tries,
                "operator": row.operator,
                "pool": row.pool,
                "pool_slots": row.pool_slots,
                "priority_weight": row.priority_weight,
            }
            s.delete(row)
            s.flush()
            made = [
                TaskInstanceModel(
                    dag_id=dag_id,
                    run_id=run_id,
                    task_id=task_id,
                    map_index=index,
                    state=TaskState.SCHEDULED,
                    try_number=0,
                    **template,
                )
                for index in range(count)
            ]
            s.add_all(made)
            return made

    def collapse_mapped(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Undo an expansion whose instances were all cleared: one unexpanded instance again, so that the task
        expands anew from its upstream results (which may have changed), as Airflow re-expands on clear."""
        with self.session() as s:
            rows = _instances(s, dag_id, run_id, task_id, TaskInstanceModel.map_index >= 0)
            if not rows or any(row.state is not None for row in rows):
                return
            first = rows[0]
            keep = {
                "max_tries": max(row.max_tries for row in rows),
                "operator": first.operator,
                "pool": first.pool,
                "pool_slots": first.pool_slots,
                "priority_weight": first.priority_weight,
            }
            for row in rows:
                s.delete(row)
            # The new instances count their tries from the start: pokes of the old ones must not time them out.
            s.execute(
                sa.delete(TaskRescheduleModel).where(
                    TaskRescheduleModel.dag_id == dag_id,
                    TaskRescheduleModel.run_id == run_id,
                    TaskRescheduleModel.task_id == task_id,
                    TaskRescheduleModel.map_index >= 0,
                )
            )
            s.flush()
            s.add(TaskInstanceModel(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=NOT_MAPPED, **keep))

    def set_instance_states(
        self, dag_id: str, run_id: str, task_id: str, map_indexes: list[int], state: TaskState
    ) -> list[TaskInstanceModel]:
        """Move the given instances of a mapped task that are cleared or waiting for a retry to ``state``;
        returns those that changed."""
        waiting = (TaskState.UP_FOR_RETRY.value,)
        with self.session() as s:
            rows = _instances(
                s,
                dag_id,
                run_id,
                task_id,
                TaskInstanceModel.map_index.in_(map_indexes),
                sa.or_(TaskInstanceModel.state.is_(None), TaskInstanceModel.state.in_(waiting)),
            )
            for row in rows:
                row.state = state
                if state in (TaskState.SKIPPED, TaskState.UPSTREAM_FAILED):
                    row.end_date = dt.datetime.now(dt.timezone.utc)
            return rows

    def mapped_xcoms(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> list[Any]:
        """The results of a mapped task's instances in ``map_index`` order, as Airflow's lazy sequence gives
        them to a downstream task: an instance that returned None (or pushed nothing) is left out."""
        with self.session() as s:
            values = s.scalars(
                sa.select(XComModel.value)
                .where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == task_id,
                    XComModel.key == key,
                    XComModel.map_index >= 0,
                )
                .order_by(XComModel.map_index)
            )
            return [value for value in values if value is not None]

    def list_mapped(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        states: Iterable[str | None] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[TaskInstanceModel], int]:
        """One page of a mapped task's instances (``map_index`` order) and how many there are in all."""
        conditions = [
            TaskInstanceModel.dag_id == dag_id,
            TaskInstanceModel.run_id == run_id,
            TaskInstanceModel.task_id == task_id,
            TaskInstanceModel.map_index >= 0,
        ]
        if states is not None:
            wanted = list(states)
            condition = TaskInstanceModel.state.in_([str(x) for x in wanted if x is not None])
            conditions.append(sa.or_(condition, TaskInstanceModel.state.is_(None)) if None in wanted else condition)
        with self.session() as s:
            total = s.scalar(sa.select(sa.func.count()).select_from(TaskInstanceModel).where(*conditions)) or 0
            rows = s.scalars(
                sa.select(TaskInstanceModel)
                .where(*conditions)
                .order_by(TaskInstanceModel.map_index)
                .limit(limit)
                .offset(offset)
            )
            return list(rows), int(total)


def _instances(
    s: Session, dag_id: str, run_id: str, task_id: str, *conditions: sa.ColumnElement[bool]
) -> list[TaskInstanceModel]:
    """The instances of one task in one run that meet ``conditions``."""
    query = sa.select(TaskInstanceModel).where(
        TaskInstanceModel.dag_id == dag_id,
        TaskInstanceModel.run_id == run_id,
        TaskInstanceModel.task_id == task_id,
        *conditions,
    )
    return list(s.scalars(query))


def no_instance(s: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The message for a task instance that does not exist, naming the map indexes that do."""
    indexes = sorted(
        s.scalars(
            sa.select(TaskInstanceModel.map_index).where(
                TaskInstanceModel.dag_id == dag_id,
                TaskInstanceModel.run_id == run_id,
                TaskInstanceModel.task_id == task_id,
            )
        )
    )
    if not indexes:
        return f"run {run_id!r} of DAG {dag_id!r} has no task {task_id!r}"
    if indexes == [NOT_MAPPED]:
        return (
            f"task {task_id!r} of run {run_id!r} (DAG {dag_id!r}) is not mapped (or not expanded yet): "
            "leave out map_index"
        )
    shown = f"0..{indexes[-1]}" if indexes == list(range(len(indexes))) else ", ".join(map(str, indexes[:20]))
    return (
        f"task {task_id!r} of run {run_id!r} (DAG {dag_id!r}) has no map_index {map_index}; its instances are {shown}"
    )

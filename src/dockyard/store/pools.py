"""Pools beyond the everyday reads and writes of :class:`~dockyard.store.api.Store`: one pool by name, and many
pools set at once (``pools import``), in one transaction so a bad file changes nothing.

Airflow's pools also have ``include_deferred``; dockyard has no deferred tasks, so it is always False here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.states import TaskState
from dockyard.store.api import Store
from dockyard.store.models import PoolModel, TaskInstanceModel


@dataclass(frozen=True)
class PoolSpec:
    """A pool as ``pools import``/``export`` write it: slots and description (``include_deferred`` is False)."""

    name: str
    slots: int
    description: str | None = None


def get_pool(store: Store, name: str) -> PoolModel:
    with store.session() as s:
        row = s.get(PoolModel, name)
        if row is None:
            known = ", ".join(s.scalars(sa.select(PoolModel.name).order_by(PoolModel.name))) or "(none)"
            raise NotFoundError(f"no pool {name!r}; known pools: {known}")
        return row


def set_pools(store: Store, pools: list[PoolSpec]) -> None:
    """Create or change every pool of ``pools`` together (all or none)."""
    for pool in pools:
        if not pool.name or len(pool.name) > 256:
            raise InvalidInputError(f"pool name {pool.name!r} must have 1 to 256 characters")
        if pool.slots < 0:
            raise InvalidInputError(f"pool {pool.name!r}: slots must be 0 or more, not {pool.slots}")
    with store.session() as s:
        for pool in pools:
            s.merge(PoolModel(name=pool.name, slots=pool.slots, description=pool.description))


def assign_pool(store: Store, dag_id: str, run_id: str, task_ids: list[str], pool: str) -> int:
    """Put the task instances ``task_ids`` of a run that are yet to run in ``pool`` (``dags backfill --pool``
    for runs that existed before the backfill); returns how many."""
    waiting = [TaskState.SCHEDULED, TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE]
    ti = TaskInstanceModel
    with store.session() as s:
        result = s.execute(
            sa.update(ti)
            .where(ti.dag_id == dag_id, ti.run_id == run_id, ti.task_id.in_(task_ids))
            .where(sa.or_(ti.state.is_(None), ti.state.in_(waiting)))
            .values(pool=pool)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

"""Writes the HTTP API needs beyond the scheduler's own: the event log, deleting a DAG, a run's state set by a
person, and pools.

Every function is one transaction; a missing DAG, run or pool is a :class:`NotFoundError` that names it.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from dockyard.errors import ConflictError, InvalidInputError, NotFoundError
from dockyard.states import FINISHED_STATES, RunState, TaskState
from dockyard.store.api import Store, utcnow
from dockyard.store.models import (
    DagModel,
    DagRunModel,
    EventLogModel,
    PoolModel,
    TaskInstanceModel,
    TaskTryModel,
    XComModel,
)

DEFAULT_POOL = "default_pool"


class Changes:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the event log -----------------------------------------------------------------------------
    def record_event(
        self,
        event: str,
        *,
        owner: str | None,
        dag_id: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        try_number: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One line of the event log. ``extra`` must hold no secret (callers pass names and states, not values)."""
        row = EventLogModel(
            dttm=utcnow(),
            event=event[:60],
            owner=owner,
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            try_number=try_number,
            extra=json.dumps(extra, sort_keys=True, default=str) if extra else None,
        )
        with self.store.session() as s:
            s.add(row)

    # -- DAGs and runs -----------------------------------------------------------------------------
    def delete_dag(self, dag_id: str) -> None:
        """The DAG's row, runs, task instances, tries and XComs; refused while one of its tasks runs."""
        with self.store.session() as s:
            if s.get(DagModel, dag_id) is None:
                raise NotFoundError(f"no DAG {dag_id!r}; `dockyard dags list` shows the DAGs dockyard knows")
            running = s.scalar(
                sa.select(sa.func.count()).where(
                    TaskInstanceModel.dag_id == dag_id,
                    TaskInstanceModel.state.in_([TaskState.RUNNING.value, TaskState.QUEUED.value]),
                )
            )
            if running:
                raise ConflictError(
                    f"DAG {dag_id!r} has {running} task instance(s) running or queued; "
                    "mark them failed or wait for them, then delete the DAG"
                )
            for model in (XComModel, TaskTryModel, TaskInstanceModel, DagRunModel):
                s.execute(sa.delete(model).where(model.dag_id == dag_id))
            s.execute(sa.delete(DagModel).where(DagModel.dag_id == dag_id))

    def set_run_state(self, dag_id: str, run_id: str, state: RunState) -> None:
        """A person's verdict on a run, as Airflow's ``PATCH .../dagRuns/{id}``: ``success`` marks the unfinished
        task instances success; ``failed`` fails the running ones and skips those not started; ``queued`` runs
        the run again from where it is."""
        now = utcnow()
        ti = TaskInstanceModel
        with self.store.session() as s:
            run = s.scalars(
                sa.select(DagRunModel).where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id)
            ).first()
            if run is None:
                raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
            of_run = (ti.dag_id == dag_id, ti.run_id == run_id)
            unfinished = sa.or_(ti.state.is_(None), ti.state.not_in([x.value for x in FINISHED_STATES]))
            if state is RunState.SUCCESS:
                s.execute(sa.update(ti).where(*of_run, unfinished).values(state=TaskState.SUCCESS.value, end_date=now))
            elif state is RunState.FAILED:
                active = [TaskState.RUNNING.value, TaskState.QUEUED.value, TaskState.UP_FOR_RETRY.value]
                s.execute(
                    sa.update(ti)
                    .where(*of_run, ti.state.in_(active))
                    .values(state=TaskState.FAILED.value, end_date=now)
                )
                s.execute(sa.update(ti).where(*of_run, unfinished).values(state=TaskState.SKIPPED.value, end_date=now))
            run.state = state
            run.end_date = None if state is RunState.QUEUED else now
            if state is RunState.QUEUED:
                run.queued_at = now

    # -- pools -------------------------------------------------------------------------------------
    def put_pool(self, name: str, slots: int, description: str | None, *, create: bool) -> None:
        if not name or len(name) > 256:
            raise InvalidInputError("a pool's name must be 1 to 256 characters")
        if slots < -1:
            raise InvalidInputError(f"slots must be -1 (unlimited) or more, not {slots}")
        with self.store.session() as s:
            row = s.get(PoolModel, name)
            if create and row is not None:
                raise ConflictError(f"pool {name!r} already exists; PATCH /pools/{name} changes it")
            if not create and row is None:
                raise NotFoundError(f"no pool {name!r}; POST /pools creates one")
            if row is None:
                s.add(PoolModel(name=name, slots=slots, description=description))
            else:
                row.slots, row.description = slots, description

    def rename_pool(self, old: str, new: str) -> None:
        if old == DEFAULT_POOL:
            raise InvalidInputError("default_pool's name cannot be changed (every task without a pool uses it)")
        with self.store.session() as s:
            row = s.get(PoolModel, old)
            if row is None:
                raise NotFoundError(f"no pool {old!r}")
            if s.get(PoolModel, new) is not None:
                raise ConflictError(f"pool {new!r} already exists")
            s.add(PoolModel(name=new, slots=row.slots, description=row.description))
            s.delete(row)

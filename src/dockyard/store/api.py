"""``Store``: every read and write of dockyard's metadata, as named operations.

The CLI, the web app and the scheduler all go through these methods, so one rule (for instance "a
try's result counts only if the task instance is still running that try") holds everywhere.
Each method is one transaction; database errors become :class:`~dockyard.errors.StoreError`.

Example::

    store = Store.open(settings)              # migrates a new database
    run = store.create_run("etl", "manual__2024-01-31", logical_date=..., run_type="manual")
    store.list_task_instances("etl", run.run_id)
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from dockyard.errors import ConflictError, NotFoundError, StoreError
from dockyard.runids import check_run_id
from dockyard.settings import Settings
from dockyard.states import FINISHED_STATES, RunState, TaskState
from dockyard.store.db import create_db_engine, migrate, safe_url
from dockyard.store.mapped import MappedInstances, no_instance
from dockyard.store.models import (
    ApiTokenModel,
    Base,
    ConnectionModel,
    DagModel,
    DagRunModel,
    ImportErrorModel,
    MetaModel,
    PoolModel,
    TaskInstanceModel,
    TaskTryModel,
    UserModel,
    VariableModel,
    WebSessionModel,
    XComModel,
)

UTC = dt.timezone.utc
HOSTNAME = socket.gethostname()


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


@dataclass
class DagRecord:
    """What the scheduler tells the store about a parsed DAG."""

    dag_id: str
    fileloc: str
    schedule: str | None
    description: str | None
    tags: list[str]
    max_active_runs: int
    max_active_tasks: int
    is_paused_upon_creation: bool | None
    structure: dict[str, Any] = field(default_factory=dict)


class KeyedXCom(dict[str, Any]):
    """A try's result whose keys are XComs of their own too, besides ``return_value`` (Airflow's
    ``multiple_outputs=True``)."""


@dataclass
class TryResult:
    """How a try ended, as the executor reports it."""

    state: TaskState
    xcom: Any = None
    push_xcom: bool = False
    container_id: str | None = None
    exit_code: int | None = None
    error: str | None = None
    rendered: dict[str, Any] | None = None
    rendered_map_index: str | None = None
    """A mapped instance's name from ``map_index_template``."""
    pushed: dict[str, Any] | None = None
    """XComs the task pushed under keys of its own (``ti.xcom_push``), stored when the try succeeds."""


class Store(MappedInstances):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Settings, *, migrate_schema: bool = True) -> Store:
        engine = create_db_engine(settings.database_url)
        if migrate_schema:
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def url(self) -> str:
        return safe_url(str(self.engine.url))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an error."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except sa.exc.IntegrityError:
            raise
        except sa.exc.OperationalError as exc:
            raise StoreError(f"the database {self.url} failed: {exc.orig}") from exc
        finally:
            session.close()

    # -- DAGs ------------------------------------------------------------------------------------
    def sync_dags(
        self,
        records: Sequence[DagRecord],
        import_errors: dict[str, str],
        *,
        paused_at_creation: bool = False,
        keep_others: bool = False,
    ) -> None:
        """Record what a parse of the DAG folder found; DAGs no longer defined become inactive."""
        now = utcnow()
        with self.session() as s:
            existing = {d.dag_id: d for d in s.scalars(sa.select(DagModel))}
            seen = set()
            for record in records:
                seen.add(record.dag_id)
                row = existing.get(record.dag_id)
                if row is None:
                    paused = record.is_paused_upon_creation
                    row = DagModel(dag_id=record.dag_id, is_paused=paused_at_creation if paused is None else paused)
                    s.add(row)
                _fill_dag_row(row, record, now)
            if keep_others:  # a partial view (one DAG under `dags test`): leave the rest as it is
                return
            for dag_id, row in existing.items():
                if dag_id not in seen and row.is_active:
                    row.is_active = False
            s.execute(sa.delete(ImportErrorModel))
            for filename, message in import_errors.items():
                s.add(ImportErrorModel(filename=filename, message=message, timestamp=now))

    def record_parse(
        self,
        found: dict[str, tuple[list[DagRecord], list[str]]],
        *,
        parsed: Sequence[str],
        present: Sequence[str],
    ) -> None:
        """Record what a parse found: the DAGs and problems of each file in ``found``.

        Every file in ``parsed`` was parsed (one missing from ``found`` defines nothing now); the DAGs of
        parsed files that no longer define them, and of files no longer ``present``, become inactive. A
        dag_id defined by another present file is an import error of the file that came later.
        """
        now = utcnow()
        parsed_set, present_set = set(parsed), set(present)
        with self.session() as s:
            rows = {d.dag_id: d for d in s.scalars(sa.select(DagModel))}
            problems = {path: list(found_problems) for path, (_, found_problems) in found.items()}
            owner: dict[str, str] = {}
            for path in sorted(parsed_set):
                for record in found.get(path, ([], []))[0]:
                    row = rows.get(record.dag_id)
                    elsewhere = (
                        row is not None
                        and row.is_active
                        and row.fileloc != path
                        and row.fileloc in present_set
                        and row.fileloc not in parsed_set
                    )
                    first = owner.setdefault(record.dag_id, path)
                    if elsewhere or first != path:
                        other = first if first != path else row.fileloc if row is not None else "?"
                        problems.setdefault(path, []).append(
                            f"{path}: the dag_id {record.dag_id!r} is already defined in {other}"
                        )
                        continue
                    if row is None:
                        paused = record.is_paused_upon_creation
                        row = DagModel(dag_id=record.dag_id, is_paused=bool(paused))
                        s.add(row)
                        rows[record.dag_id] = row
                    _fill_dag_row(row, record, now)
            for dag_id, row in rows.items():
                gone = row.fileloc in parsed_set and owner.get(dag_id) != row.fileloc
                if row.is_active and (gone or row.fileloc not in present_set):
                    row.is_active = False
            for error in s.scalars(sa.select(ImportErrorModel)):
                if error.filename in parsed_set or error.filename not in present_set:
                    s.delete(error)
            s.flush()
            for path, messages in problems.items():
                if messages:
                    s.add(ImportErrorModel(filename=path, message="\n".join(messages), timestamp=now))

    def list_dags(self, *, active_only: bool = True) -> list[DagModel]:
        with self.session() as s:
            query = sa.select(DagModel).order_by(DagModel.dag_id)
            if active_only:
                query = query.where(DagModel.is_active.is_(True))
            return list(s.scalars(query))

    def get_dag(self, dag_id: str) -> DagModel:
        with self.session() as s:
            row = s.get(DagModel, dag_id)
            if row is None:
                known = ", ".join(s.scalars(sa.select(DagModel.dag_id).order_by(DagModel.dag_id))) or "(none)"
                raise NotFoundError(f"no DAG {dag_id!r} in the database; known DAGs: {known}")
            return row

    def set_paused(self, dag_id: str, paused: bool) -> None:
        with self.session() as s:
            row = s.get(DagModel, dag_id)
            if row is None:
                raise NotFoundError(f"no DAG {dag_id!r}; `dockyard dags list` shows the DAGs dockyard knows")
            row.is_paused = paused

    def set_next_dagrun(self, dag_id: str, when: dt.datetime | None) -> None:
        with self.session() as s:
            s.execute(sa.update(DagModel).where(DagModel.dag_id == dag_id).values(next_dagrun=when))

    def list_import_errors(self) -> list[ImportErrorModel]:
        with self.session() as s:
            return list(s.scalars(sa.select(ImportErrorModel).order_by(ImportErrorModel.filename)))

    # -- runs ------------------------------------------------------------------------------------
    def create_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        logical_date: dt.datetime,
        run_type: str,
        data_interval: tuple[dt.datetime, dt.datetime] | None = None,
        conf: dict[str, Any] | None = None,
    ) -> DagRunModel:
        """A new run in state ``queued``; an existing run id or logical date is a :class:`ConflictError`."""
        check_run_id(run_id)
        row = DagRunModel(
            dag_id=dag_id,
            run_id=run_id,
            logical_date=logical_date,
            data_interval_start=data_interval[0] if data_interval else logical_date,
            data_interval_end=data_interval[1] if data_interval else logical_date,
            run_type=run_type,
            state=RunState.QUEUED.value,
            conf=dict(conf or {}),
            queued_at=utcnow(),
            external_trigger=run_type != "scheduled",
        )
        try:
            with self.session() as s:
                s.add(row)
        except sa.exc.IntegrityError as exc:
            raise ConflictError(
                f"DAG {dag_id!r} already has a run with run_id {run_id!r} or logical date {logical_date.isoformat()}; "
                "pick another run_id or logical date"
            ) from exc
        return row

    def get_run(self, dag_id: str, run_id: str) -> DagRunModel:
        with self.session() as s:
            row = s.scalars(
                sa.select(DagRunModel).where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id)
            ).first()
            if row is None:
                raise NotFoundError(
                    f"DAG {dag_id!r} has no run {run_id!r}; `dockyard dags list-runs {dag_id}` lists them"
                )
            return row

    def list_runs(
        self, dag_id: str | None = None, *, states: Iterable[str] | None = None, limit: int = 100
    ) -> list[DagRunModel]:
        with self.session() as s:
            query = sa.select(DagRunModel).order_by(DagRunModel.logical_date.desc(), DagRunModel.id.desc()).limit(limit)
            if dag_id is not None:
                query = query.where(DagRunModel.dag_id == dag_id)
            if states is not None:
                query = query.where(DagRunModel.state.in_([str(x) for x in states]))
            return list(s.scalars(query))

    def last_scheduled_run(self, dag_id: str) -> DagRunModel | None:
        with self.session() as s:
            return s.scalars(
                sa.select(DagRunModel)
                .where(DagRunModel.dag_id == dag_id, DagRunModel.run_type == "scheduled")
                .order_by(DagRunModel.logical_date.desc())
                .limit(1)
            ).first()

    def runs_between(self, dag_id: str, start: dt.datetime, end: dt.datetime) -> list[DagRunModel]:
        """The runs of ``dag_id`` whose logical date lies in ``[start, end]`` (a backfill's range), oldest first."""
        with self.session() as s:
            return list(
                s.scalars(
                    sa.select(DagRunModel)
                    .where(DagRunModel.dag_id == dag_id, DagRunModel.logical_date.between(start, end))
                    .order_by(DagRunModel.logical_date)
                )
            )

    def start_run(self, dag_id: str, run_id: str, tasks: Sequence[dict[str, Any]]) -> None:
        """Move a queued run to running and create its task instances (``tasks``: id, operator, retries, ...)."""
        with self.session() as s:
            run = s.scalars(
                sa.select(DagRunModel).where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id)
            ).one()
            if run.state != RunState.QUEUED.value:
                return
            run.state = RunState.RUNNING
            run.start_date = utcnow()
            have = set(
                s.scalars(
                    sa.select(TaskInstanceModel.task_id).where(
                        TaskInstanceModel.dag_id == dag_id, TaskInstanceModel.run_id == run_id
                    )
                )
            )
            for task in tasks:
                if task["task_id"] in have:
                    continue
                s.add(
                    TaskInstanceModel(
                        dag_id=dag_id,
                        run_id=run_id,
                        task_id=task["task_id"],
                        state=None,
                        try_number=0,
                        max_tries=task.get("retries", 0),
                        operator=task.get("operator"),
                        pool=task.get("pool", "default_pool"),
                        pool_slots=task.get("pool_slots", 1),
                        priority_weight=task.get("priority_weight", 1),
                    )
                )

    def finish_run(self, dag_id: str, run_id: str, state: RunState) -> None:
        with self.session() as s:
            s.execute(
                sa.update(DagRunModel)
                .where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id)
                .values(state=state.value, end_date=utcnow())
            )

    def delete_run(self, dag_id: str, run_id: str) -> None:
        with self.session() as s:
            for model in (XComModel, TaskTryModel, TaskInstanceModel):
                s.execute(sa.delete(model).where(model.dag_id == dag_id, model.run_id == run_id))
            result = s.execute(sa.delete(DagRunModel).where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")

    # -- task instances --------------------------------------------------------------------------
    def list_task_instances(
        self, dag_id: str | None = None, run_id: str | None = None, *, states: Iterable[str | None] | None = None
    ) -> list[TaskInstanceModel]:
        with self.session() as s:
            query = sa.select(TaskInstanceModel).order_by(
                TaskInstanceModel.dag_id,
                TaskInstanceModel.run_id,
                TaskInstanceModel.task_id,
                TaskInstanceModel.map_index,
            )
            if dag_id is not None:
                query = query.where(TaskInstanceModel.dag_id == dag_id)
            if run_id is not None:
                query = query.where(TaskInstanceModel.run_id == run_id)
            if states is not None:
                query = query.where(_state_in(states))
            return list(s.scalars(query))

    def record_placement(
        self, dag_id: str, run_id: str, task_id: str, map_index: int, *, waiting: str | None = None, engine: str = ""
    ) -> None:
        """Where the engine pool put a task instance: the engine of its current try, or why it waits."""
        values: dict[str, Any] = {"engine": engine} if engine else {"waiting_reason": waiting}
        with self.session() as s:
            s.execute(
                sa.update(TaskInstanceModel).where(*_instance_key(dag_id, run_id, task_id, map_index)).values(**values)
            )

    def launchable(self, now: dt.datetime) -> list[tuple[DagRunModel, TaskInstanceModel]]:
        """The task instances of running runs that may start now: scheduled ones, and sensors whose next
        poke is due (what schedulers sharing the database launch from each other's runs)."""
        with self.session() as s:
            due = sa.or_(
                TaskInstanceModel.state == TaskState.SCHEDULED.value,
                sa.and_(
                    TaskInstanceModel.state == TaskState.UP_FOR_RESCHEDULE.value,
                    sa.or_(TaskInstanceModel.next_retry_at.is_(None), TaskInstanceModel.next_retry_at <= now),
                ),
            )
            rows = s.execute(
                sa.select(DagRunModel, TaskInstanceModel)
                .join(
                    TaskInstanceModel,
                    sa.and_(
                        TaskInstanceModel.dag_id == DagRunModel.dag_id, TaskInstanceModel.run_id == DagRunModel.run_id
                    ),
                )
                .where(DagRunModel.state == RunState.RUNNING.value, due)
            ).all()
            return [(run, ti) for run, ti in rows]

    def task_instances_of_running_runs(self) -> dict[tuple[str, str], list[TaskInstanceModel]]:
        """Every task instance of every running run, by ``(dag_id, run_id)``: one query for a scheduler pass."""
        with self.session() as s:
            query = (
                sa.select(TaskInstanceModel)
                .join(
                    DagRunModel,
                    sa.and_(
                        DagRunModel.dag_id == TaskInstanceModel.dag_id, DagRunModel.run_id == TaskInstanceModel.run_id
                    ),
                )
                .where(DagRunModel.state == RunState.RUNNING.value)
            )
            found: dict[tuple[str, str], list[TaskInstanceModel]] = {}
            for ti in s.scalars(query):
                found.setdefault((ti.dag_id, ti.run_id), []).append(ti)
            return found

    def past_allows(self, dag_id: str, task_ids: Sequence[str], before: dt.datetime) -> bool:
        """``depends_on_past``: True when each of ``task_ids`` succeeded or was skipped in the latest earlier
        run (or there is no earlier run, or that run does not have the task)."""
        with self.session() as s:
            run_id = s.scalars(
                sa.select(DagRunModel.run_id)
                .where(DagRunModel.dag_id == dag_id, DagRunModel.logical_date < before)
                .order_by(DagRunModel.logical_date.desc())
                .limit(1)
            ).first()
            if run_id is None:
                return True
            states = s.scalars(
                sa.select(TaskInstanceModel.state).where(
                    TaskInstanceModel.dag_id == dag_id,
                    TaskInstanceModel.run_id == run_id,
                    TaskInstanceModel.task_id.in_(list(task_ids)),
                )
            )
            return all(state in (TaskState.SUCCESS.value, TaskState.SKIPPED.value) for state in states)

    def previous_success_run(self, dag_id: str, before: dt.datetime) -> DagRunModel | None:
        """The latest successful run of ``dag_id`` before ``before`` (``prev_*_success`` in templates)."""
        with self.session() as s:
            return s.scalars(
                sa.select(DagRunModel)
                .where(
                    DagRunModel.dag_id == dag_id,
                    DagRunModel.logical_date < before,
                    DagRunModel.state == RunState.SUCCESS.value,
                )
                .order_by(DagRunModel.logical_date.desc())
                .limit(1)
            ).first()

    def paused_dag_ids(self) -> set[str]:
        with self.session() as s:
            return set(s.scalars(sa.select(DagModel.dag_id).where(DagModel.is_paused.is_(True))))

    def get_task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> TaskInstanceModel:
        with self.session() as s:
            row = s.get(TaskInstanceModel, (dag_id, run_id, task_id, map_index))
            if row is None:
                raise NotFoundError(no_instance(s, dag_id, run_id, task_id, map_index))
            return row

    def set_ti_state(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Iterable[str],
        state: TaskState | None,
        *,
        only_if: Iterable[str | None] | None = None,
        map_index: int | None = None,
    ) -> int:
        """Set the state of several task instances (e.g. upstream_failed), every instance of a mapped task or only
        the one at ``map_index``; returns how many changed."""
        ids = list(task_ids)
        if not ids:
            return 0
        with self.session() as s:
            query = sa.update(TaskInstanceModel).where(
                TaskInstanceModel.dag_id == dag_id,
                TaskInstanceModel.run_id == run_id,
                TaskInstanceModel.task_id.in_(ids),
            )
            if map_index is not None:
                query = query.where(TaskInstanceModel.map_index == map_index)
            if only_if is not None:
                query = query.where(_state_in(only_if))
            values: dict[str, Any] = {"state": state.value if state else None}
            if state in FINISHED_STATES:
                values["end_date"] = utcnow()
            return int(s.execute(query.values(**values)).rowcount)  # type: ignore[attr-defined]

    def claim_try(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, *, job_id: int | None = None
    ) -> int:
        """Mark a scheduled/queued task instance running with a new try number, before its container exists.

        Committed before the container is created, so that after a crash the labels on any container
        name a try the store knows. ``job_id`` is the scheduler that runs the try. Raises
        :class:`ConflictError` if another scheduler got there first, or holds the row right now (skipped,
        not waited for: ``FOR UPDATE SKIP LOCKED``).
        """
        now = utcnow()
        with self.session() as s:
            key = (dag_id, run_id, task_id, map_index)
            ti = s.get(TaskInstanceModel, key, with_for_update={"skip_locked": True})
            if ti is None or ti.state not in (TaskState.SCHEDULED.value, TaskState.QUEUED.value):
                raise ConflictError(f"task {task_id!r} of run {run_id!r} is no longer waiting to run")
            ti.queued_by_job_id = job_id
            ti.waiting_reason = None
            ti.try_number += 1
            ti.state = TaskState.RUNNING
            ti.start_date = now
            ti.end_date = None
            ti.duration = None
            ti.container_id = None
            ti.exit_code = None
            ti.next_retry_at = None
            ti.hostname = HOSTNAME
            s.execute(
                sa.delete(XComModel).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == task_id,
                    XComModel.map_index == map_index,
                )
            )
            s.merge(
                TaskTryModel(
                    dag_id=dag_id,
                    run_id=run_id,
                    task_id=task_id,
                    map_index=map_index,
                    try_number=ti.try_number,
                    state=TaskState.RUNNING.value,
                    start_date=now,
                    hostname=HOSTNAME,
                )
            )
            return ti.try_number

    def record_container(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, container_id: str, map_index: int = -1
    ) -> None:
        with self.session() as s:
            s.execute(
                sa.update(TaskInstanceModel)
                .where(*_instance_key(dag_id, run_id, task_id, map_index), TaskInstanceModel.try_number == try_number)
                .values(container_id=container_id)
            )
            s.execute(
                sa.update(TaskTryModel)
                .where(*_try_key(dag_id, run_id, task_id, try_number, map_index))
                .values(container_id=container_id)
            )

    def record_rendered(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, rendered: dict[str, Any], map_index: int = -1
    ) -> None:
        """The try's rendered template fields (secrets masked), kept as soon as they are known."""
        with self.session() as s:
            s.execute(
                sa.update(TaskInstanceModel)
                .where(*_instance_key(dag_id, run_id, task_id, map_index), TaskInstanceModel.try_number == try_number)
                .values(rendered=rendered)
            )

    def finish_try(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int,
        result: TryResult,
        *,
        retry_at: dt.datetime | None = None,
        map_index: int = -1,
        skips: Sequence[str] = (),
    ) -> bool:
        """Record how a try ended. Ignored (returns False) if the task instance has moved on meanwhile
        (cleared, or marked by a person), so a late result never overwrites a newer decision. ``skips`` are the
        tasks of the run that a successful branch or short circuit skips: skipped in the same transaction, so no
        scheduler pass ever sees the branch done and those tasks still free to start."""
        now = utcnow()
        with self.session() as s:
            ti = s.get(TaskInstanceModel, (dag_id, run_id, task_id, map_index), with_for_update=True)
            if ti is None or ti.try_number != try_number or ti.state != TaskState.RUNNING.value:
                self._close_try(s, (dag_id, run_id, task_id, map_index), try_number, result, now)
                return False
            state = result.state
            if state is TaskState.FAILED and retry_at is not None:
                state = TaskState.UP_FOR_RETRY
            ti.state = state
            ti.end_date = now
            ti.duration = (now - ti.start_date).total_seconds() if ti.start_date else None
            ti.container_id = result.container_id or ti.container_id
            ti.exit_code = result.exit_code
            ti.next_retry_at = retry_at
            if result.rendered is not None:
                ti.rendered = result.rendered
            if result.rendered_map_index is not None:
                ti.rendered_map_index = result.rendered_map_index
            if result.push_xcom and state is TaskState.SUCCESS:
                self._push_keys(s, (dag_id, run_id, task_id, map_index), {"return_value": result.xcom}, now)
                if isinstance(result.xcom, KeyedXCom):
                    self._push_keys(s, (dag_id, run_id, task_id, map_index), result.xcom, now)
            if result.pushed and state is TaskState.SUCCESS:  # ti.xcom_push, whatever do_xcom_push says
                self._push_keys(s, (dag_id, run_id, task_id, map_index), result.pushed, now)
            if skips and state is TaskState.SUCCESS:
                s.execute(
                    sa.update(TaskInstanceModel)
                    .where(
                        TaskInstanceModel.dag_id == dag_id,
                        TaskInstanceModel.run_id == run_id,
                        TaskInstanceModel.task_id.in_(list(skips)),
                        TaskInstanceModel.state.is_(None),
                    )
                    .values(state=TaskState.SKIPPED.value, end_date=now)
                )
            self._close_try(s, (dag_id, run_id, task_id, map_index), try_number, result, now, state=state)
            return True

    @staticmethod
    def _push_keys(s: Session, ti_key: tuple[str, str, str, int], values: dict[str, Any], now: dt.datetime) -> None:
        """Each key of ``values`` as an XCom (``return_value``, and those of a ``multiple_outputs`` result)."""
        dag_id, run_id, task_id, map_index = ti_key
        for key, value in values.items():
            s.merge(
                XComModel(
                    dag_id=dag_id,
                    run_id=run_id,
                    task_id=task_id,
                    map_index=map_index,
                    key=key,
                    value=value,
                    timestamp=now,
                )
            )

    @staticmethod
    def _close_try(
        s: Session,
        ti_key: tuple[str, str, str, int],
        try_number: int,
        result: TryResult,
        now: dt.datetime,
        state: TaskState | None = None,
    ) -> None:
        dag_id, run_id, task_id, map_index = ti_key
        s.execute(
            sa.update(TaskTryModel)
            .where(*_try_key(dag_id, run_id, task_id, try_number, map_index))
            .values(
                state=(state or result.state).value,
                end_date=now,
                container_id=result.container_id,
                exit_code=result.exit_code,
                error=result.error,
            )
        )

    def requeue_unstarted(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, reason: str, map_index: int = -1
    ) -> None:
        """A try whose container never started (the scheduler died first): give the try back, run it again."""
        with self.session() as s:
            ti = s.get(TaskInstanceModel, (dag_id, run_id, task_id, map_index), with_for_update=True)
            if ti is None or ti.try_number != try_number or ti.state != TaskState.RUNNING.value:
                return
            ti.try_number -= 1
            ti.state = TaskState.SCHEDULED
            ti.start_date = None
            s.execute(sa.delete(TaskTryModel).where(*_try_key(dag_id, run_id, task_id, try_number, map_index)))

    def list_tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[TaskTryModel]:
        with self.session() as s:
            return list(
                s.scalars(
                    sa.select(TaskTryModel)
                    .where(
                        TaskTryModel.dag_id == dag_id,
                        TaskTryModel.run_id == run_id,
                        TaskTryModel.task_id == task_id,
                        TaskTryModel.map_index == map_index,
                    )
                    .order_by(TaskTryModel.try_number)
                )
            )

    def clear(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Iterable[str],
        retries: dict[str, int] | None = None,
        *,
        map_indexes: Iterable[int] | None = None,
    ) -> int:
        """Clear task instances so they run again, each with its ``retries`` anew; their run runs again too.
        ``map_indexes`` clears only those instances of mapped tasks (default: every instance)."""
        ids = list(task_ids)
        only = sa.true() if map_indexes is None else TaskInstanceModel.map_index.in_(list(map_indexes))
        with self.session() as s:
            tis = list(
                s.scalars(
                    sa.select(TaskInstanceModel).where(
                        TaskInstanceModel.dag_id == dag_id,
                        TaskInstanceModel.run_id == run_id,
                        TaskInstanceModel.task_id.in_(ids),
                        only,
                    )
                )
            )
            for ti in tis:
                if ti.state == TaskState.RUNNING.value:
                    raise ConflictError(f"task {ti.task_id!r} is running; stop it before clearing it")
                ti.max_tries = ti.try_number + (retries or {}).get(ti.task_id, 0)
                ti.state = None
                ti.end_date = None
                ti.next_retry_at = None
            s.execute(
                sa.delete(XComModel).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id.in_(ids),
                    sa.true() if map_indexes is None else XComModel.map_index.in_(list(map_indexes)),
                )
            )
            if tis:
                s.execute(
                    sa.update(DagRunModel)
                    .where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id)
                    .values(state=RunState.RUNNING.value, end_date=None)
                )
            return len(tis)

    def running_per_task(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str, str], int]]:
        """Running or queued task instances per ``(dag_id, task_id)`` and per ``(dag_id, run_id, task_id)``
        (for ``max_active_tis_per_dag`` and ``max_active_tis_per_dagrun``)."""
        with self.session() as s:
            rows = s.execute(
                sa.select(TaskInstanceModel.dag_id, TaskInstanceModel.run_id, TaskInstanceModel.task_id).where(
                    TaskInstanceModel.state.in_((TaskState.RUNNING.value, TaskState.QUEUED.value))
                )
            ).all()
        per_task: dict[tuple[str, str], int] = {}
        per_run: dict[tuple[str, str, str], int] = {}
        for dag_id, run_id, task_id in rows:
            per_task[(dag_id, task_id)] = per_task.get((dag_id, task_id), 0) + 1
            per_run[(dag_id, run_id, task_id)] = per_run.get((dag_id, run_id, task_id), 0) + 1
        return per_task, per_run

    def running_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Running or queued task instances per DAG and used slots per pool."""
        with self.session() as s:
            busy = (TaskState.RUNNING.value, TaskState.QUEUED.value)
            per_dag = dict(
                s.execute(
                    sa.select(TaskInstanceModel.dag_id, sa.func.count())
                    .where(TaskInstanceModel.state.in_(busy))
                    .group_by(TaskInstanceModel.dag_id)
                ).all()
            )
            per_pool = dict(
                s.execute(
                    sa.select(TaskInstanceModel.pool, sa.func.sum(TaskInstanceModel.pool_slots))
                    .where(TaskInstanceModel.state.in_(busy))
                    .group_by(TaskInstanceModel.pool)
                ).all()
            )
            return {k: int(v) for k, v in per_dag.items()}, {k: int(v) for k, v in per_pool.items()}

    # -- XCom ------------------------------------------------------------------------------------
    def get_xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        with self.session() as s:
            row = s.get(XComModel, (dag_id, run_id, task_id, map_index, key))
            return None if row is None else row.value

    def list_xcoms(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[XComModel]:
        with self.session() as s:
            query = sa.select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
            if task_id is not None:
                query = query.where(XComModel.task_id == task_id)
            return list(s.scalars(query.order_by(XComModel.task_id, XComModel.map_index, XComModel.key)))

    def latest_xcom(
        self,
        dag_id: str,
        key: str,
        *,
        run_id: str,
        task_ids: Sequence[str] | None = None,
        up_to: dt.datetime | None = None,
    ) -> XComModel | None:
        """The XCom ``ti.xcom_pull`` finds, as Airflow's query: of any task when ``task_ids`` is None, in run
        ``run_id``, or (``up_to``: ``include_prior_dates``) in any run whose logical date is not later, the
        latest logical date first, then the latest pushed."""
        with self.session() as s:
            query = sa.select(XComModel).where(XComModel.dag_id == dag_id, XComModel.key == key)
            if task_ids is not None:
                query = query.where(XComModel.task_id.in_(list(task_ids)))
            if up_to is None:
                query = query.where(XComModel.run_id == run_id).order_by(XComModel.timestamp.desc())
            else:
                query = (
                    query.join(
                        DagRunModel,
                        sa.and_(DagRunModel.dag_id == XComModel.dag_id, DagRunModel.run_id == XComModel.run_id),
                    )
                    .where(DagRunModel.logical_date <= up_to)
                    .order_by(DagRunModel.logical_date.desc(), XComModel.timestamp.desc())
                )
            return s.scalars(query.limit(1)).first()

    # -- variables and pools ---------------------------------------------------------------------
    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        with self.session() as s:
            s.merge(VariableModel(key=key, val=value, description=description))

    def get_variable(self, key: str) -> str:
        with self.session() as s:
            row = s.get(VariableModel, key)
            if row is None:
                raise NotFoundError(f"no variable {key!r}; set it with `dockyard variables set {key} VALUE`")
            return row.val

    def find_variable(self, key: str) -> str | None:
        """The value of variable ``key``, or None."""
        with self.session() as s:
            row = s.get(VariableModel, key)
            return None if row is None else row.val

    def list_variables(self) -> list[VariableModel]:
        with self.session() as s:
            return list(s.scalars(sa.select(VariableModel).order_by(VariableModel.key)))

    def delete_variable(self, key: str) -> None:
        with self.session() as s:
            if s.execute(sa.delete(VariableModel).where(VariableModel.key == key)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no variable {key!r}")

    # -- connections (already encrypted by dockyard.connections) --------------------------------
    def _put(self, row: Base, *, replace: bool, exists: str) -> None:
        """Insert ``row`` (or replace the row with its key); an existing key is a ConflictError saying ``exists``."""
        try:
            with self.session() as s:
                if replace:
                    s.merge(row)
                else:
                    s.add(row)
        except sa.exc.IntegrityError as exc:
            raise ConflictError(exists) from exc

    def put_connection(self, row: ConnectionModel, *, replace: bool = False) -> None:
        self._put(
            row,
            replace=replace,
            exists=f"connection {row.conn_id!r} exists already; delete it first or choose another conn_id",
        )

    def get_connection(self, conn_id: str) -> ConnectionModel | None:
        with self.session() as s:
            return s.get(ConnectionModel, conn_id)

    def list_connections(self) -> list[ConnectionModel]:
        with self.session() as s:
            return list(s.scalars(sa.select(ConnectionModel).order_by(ConnectionModel.conn_id)))

    def delete_connection(self, conn_id: str) -> bool:
        with self.session() as s:
            return bool(s.execute(sa.delete(ConnectionModel).where(ConnectionModel.conn_id == conn_id)).rowcount)  # type: ignore[attr-defined]

    # -- users ----------------------------------------------------------------------------------
    def put_user(self, row: UserModel, *, replace: bool = False) -> None:
        self._put(row, replace=replace, exists=f"user {row.username!r} exists already")

    def get_user(self, username: str) -> UserModel | None:
        with self.session() as s:
            return s.get(UserModel, username)

    def list_users(self) -> list[UserModel]:
        with self.session() as s:
            return list(s.scalars(sa.select(UserModel).order_by(UserModel.username)))

    def delete_user(self, username: str) -> None:
        with self.session() as s:
            if s.execute(sa.delete(UserModel).where(UserModel.username == username)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no user {username!r}")

    def add_token(self, row: ApiTokenModel) -> None:
        self._put(row, replace=False, exists="that token exists already")

    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaModel, key)
            return None if row is None else row.value

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(MetaModel(key=key, value=value))

    def instance_id(self) -> str:
        """This installation's id: every container it starts carries it as ``dockyard.instance``."""
        with self.session() as s:
            row = s.get(MetaModel, "instance_id")
            if row is None:
                raise StoreError("the database has no instance_id; run `dockyard db migrate`")
            return row.value

    def pool_slots(self) -> dict[str, int]:
        with self.session() as s:
            return {p.name: p.slots for p in s.scalars(sa.select(PoolModel))}

    def set_pool(self, name: str, slots: int, description: str | None = None) -> None:
        with self.session() as s:
            s.merge(PoolModel(name=name, slots=slots, description=description))

    def list_pools(self) -> list[PoolModel]:
        with self.session() as s:
            return list(s.scalars(sa.select(PoolModel).order_by(PoolModel.name)))

    def delete_pool(self, name: str) -> None:
        if name == "default_pool":
            raise ConflictError(
                "default_pool cannot be deleted; change its slots with `dockyard pools set default_pool N`"
            )
        with self.session() as s:
            if s.execute(sa.delete(PoolModel).where(PoolModel.name == name)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no pool {name!r}")

    # -- security: token owners, web sessions, write probe, encrypted variables ------------------
    def token_owner(self, digest: str, now: dt.datetime) -> UserModel | None:
        """The user of a bearer token, if the token exists, has not expired and its user still exists
        under the same ``uid`` (a later user of the same name does not inherit it)."""
        with self.session() as s:
            token = s.get(ApiTokenModel, digest)
            if token is None or token.user_uid is None:
                return None
            if token.expires_at is not None and token.expires_at <= now:
                return None
            return s.scalars(sa.select(UserModel).where(UserModel.uid == token.user_uid)).first()

    def list_tokens(self, username: str | None = None) -> list[ApiTokenModel]:
        with self.session() as s:
            query = sa.select(ApiTokenModel).order_by(ApiTokenModel.username, ApiTokenModel.created_at)
            if username is not None:
                query = query.where(ApiTokenModel.username == username)
            return list(s.scalars(query))

    def revoke_tokens(self, digest_prefix: str) -> int:
        """Delete the tokens whose digest starts with ``digest_prefix`` (the id ``users token --list`` shows)."""
        with self.session() as s:
            query = sa.delete(ApiTokenModel).where(ApiTokenModel.digest.startswith(digest_prefix, autoescape=True))
            return int(s.execute(query).rowcount)  # type: ignore[attr-defined]

    def delete_user_and_credentials(self, username: str) -> None:
        """Delete a user with every token and web session it had, in one transaction."""
        with self.session() as s:
            user = s.get(UserModel, username)
            if user is None:
                raise NotFoundError(f"no user {username!r}; `dockyard users list` shows the users")
            s.execute(sa.delete(ApiTokenModel).where(ApiTokenModel.username == username))
            if user.uid is not None:
                s.execute(sa.delete(ApiTokenModel).where(ApiTokenModel.user_uid == user.uid))
                s.execute(sa.delete(WebSessionModel).where(WebSessionModel.user_uid == user.uid))
            s.delete(user)

    def open_web_session(self, session_id: str, user_uid: str, expires_at: dt.datetime) -> None:
        with self.session() as s:
            s.execute(sa.delete(WebSessionModel).where(WebSessionModel.expires_at <= utcnow()))
            s.add(WebSessionModel(session_id=session_id, user_uid=user_uid, created_at=utcnow(), expires_at=expires_at))

    def web_session_user(self, session_id: str, now: dt.datetime) -> UserModel | None:
        """The user of a live web session (not logged out, not expired, user not replaced)."""
        with self.session() as s:
            row = s.get(WebSessionModel, session_id)
            if row is None or row.expires_at <= now:
                return None
            return s.scalars(sa.select(UserModel).where(UserModel.uid == row.user_uid)).first()

    def close_web_session(self, session_id: str) -> None:
        with self.session() as s:
            s.execute(sa.delete(WebSessionModel).where(WebSessionModel.session_id == session_id))

    def probe_write(self) -> None:
        """Write a row and keep it: a database that is read-only or full raises :class:`StoreError`."""
        try:
            with self.session() as s:
                s.merge(MetaModel(key="health_probe", value=utcnow().isoformat()))
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"the database {self.url} cannot be written: {exc.orig}") from exc

    def put_variable(self, key: str, value: str, description: str | None, *, encrypted: bool) -> None:
        """Store a variable whose ``value`` the caller has already encrypted (``encrypted=True``)."""
        with self.session() as s:
            s.merge(VariableModel(key=key, val=value, description=description, is_encrypted=encrypted))

    def get_variable_row(self, key: str) -> VariableModel | None:
        with self.session() as s:
            return s.get(VariableModel, key)


def _instance_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions that pick one task instance's row."""
    return (
        TaskInstanceModel.dag_id == dag_id,
        TaskInstanceModel.run_id == run_id,
        TaskInstanceModel.task_id == task_id,
        TaskInstanceModel.map_index == map_index,
    )


def _try_key(
    dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions that pick one try's row."""
    return (
        TaskTryModel.dag_id == dag_id,
        TaskTryModel.run_id == run_id,
        TaskTryModel.task_id == task_id,
        TaskTryModel.map_index == map_index,
        TaskTryModel.try_number == try_number,
    )


def _state_in(states: Iterable[str | None]) -> sa.ColumnElement[bool]:
    """A filter on task instance states, where ``None`` means "not yet scheduled"."""
    wanted = list(states)
    condition: sa.ColumnElement[bool] = TaskInstanceModel.state.in_([str(x) for x in wanted if x is not None])
    if None in wanted:
        condition = sa.or_(condition, TaskInstanceModel.state.is_(None))
    return condition


def _fill_dag_row(row: DagModel, record: DagRecord, now: dt.datetime) -> None:
    row.fileloc = record.fileloc
    row.is_active = True
    row.schedule = record.schedule
    row.description = record.description
    row.tags = list(record.tags)
    row.max_active_runs = record.max_active_runs
    row.max_active_tasks = record.max_active_tasks
    row.structure = record.structure
    row.last_parsed_at = now

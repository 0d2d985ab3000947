"""Several schedulers on one database: jobs with heartbeats, claims by row lock, and takeover.

Each scheduler process is a row of ``job`` (Airflow's table) whose ``latest_heartbeat`` it renews on every
pass. What a scheduler works on is claimed with row locks that other schedulers skip rather than wait for
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL):

- a running run is decided by one scheduler at a time: :func:`claim_runs` leases it for ``lease`` seconds,
  renewed on each pass, so two schedulers never finish the same run or expand the same mapped task twice;
- a task instance's try is claimed by :meth:`Store.claim_try`, which stamps it with the job
  (``queued_by_job_id``); the scheduler that claimed a try waits for its container;
- launching (counting pool slots and ``max_active_tasks`` against every scheduler's running tries, then
  claiming) happens inside :func:`exclusive`, a PostgreSQL advisory lock, so two schedulers never fill the
  same free slot.

A job whose heartbeat is older than the health threshold (or, on the same host, whose process is gone) is
dead: :func:`take_over` marks it ``failed`` with a conditional update that one scheduler wins, and hands
that scheduler its running tries, whose containers it re-attaches by label as after a crash.

SQLite allows one scheduler (a file lock beside the database, taken by the scheduler): there, every other
job still marked running is dead by construction.

Example::

    me = register(store, "SchedulerJob")
    heartbeat(store, me)
    taken = take_over(store, me, threshold=30)    # [(dag_id, run_id, task_id, map_index), ...]
    runs = claim_runs(store, me, lease=30)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dockyard.states import RunState, TaskState
from dockyard.store.api import HOSTNAME, Store, utcnow
from dockyard.store.models import DagRunModel, JobModel, TaskInstanceModel

RUNNING = "running"
STOPPED = "success"
DEAD = "failed"
"""Airflow's job states: a job that stopped cleanly ends ``success``; one found dead ends ``failed``."""

TIKey4 = tuple[str, str, str, int]

_PROCESS_STARTED = utcnow()
"""About when this process began (this module is imported before any job of it is registered)."""


@dataclass(frozen=True)
class JobInfo:
    """One job as ``jobs check`` and the API show it."""

    id: int
    job_type: str
    state: str
    hostname: str
    pid: int
    start_date: dt.datetime
    end_date: dt.datetime | None
    latest_heartbeat: dt.datetime


def register(store: Store, job_type: str) -> int:
    """A new running job for this process; returns its id."""
    now = utcnow()
    with store.session() as s:
        row = JobModel(
            job_type=job_type,
            state=RUNNING,
            hostname=HOSTNAME,
            pid=os.getpid(),
            unixname=_unixname(),
            start_date=now,
            latest_heartbeat=now,
        )
        s.add(row)
        s.flush()
        return int(row.id)


def heartbeat(store: Store, job_id: int) -> bool:
    """Renew the job's heartbeat. False when another scheduler has meanwhile found it dead and taken its
    work over (the caller must then let go of its tries: they are someone else's now)."""
    with store.session() as s:
        changed = s.execute(
            sa.update(JobModel)
            .where(JobModel.id == job_id, JobModel.state == RUNNING)
            .values(latest_heartbeat=utcnow())
        ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def finish(store: Store, job_id: int) -> None:
    """The job stopped cleanly: its runs are released at once (its tries stay its own until taken over)."""
    now = utcnow()
    with store.session() as s:
        s.execute(
            sa.update(JobModel)
            .where(JobModel.id == job_id, JobModel.state == RUNNING)
            .values(state=STOPPED, end_date=now)
        )
        s.execute(
            sa.update(DagRunModel)
            .where(DagRunModel.claimed_by_job_id == job_id)
            .values(claimed_by_job_id=None, claimed_until=None)
        )


def take_over(
    store: Store,
    me: int,
    *,
    threshold: float,
    all_others: bool = False,
    process_alive: Callable[[int], bool] | None = None,
) -> list[TIKey4]:
    """Find the jobs that died and take their running tries: returns the task instances now ``me``'s.

    A job is dead when its heartbeat is older than ``threshold`` seconds, when it ran on this host in a
    process that no longer exists, or (``all_others``: SQLite, where only one scheduler can run) whenever it
    is not ``me``. Running tries that no job owns (from before jobs were recorded) are taken too.
    """
    alive = process_alive or _process_alive
    now = utcnow()
    stale_before = now - dt.timedelta(seconds=threshold)
    taken: list[TIKey4] = []
    with store.session() as s:
        candidates = s.execute(
            sa.select(
                JobModel.id, JobModel.hostname, JobModel.pid, JobModel.start_date, JobModel.latest_heartbeat
            ).where(JobModel.state == RUNNING, JobModel.id != me)
        ).all()

    def gone(hostname: str, pid: int, started: dt.datetime) -> bool:
        """On this host: its process has ended, or its pid is ours but it began before this process did (a
        restarted container, where the scheduler is pid 1 again)."""
        if hostname != HOSTNAME:
            return False
        return started < _PROCESS_STARTED if pid == os.getpid() else not alive(pid)

    dead = [
        job_id
        for job_id, hostname, pid, started, beat in candidates
        if all_others or beat < stale_before or gone(hostname, pid, started)
    ]
    for job_id in dead:
        with store.session() as s:
            won = s.execute(
                sa.update(JobModel)
                .where(JobModel.id == job_id, JobModel.state == RUNNING)
                .values(state=DEAD, end_date=now)
            ).rowcount  # type: ignore[attr-defined]
            if won:  # else another scheduler was first
                taken.extend(_adopt(s, me, TaskInstanceModel.queued_by_job_id == job_id))
    with store.session() as s:
        alive_jobs = sa.select(JobModel.id).where(JobModel.state == RUNNING)
        nobody = sa.or_(
            TaskInstanceModel.queued_by_job_id.is_(None), TaskInstanceModel.queued_by_job_id.not_in(alive_jobs)
        )
        taken.extend(_adopt(s, me, nobody))
    return taken


def _adopt(s: Session, me: int, owned: sa.ColumnElement[bool]) -> list[TIKey4]:
    """Give ``me`` the running tries that ``owned`` selects; rows another session holds are skipped."""
    key = (TaskInstanceModel.dag_id, TaskInstanceModel.run_id, TaskInstanceModel.task_id, TaskInstanceModel.map_index)
    query = sa.select(*key).where(TaskInstanceModel.state == TaskState.RUNNING.value, owned)
    keys = [(str(d), str(r), str(t), int(m)) for d, r, t, m in s.execute(query.with_for_update(skip_locked=True))]
    for dag_id, run_id, task_id, map_index in keys:
        s.execute(
            sa.update(TaskInstanceModel)
            .where(*(column == value for column, value in zip(key, (dag_id, run_id, task_id, map_index), strict=True)))
            .values(queued_by_job_id=me)
        )
    return keys


def owners(store: Store, keys: list[TIKey4]) -> dict[TIKey4, int | None]:
    """The job that runs each running try among ``keys`` (absent: the task instance is not running)."""
    if not keys:
        return {}
    wanted = set(keys)
    with store.session() as s:
        rows = s.execute(
            sa.select(
                TaskInstanceModel.dag_id,
                TaskInstanceModel.run_id,
                TaskInstanceModel.task_id,
                TaskInstanceModel.map_index,
                TaskInstanceModel.queued_by_job_id,
            ).where(TaskInstanceModel.state == TaskState.RUNNING.value)
        ).all()
    return {(d, r, t, m): job for d, r, t, m, job in rows if (d, r, t, m) in wanted}


def claim_runs(store: Store, me: int, *, lease: float, limit: int = 1000) -> set[tuple[str, str]]:
    """Lease the running runs that no other live scheduler holds (and renew ``me``'s): returns the
    ``(dag_id, run_id)`` pairs this scheduler decides until its next pass. Rows another scheduler is
    claiming at this moment are skipped, not waited for."""
    now = utcnow()
    with store.session() as s:
        free = sa.or_(
            DagRunModel.claimed_by_job_id.is_(None),
            DagRunModel.claimed_by_job_id == me,
            DagRunModel.claimed_until < now,
        )
        rows = s.execute(
            sa.select(DagRunModel.id, DagRunModel.dag_id, DagRunModel.run_id)
            .where(DagRunModel.state == RunState.RUNNING.value, free)
            .order_by(DagRunModel.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if rows:
            s.execute(
                sa.update(DagRunModel)
                .where(DagRunModel.id.in_([row.id for row in rows]))
                .values(claimed_by_job_id=me, claimed_until=now + dt.timedelta(seconds=lease))
            )
    return {(str(row.dag_id), str(row.run_id)) for row in rows}


@contextlib.contextmanager
def exclusive(store: Store, name: str) -> Iterator[bool]:
    """Whether this process holds the installation-wide lock ``name`` for the block (PostgreSQL: a session
    advisory lock on its own connection, released at the end or when the process dies; never waited for).
    On SQLite one scheduler runs at a time and the answer is always yes."""
    if store.engine.dialect.name != "postgresql":
        yield True
        return
    key = zlib.crc32(f"dockyard:{name}".encode())
    with store.engine.connect() as conn:
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def list_jobs(
    store: Store,
    *,
    job_type: str | None = None,
    hostname: str | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[JobInfo]:
    """The jobs with the newest heartbeats first (``jobs check``)."""
    with store.session() as s:
        query = sa.select(JobModel).order_by(JobModel.latest_heartbeat.desc()).limit(limit)
        if state is not None:
            query = query.where(JobModel.state == state)
        if job_type is not None:
            query = query.where(JobModel.job_type == job_type)
        if hostname is not None:
            query = query.where(JobModel.hostname == hostname)
        return [
            JobInfo(
                id=row.id,
                job_type=row.job_type,
                state=row.state,
                hostname=row.hostname,
                pid=row.pid,
                start_date=row.start_date,
                end_date=row.end_date,
                latest_heartbeat=row.latest_heartbeat,
            )
            for row in s.scalars(query)
        ]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: alive
        return True
    return True


def _unixname() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None

"""The scheduler: turns DAG files into runs, runs ready tasks in worker threads, records every outcome,
and after a crash picks up exactly where the last scheduler stopped.

One loop, woken by events (a try finished, a run was triggered, a DAG file changed) and otherwise by a
short heartbeat. Each pass:

1. let the DAG processor parse changed DAG files (in child processes) and read the stored DAGs;
2. create the scheduled runs that are due (timetable, ``catchup``, ``max_active_runs``, ``end_date``);
3. start queued runs (creating their task instances);
4. decide readiness by trigger rule, propagating ``upstream_failed`` and ``skipped``, and finish runs;
5. launch ready tries within ``parallelism``, ``max_active_tasks`` and pool slots, by priority.

Decisions are taken from the stored form of each DAG (:class:`~dockyard.serialized.SerializedDag`); this
process never imports a DAG file. A try's templates are rendered, and callbacks run, in child processes
(:mod:`dockyard.preparation`).

Crash safety: a try is marked running (with its new try number) and committed *before* its container
is created; the container carries the try's labels. On start, :meth:`Scheduler.reconcile` matches
running task instances with labelled containers: a running container is re-attached, an exited one is
finished from its exit code and log, a try whose container never started is run again, and a running
container that belongs to no running try is stopped and removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import logging
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from dockyard import defaults, sensing
from dockyard.branching import skipped_after
from dockyard.compat import airflow as airflow_compat
from dockyard.connection_requests import answer_connection_tests
from dockyard.connections import Connections
from dockyard.container import RunControl
from dockyard.container.control import StopReason
from dockyard.container.pool import (
    EngineDefinition,
    EngineStatus,
    Reservation,
    Resources,
    WaitingForResources,
    admit,
    load_pool,
)
from dockyard.container.pool import task_key as pool_task_key
from dockyard.container.pool_status import LimitsCache, read_statuses
from dockyard.container.runtime import Abandoned
from dockyard.container.spec import EngineConfig, engine_config
from dockyard.dataset_scheduling import DatasetScheduling
from dockyard.errors import (
    ConflictError,
    ContainerSpecError,
    DagDefinitionError,
    DockyardError,
    NotFoundError,
    StoreError,
    UnmappableResultError,
)
from dockyard.execution import TaskRunner, TryOutcome, TryRequest
from dockyard.isolation import ChildFailed
from dockyard.leftovers import remove_recorded
from dockyard.mail import Alert, AlertMailer
from dockyard.mail_task import send_email_task
from dockyard.mapping import combined_state, count, unmappable
from dockyard.params import resolve_params
from dockyard.preparation import PreparedTry, TryContext, callback_in_child, prepare_in_child, template_config
from dockyard.processor import DagProcessor
from dockyard.readiness import Decision, effective_weights, evaluate, run_outcome
from dockyard.runs import notify_scheduler, trigger_run, wake_socket_path
from dockyard.serialized import SerializedDag, SerializedTask
from dockyard.settings import Settings
from dockyard.store import FINISHED_STATES, RunState, Store, TaskState, TryResult, jobs, utcnow
from dockyard.store import engines as engine_records
from dockyard.store import sensors as sensor_records
from dockyard.store.db import sqlite_file
from dockyard.store.models import DagRunModel, TaskInstanceModel
from dockyard.store.retry import WriteAbandoned, retry_write
from dockyard.store.usage import TryUsage, record_usage
from dockyard.timetable import DataInterval
from dockyard.triggering import trigger_dag_run
from dockyard.variables import variable_source

log = logging.getLogger(__name__)

__all__ = ["Scheduler", "notify_scheduler", "scheduler_running", "trigger_run"]

LOCK_FILE = "scheduler.lock"
_FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class TIKey:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


@dataclass
class _Committed:
    """How a try's result went into the store: ``recorded`` unless the task instance had moved on, ``gone``
    when it no longer exists (its run was deleted)."""

    recorded: bool
    state: TaskState
    retry_at: dt.datetime | None
    gone: bool = False


@dataclass
class _Running:
    key: TIKey
    try_number: int
    control: RunControl


@dataclass(frozen=True)
class _Placement:
    """Where the engine pool puts a ready try: an engine (None: the task's own, or no pool to ask), or why it
    waits, or why it can never run (``refusal``: it asks for more than any engine has)."""

    engine: EngineDefinition | None = None
    waiting: str | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class _Claim:
    dag: SerializedDag
    run: DagRunModel
    key: TIKey
    try_number: int
    max_tries: int
    placement: _Placement


class Scheduler:
    """Schedules and runs the DAGs of a folder (or a fixed set of DAGs, for ``dags test``)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        runner: TaskRunner | None = None,
        dags: dict[str, SerializedDag] | None = None,
        echo: Callable[[TIKey, str], None] | None = None,
        create_scheduled_runs: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.instance = store.instance_id()
        connections = Connections(settings, store)
        variables = variable_source(settings, store)
        airflow_compat.configure(variables=variables, connections=connections.get)
        self.runner = runner or TaskRunner(
            settings, instance=self.instance, variables=variables, connections=connections
        )
        self.echo = echo
        self.create_scheduled_runs = create_scheduled_runs
        self.fixed_dags = dags is not None
        self.dags: dict[str, SerializedDag] = dict(dags or {})
        self.wake = threading.Event()
        self.results: queue.Queue[tuple[TIKey, int, TryOutcome, _Committed | None]] = queue.Queue()
        self.running: dict[TIKey, _Running] = {}
        self.pool = ThreadPoolExecutor(max_workers=settings.parallelism, thread_name_prefix="dockyard-task")
        self.callbacks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dockyard-callback")
        self._stopping = threading.Event()
        self.processor = DagProcessor(settings, store, stopping=self._stopping)
        # A user's Timetable class lives in a module next to the DAGs; the stored DAG names it by import path.
        if str(settings.dags_folder) not in sys.path:
            sys.path.append(str(settings.dags_folder))
        self._next_check: dict[str, dt.datetime | None] = {}
        self._next_shown: dict[str, dt.datetime | None] = {}
        self._weights: dict[str, dict[str, int]] = {}
        self._missing_pools: set[str] = set()
        self._last_heartbeat = 0.0
        self._last_job_beat = 0.0
        self._taken_over = threading.Event()
        self.job_id: int | None = None
        """This process's row in ``job``: its heartbeat, and the owner of the tries it runs."""
        self.several = store.engine.dialect.name == "postgresql"
        """Several schedulers may share the database (PostgreSQL); on SQLite one runs at a time."""
        self._lock_file: IO[str] | None = None
        self._wake_socket: socket.socket | None = None
        self.datasets = DatasetScheduling(store)
        self.engine_pool = load_pool(settings.engines_file, default_docker_url=settings.default_docker_url)
        if settings.engines_file is None:  # the one default engine runs tasks as DOCKYARD_ENGINE_MODE says
            self.engine_pool = tuple(
                dataclasses.replace(d, config=dataclasses.replace(d.config, mode=settings.engine_mode))
                for d in self.engine_pool
            )
        self.engine_statuses: list[EngineStatus] = []
        """The engines' last statuses (empty: admission is off, as in ``dags test`` without an engines file)."""
        self.reservations: dict[TIKey, Reservation] = {}
        self._limits = LimitsCache()
        self._waiting_shown: dict[TIKey, str] = {}
        self.mailer = AlertMailer(connections, template_config(settings)["webserver"]["base_url"])

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, *, load: bool = True) -> None:
        """Take the scheduler lock, listen for wake-ups, then (unless ``load`` is False) :meth:`load`."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        if not self.fixed_dags:
            if not self.several:
                self._take_lock()
            self._listen()
        self.job_id = self._register()
        self._last_job_beat = time.monotonic()
        threading.Thread(target=self._beat_forever, name="dockyard-heartbeat", daemon=True).start()
        if not self.fixed_dags or self.settings.engines_file is not None:
            self._read_engines()
            threading.Thread(target=self._watch_engines, name="dockyard-engines", daemon=True).start()
        if load:
            self.load()

    def load(self) -> None:
        """Parse every DAG file and reconcile with the engines (skipped when a stop came meanwhile)."""
        self.refresh_dags(force=True)
        if not self._stopping.is_set():
            self.reconcile()

    def serve_forever(self) -> None:
        """Run passes until :meth:`stop` is called (from a signal handler or another thread)."""
        while not self._stopping.is_set():
            self.step()
            self.wake.wait(defaults.DEFAULT_SCHEDULER_HEARTBEAT_SECONDS)
            self.wake.clear()

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()

    def shutdown(self, *, stop_running: bool = False) -> None:
        """Stop taking work. Running containers are left to be re-attached by the next scheduler, or
        stopped (``stop_running``) and recorded as failed (retried as their retries allow)."""
        for entry in list(self.running.values()):
            if stop_running:
                entry.control.cancel("the scheduler shut down", StopReason.SHUTDOWN)
            elif not entry.control.cancelled:  # a stop already under way is finished, not abandoned
                entry.control.abandon()
        self.pool.shutdown(wait=True)
        self.callbacks.shutdown(wait=True)  # a callback that was due still runs (each has a time limit)
        self._drain_results()
        if self._wake_socket is not None:
            self._wake_socket.close()
            with contextlib.suppress(OSError):
                wake_socket_path(self.settings.home, os.getpid()).unlink()
        if self.job_id is not None:
            with contextlib.suppress(StoreError):  # unrecorded, the job is found dead after the threshold
                jobs.finish(self.store, self.job_id)
        if self._lock_file is not None:
            self._lock_file.close()
        self.runner.runtime.close()

    def _take_lock(self) -> None:
        """SQLite allows one scheduler: a lock beside the database file (whatever DOCKYARD_HOME each uses)."""
        database = sqlite_file(self.store.engine)
        path = database.with_name(database.name + ".scheduler-lock") if database else self.settings.home / LOCK_FILE
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise ConflictError(
                f"another scheduler (pid {owner}) is running on the SQLite database {database or path}; SQLite allows "
                "one scheduler: stop that one first, or keep the metadata in PostgreSQL (DOCKYARD_DATABASE_URL="
                "postgresql+psycopg://...) to run several schedulers"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _listen(self) -> None:
        path = wake_socket_path(self.settings.home, os.getpid())
        with contextlib.suppress(OSError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        self._wake_socket = sock

        def listen() -> None:
            while True:
                try:
                    sock.recv(16)
                except OSError:
                    return
                self.wake.set()

        threading.Thread(target=listen, name="dockyard-wake", daemon=True).start()

    # -- one pass --------------------------------------------------------------------------------
    def step(self) -> None:
        """One scheduling pass; store errors are logged and the next pass tries again.

        The heartbeat is written only after a pass that succeeded, so ``/health`` reports a scheduler whose
        passes fail as unhealthy.
        """
        try:
            self.refresh_dags()
            self._drain_results()
            self._keep_alive()
            self._check_stops()
            now = utcnow()
            with jobs.exclusive(self.store, "runs") as first:  # one scheduler creates and starts runs at a time
                if first and self.create_scheduled_runs:
                    self._create_scheduled_runs(now)
                    self.datasets.create_runs(self.dags, self._active_run_counts, self.store.paused_dag_ids)
                if first:
                    self._start_queued_runs()
            mine = self._claim_runs()
            ready = self._advance_runs(now, mine)
            if self.several and mine is not None:  # what the other schedulers' runs have ready
                theirs = self.store.launchable(now)
                ready.extend(item for item in theirs if (item[0].dag_id, item[0].run_id) not in mine)
            self._launch(ready)
            if time.monotonic() - self._last_heartbeat >= defaults.DEFAULT_SCHEDULER_HEARTBEAT_SECONDS:
                self._last_heartbeat = time.monotonic()
                self.store.set_meta("scheduler_heartbeat", now.isoformat())
            answer_connection_tests(self.settings, self.store, self.runner.runtime.clients)
        except StoreError as exc:
            log.error("scheduler pass failed, retrying: %s", exc)
        except Exception:  # one bad pass (a bug) must not stop the scheduler
            log.exception("scheduler pass failed; the next pass tries again")

    def _register(self) -> int:
        """A new job for this process: a scheduler, or the one-off process of ``dags test`` / ``tasks run``."""
        return jobs.register(self.store, "LocalTaskJob" if self.fixed_dags else "SchedulerJob")

    def _beat_forever(self) -> None:
        """The job's heartbeat, from its own thread: a long pass (a slow parse, a busy database) must not
        make a live scheduler look dead to the others."""
        while not self._stopping.wait(defaults.DEFAULT_SCHEDULER_HEARTBEAT_SECONDS):
            job_id = self.job_id
            if job_id is None or self._taken_over.is_set():
                continue
            try:
                if not jobs.heartbeat(self.store, job_id):
                    self._taken_over.set()
                    self.wake.set()
            except StoreError as exc:
                log.warning("heartbeat not written: %s", exc)

    def _watch_engines(self) -> None:
        while not self._stopping.wait(defaults.DEFAULT_ENGINE_STATUS_SECONDS):
            self._read_engines()

    def _read_engines(self) -> None:
        """Read every engine's health and free resources (each read has a time limit) and show them."""
        try:
            statuses = read_statuses(self.runner.runtime.clients, self.engine_pool, self.instance, cache=self._limits)
        except Exception:  # a bug in reading must not stop admission for good: the last statuses stay
            log.exception("reading the engines' statuses failed")
            return
        for status in statuses:
            before = next((s for s in self.engine_statuses if s.name == status.name), None)
            if before is not None and before.healthy != status.healthy:
                if status.healthy:
                    log.info("engine %s answers again: back in the pool", status.name)
                else:
                    log.warning("engine %s stopped answering (%s): out of the pool", status.name, status.error)
        self.engine_statuses = statuses
        try:
            engine_records.write_statuses(self.store, statuses)
        except StoreError as exc:
            log.warning("engine statuses not shown: %s", exc)

    def _keep_alive(self) -> None:
        """Take over the work of schedulers that stopped heartbeating (and notice being taken over)."""
        if self.job_id is None or time.monotonic() - self._last_job_beat < defaults.DEFAULT_SCHEDULER_HEARTBEAT_SECONDS:
            return
        self._last_job_beat = time.monotonic()
        if self._taken_over.is_set():
            # Found dead by another scheduler (a pause longer than the threshold): our tries are its now
            # (_check_stops lets go of them); go on as a new job.
            log.error("scheduler job %d was taken over by another scheduler; going on as a new job", self.job_id)
            self.job_id = self._register()
            self._taken_over.clear()
        taken = jobs.take_over(self.store, self.job_id, threshold=self.settings.scheduler_health_check_threshold)
        if taken:
            log.warning("took over %d running tries of schedulers that stopped heartbeating", len(taken))
            self._reconcile(set(taken))

    def _claim_runs(self) -> set[tuple[str, str]] | None:
        """The running runs this scheduler decides in this pass (None: all of them, when it has no job)."""
        if self.job_id is None:
            return None
        return jobs.claim_runs(self.store, self.job_id, lease=self.settings.scheduler_health_check_threshold)

    def refresh_dags(self, *, force: bool = False) -> None:
        """Let the DAG processor parse what changed, and take the stored DAGs when anything did."""
        if self.fixed_dags:
            if force:
                self.store.sync_dags([d.to_record() for d in self.dags.values()], {}, keep_others=True)
            return
        report = self.processor.refresh(force=True) if force else self.processor.refresh_if_due()
        if report is not None:
            self.dags = report.dags
            self.datasets.dags_changed(self.dags)
            self._next_check.clear()
            self._weights.clear()

    def _create_scheduled_runs(self, now: dt.datetime) -> None:
        """Create the scheduled runs that are due. A DAG is looked at only once its next run may be due
        (or while ``max_active_runs`` holds one back), so a pass over many idle DAGs costs no query each."""
        paused = self.store.paused_dag_ids()
        active: dict[str, int] | None = None
        for dag_id, dag in self.dags.items():
            if dag_id in paused or dag.schedule is None:
                continue
            if dag_id in self._next_check:
                due = self._next_check[dag_id]
                if due is None or due > now:
                    continue
            if active is None:
                active = self._active_run_counts()
            table = dag.timetable()
            last = self.store.last_scheduled_run(dag_id)
            after = None
            if last is not None and last.data_interval_start and last.data_interval_end:
                after = DataInterval(last.data_interval_start, last.data_interval_end)
            held_back = False
            while True:
                interval = table.next_interval(
                    after=after, start_date=dag.start_date, end_date=dag.end_date, catchup=dag.catchup, now=now
                )
                if interval is None:
                    break
                if active.get(dag_id, 0) >= min(dag.max_active_runs, table.active_runs_limit or dag.max_active_runs):
                    held_back = True
                    break
                with contextlib.suppress(ConflictError):  # a manual run took that logical date
                    self.store.create_run(
                        dag_id,
                        f"scheduled__{interval.start.isoformat()}",
                        logical_date=interval.start,
                        run_type="scheduled",
                        data_interval=(interval.start, interval.end),
                    )
                    active[dag_id] = active.get(dag_id, 0) + 1
                after = interval
            upcoming = self._upcoming(dag, table, after, now)
            if held_back:
                self._next_check[dag_id] = now
            elif upcoming is not None and upcoming <= now:
                # Due by the timetable, yet no interval was: look again in a while, not on every pass.
                self._next_check[dag_id] = now + dt.timedelta(seconds=defaults.DEFAULT_IDLE_DAG_RECHECK_SECONDS)
            else:
                self._next_check[dag_id] = upcoming
            if dag_id not in self._next_shown or self._next_shown[dag_id] != upcoming:
                self.store.set_next_dagrun(dag_id, upcoming)
                self._next_shown[dag_id] = upcoming

    @staticmethod
    def _upcoming(dag: SerializedDag, table: Any, after: DataInterval | None, now: dt.datetime) -> dt.datetime | None:
        """When the next scheduled run is due; None once the next interval would start after ``end_date``."""
        if dag.end_date is not None:
            following = table.next_interval(
                after=after, start_date=dag.start_date, end_date=dag.end_date, catchup=True, now=_FAR_FUTURE
            )
            if following is None or following.start > dag.end_date:
                return None
        upcoming: dt.datetime | None = table.next_run_after(
            after=after, start_date=dag.start_date, catchup=dag.catchup, now=now
        )
        return upcoming

    def _active_run_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self.store.list_runs(states=[RunState.QUEUED, RunState.RUNNING], limit=100_000):
            counts[run.dag_id] = counts.get(run.dag_id, 0) + 1
        return counts

    def _start_queued_runs(self) -> None:
        running: dict[str, int] = {}
        queued: list[DagRunModel] = []
        for run in self.store.list_runs(states=[RunState.QUEUED, RunState.RUNNING], limit=100_000):
            if run.state == RunState.RUNNING.value:
                running[run.dag_id] = running.get(run.dag_id, 0) + 1
            elif run.dag_id in self.dags:
                queued.append(run)
        if queued and not self.fixed_dags:
            # A paused DAG's queued runs (triggered ones too) wait until it is unpaused, as in Airflow;
            # `dags test` runs its one DAG whatever its paused state.
            paused = self.store.paused_dag_ids()
            queued = [run for run in queued if run.dag_id not in paused]
        for run in sorted(queued, key=lambda r: r.logical_date):
            dag = self.dags[run.dag_id]
            if running.get(run.dag_id, 0) >= dag.max_active_runs:
                continue
            tasks = [
                {
                    "task_id": t.task_id,
                    "operator": t.operator,
                    "retries": t.retries,
                    "pool": t.pool,
                    "pool_slots": t.pool_slots,
                    "priority_weight": t.priority_weight,
                }
                for t in dag.tasks
            ]
            self.store.start_run(run.dag_id, run.run_id, tasks)
            running[run.dag_id] = running.get(run.dag_id, 0) + 1

    def _advance_runs(
        self, now: dt.datetime, mine: set[tuple[str, str]] | None = None
    ) -> list[tuple[DagRunModel, TaskInstanceModel]]:
        """Decide readiness in every running run (of ``mine``, the runs this scheduler holds, when several
        schedulers share the database); return the task instances ready to launch."""
        ready: list[tuple[DagRunModel, TaskInstanceModel]] = []
        if mine is not None and not mine:
            return ready
        all_tis = self.store.task_instances_of_running_runs()
        for run in self.store.list_runs(states=[RunState.RUNNING], limit=100_000):
            dag = self.dags.get(run.dag_id)
            if dag is None or (mine is not None and (run.dag_id, run.run_id) not in mine):
                continue
            run_tis = all_tis.get((run.dag_id, run.run_id), [])
            tis = {ti.task_id: ti for ti in run_tis if ti.map_index < 0}
            instances = _expanded(run_tis)
            if self._timed_out(dag, run, sorted({ti.task_id for ti in run_tis}), now):
                continue
            states: dict[str, str | None] = {t: ti.state for t, ti in tis.items()}
            each: dict[str, list[str | None]] = {t: [ti.state for ti in group] for t, group in instances.items()}
            states.update({t: combined_state(group) for t, group in each.items()})
            changes: dict[str, list[str]] = {}
            for task in dag.tasks:
                if task.task_id in instances:
                    ready.extend((run, ti) for ti in self._advance_mapped(run, task, instances, states, each, now))
                    continue
                ti = tis.get(task.task_id)
                if ti is None:
                    continue
                if ti.state == TaskState.UP_FOR_RESCHEDULE.value:  # a sensor whose next poke may be due
                    if ti.next_retry_at is None or ti.next_retry_at <= now:
                        ready.append((run, ti))
                    continue
                waiting_retry = ti.state == TaskState.UP_FOR_RETRY.value
                if ti.state is not None and not waiting_retry:
                    continue
                if waiting_retry and ti.next_retry_at is not None and ti.next_retry_at > now:
                    continue
                decision = evaluate(dag, task, states, each)
                if decision is Decision.RUN and task.depends_on_past:
                    # wait_for_downstream: the earlier run's immediate downstream tasks must be done too
                    watched = [task.task_id, *(task.downstream if task.wait_for_downstream else ())]
                    if not self.store.past_allows(dag.dag_id, watched, run.logical_date):
                        decision = Decision.WAIT
                if decision is Decision.WAIT:
                    continue
                if decision is Decision.RUN and task.is_mapped:
                    ready.extend((run, ti) for ti in self._expand(dag, run, task, instances, states, each))
                    continue
                new = {
                    Decision.RUN: TaskState.SCHEDULED,
                    Decision.UPSTREAM_FAILED: TaskState.UPSTREAM_FAILED,
                    Decision.SKIP: TaskState.SKIPPED,
                }[decision].value
                states[task.task_id] = new
                changes.setdefault(new, []).append(task.task_id)
            for new_state, task_ids in changes.items():
                self.store.set_ti_state(
                    run.dag_id, run.run_id, task_ids, TaskState(new_state), only_if=[None, TaskState.UP_FOR_RETRY]
                )
            for task_id, current in states.items():
                if current == TaskState.SCHEDULED.value and task_id in tis and task_id not in instances:
                    ready.append((run, tis[task_id]))
            outcome = run_outcome(states, dag.leaves)
            if outcome is not None:
                self.store.finish_run(run.dag_id, run.run_id, RunState(outcome))
                log.info("run %s of %s: %s", run.run_id, run.dag_id, outcome)
                name = "on_success_callback" if outcome == "success" else "on_failure_callback"
                if name in dag.callbacks:
                    self._callback(dag, None, name, {"run_id": run.run_id, "reason": outcome})
        return ready

    def _launch(self, ready: list[tuple[DagRunModel, TaskInstanceModel]]) -> None:
        """Claim the ready tries that fit (parallelism, ``max_active_tasks``, pools), then start them.

        Counting and claiming happen under one installation-wide lock, so that schedulers sharing the
        database never fill the same free slot twice; the tries start after it is released."""
        if not ready or len(self.running) >= self.settings.parallelism:
            return
        claimed: list[_Claim] = []
        with jobs.exclusive(self.store, "launch") as got:
            if got:
                self._claim_ready(ready, claimed)
        for c in claimed:
            self._submit(c.dag, c.run, c.key, c.try_number, max_tries=c.max_tries, placed=c.placement)

    def _claim_ready(self, ready: list[tuple[DagRunModel, TaskInstanceModel]], claimed: list[_Claim]) -> None:
        per_dag, per_pool = self.store.running_counts()
        per_task, per_run_task = self.store.running_per_task()
        slots = self.store.pool_slots()
        ready = [item for item in ready if item[0].dag_id in self.dags]
        ready.sort(key=lambda item: (-self._weight(item[0].dag_id, item[1].task_id), item[0].logical_date))
        seen: set[TIKey] = set()
        for run, ti in ready:
            if len(self.running) + len(claimed) >= self.settings.parallelism:
                return
            dag = self.dags.get(run.dag_id)
            if dag is None:
                continue
            if per_dag.get(dag.dag_id, 0) >= dag.max_active_tasks:
                continue
            task = dag.task_dict.get(ti.task_id)
            task_key, run_task_key = (run.dag_id, ti.task_id), (run.dag_id, run.run_id, ti.task_id)
            if task is not None and (
                (task.max_active_tis_per_dag is not None and per_task.get(task_key, 0) >= task.max_active_tis_per_dag)
                or (
                    task.max_active_tis_per_dagrun is not None
                    and per_run_task.get(run_task_key, 0) >= task.max_active_tis_per_dagrun
                )
            ):
                continue
            if ti.pool not in slots:
                if ti.pool not in self._missing_pools:
                    self._missing_pools.add(ti.pool)
                    log.warning(
                        "task %s.%s waits for pool %r, which does not exist: `dockyard pools set %s SLOTS`",
                        run.dag_id,
                        ti.task_id,
                        ti.pool,
                        ti.pool,
                    )
                continue
            if slots[ti.pool] - per_pool.get(ti.pool, 0) < ti.pool_slots:
                continue
            key = TIKey(run.dag_id, run.run_id, ti.task_id, ti.map_index)
            if key in self.running or key in seen:
                continue
            seen.add(key)
            placement = self._place(key, task)
            if placement.waiting is not None:
                self._show_waiting(key, placement.waiting)
                continue
            try:
                if ti.state == TaskState.UP_FOR_RESCHEDULE.value:  # the next poke: the same try number
                    try_number = sensor_records.claim_poke(
                        self.store, key.dag_id, key.run_id, key.task_id, map_index=key.map_index, job_id=self.job_id
                    )
                else:
                    try_number = self.store.claim_try(
                        key.dag_id, key.run_id, key.task_id, key.map_index, job_id=self.job_id
                    )
            except ConflictError:
                continue
            per_dag[dag.dag_id] = per_dag.get(dag.dag_id, 0) + 1
            per_pool[ti.pool] = per_pool.get(ti.pool, 0) + ti.pool_slots
            per_task[task_key] = per_task.get(task_key, 0) + 1
            per_run_task[run_task_key] = per_run_task.get(run_task_key, 0) + 1
            self._waiting_shown.pop(key, None)
            if placement.engine is not None and task is not None:
                keyed = pool_task_key(key.dag_id, key.task_id, key.run_id, try_number, key.map_index)
                self.reservations[key] = Reservation(placement.engine.name, keyed, Resources.from_dict(task.resources))
            claimed.append(_Claim(dag, run, key, try_number, ti.max_tries, placement))

    def _place(self, key: TIKey, task: SerializedTask | None) -> _Placement:
        """Admit a container task to the engine with room for what it asks (CPUs, memory, GPUs) among those
        that serve its queue; a task that names its own ``docker_url`` keeps its engine."""
        if not self.engine_statuses or task is None or not task.runs_container or task.engine.get("docker_url"):
            return _Placement()
        try:
            chosen = admit(
                Resources.from_dict(task.resources),
                frozenset(task.wanted) or defaults.DEFAULT_QUEUE,
                self.engine_statuses,
                self.reservations.values(),
                task_id=key.task_id,
            )
        except ContainerSpecError as exc:
            return _Placement(refusal=str(exc))
        if isinstance(chosen, WaitingForResources):
            return _Placement(waiting=chosen.reason)
        return _Placement(engine=next(d for d in self.engine_pool if d.name == chosen.name))

    def _show_waiting(self, key: TIKey, reason: str) -> None:
        """Show why a ready try waits (once per change: the pass runs every few seconds)."""
        if self._waiting_shown.get(key) == reason:
            return
        self._waiting_shown[key] = reason
        log.info("task %s.%s of run %s: %s", key.dag_id, key.task_id, key.run_id, reason)
        _meanwhile(
            lambda: self.store.record_placement(key.dag_id, key.run_id, key.task_id, key.map_index, waiting=reason)
        )

    def _timed_out(self, dag: SerializedDag, run: DagRunModel, task_ids: list[str], now: dt.datetime) -> bool:
        """``dagrun_timeout``, as Airflow: the run fails, its unfinished task instances become skipped, the
        containers of its running tries are stopped, and on_failure_callback is told."""
        if dag.dagrun_timeout is None or run.start_date is None:
            return False
        if (now - run.start_date).total_seconds() <= dag.dagrun_timeout:
            return False
        unfinished = [None, *(s.value for s in TaskState if s not in FINISHED_STATES)]
        self.store.set_ti_state(run.dag_id, run.run_id, task_ids, TaskState.SKIPPED, only_if=unfinished)
        self.store.finish_run(run.dag_id, run.run_id, RunState.FAILED)
        for key, entry in list(self.running.items()):
            if (key.dag_id, key.run_id) == (run.dag_id, run.run_id):
                entry.control.cancel("the run passed its dagrun_timeout", StopReason.REQUESTED)
        log.warning(
            "run %s of %s passed its dagrun_timeout of %g s: failed", run.run_id, run.dag_id, dag.dagrun_timeout
        )
        if "on_failure_callback" in dag.callbacks:
            self._callback(dag, None, "on_failure_callback", {"run_id": run.run_id, "reason": "timed_out"})
        return True

    def _weight(self, dag_id: str, task_id: str) -> int:
        if dag_id not in self._weights:
            dag = self.dags[dag_id]
            self._weights[dag_id] = effective_weights(
                {t.task_id: set(t.upstream) for t in dag.tasks},
                {t.task_id: t.priority_weight for t in dag.tasks},
                dag.tasks[0].weight_rule if dag.tasks else "downstream",
            )
        return self._weights[dag_id].get(task_id, 1)

    def _submit(
        self,
        dag: SerializedDag,
        run: DagRunModel,
        key: TIKey,
        try_number: int,
        *,
        resume: str | None = None,
        started: dt.datetime | None = None,
        max_tries: int | None = None,
        placed: _Placement | None = None,
    ) -> None:
        task = dag.task(key.task_id)
        control = RunControl()
        self.running[key] = _Running(key, try_number, control)
        timeout = None
        if task.execution_timeout is not None:
            elapsed = (utcnow() - started).total_seconds() if started else 0.0
            timeout = max(task.execution_timeout - elapsed, 0.0)
        context = TryContext(
            dag_id=dag.dag_id,
            task_id=task.task_id,
            run_id=run.run_id,
            logical_date=run.logical_date,
            try_number=try_number,
            fileloc=dag.fileloc,
            params=self._params(dag, run),
            conf=dict(run.conf or {}),
            data_interval=(run.data_interval_start or run.logical_date, run.data_interval_end or run.logical_date),
            run={
                "run_type": run.run_type,
                "state": run.state,
                "start_date": run.start_date,
                "end_date": run.end_date,
                "queued_at": run.queued_at,
                "external_trigger": run.external_trigger,
            },
            attempt={
                "start_date": started or utcnow(),
                "max_tries": max_tries,
                "hostname": _hostname(),
                "base_url": template_config(self.settings)["webserver"]["base_url"],
            },
            previous_success=self._previous_success(dag.dag_id, run.logical_date),
            map_index=key.map_index,
            triggering_events=self.datasets.events_for(run.dag_id, run.run_id, run.run_type),
        )
        if task.operator == "EmptyOperator":
            request = TryRequest(context, prepare=lambda: PreparedTry(kind="empty"), timeout=timeout)
        elif task.sensor is not None and not task.runs_container:  # a clock or store sensor pokes here
            request = self._sensor_request(context, task.sensor, timeout)
        else:
            placed = placed or _Placement()
            request = TryRequest(
                context,
                prepare=lambda: self._prepare(context, refusal=placed.refusal),
                timeout=timeout,
                engine=placed.engine.config if placed.engine is not None else None,
            )
            if placed.engine is not None:
                name = placed.engine.name
                _meanwhile(
                    lambda: self.store.record_placement(key.dag_id, key.run_id, key.task_id, key.map_index, engine=name)
                )
        self.pool.submit(self._work, request, key, try_number, control, resume)

    def _sensor_request(self, context: TryContext, spec: dict[str, Any], timeout: float | None) -> TryRequest:
        """A try of a sensor that pokes in the scheduler: templates (if any) rendered in a child, then pokes."""

        def prepare() -> PreparedTry:
            return self._prepare(context) if spec.get("prepare") else PreparedTry(kind="sensor")

        def sense(prepared: PreparedTry, say: Callable[[str], None], control: RunControl | None) -> Any:
            values = {**spec, **prepared.options}
            return sensing.poke_loop(values, context, self.store, say, control, execution_timeout=timeout)

        return TryRequest(context, prepare=prepare, timeout=timeout, sense=sense)

    def _previous_success(self, dag_id: str, before: dt.datetime) -> dict[str, Any] | None:
        run = self.store.previous_success_run(dag_id, before)
        if run is None:
            return None
        interval = (run.data_interval_start, run.data_interval_end) if run.data_interval_start else None
        return {
            "logical_date": run.logical_date,
            "data_interval": interval,
            "start_date": run.start_date,
            "end_date": run.end_date,
        }

    def _prepare(self, context: TryContext, *, refusal: str | None = None) -> PreparedTry:
        if refusal is not None:  # asks for more than any engine of the pool has: fails, never waits forever
            raise ContainerSpecError(refusal)
        try:
            return prepare_in_child(self.settings, context)
        except ChildFailed as exc:
            raise DagDefinitionError(str(exc)) from exc

    def _params(self, dag: SerializedDag, run: DagRunModel) -> dict[str, Any]:
        try:
            return resolve_params(dag.param_objects(), run.conf)
        except ValueError:
            return dict(run.conf or {})

    def _work(self, request: TryRequest, key: TIKey, try_number: int, control: RunControl, resume: str | None) -> None:
        echo = (lambda text: self.echo(key, text)) if self.echo is not None else None  # type: ignore[misc]
        committed: list[_Committed] = []

        def commit(finished: TryOutcome) -> bool:
            """The result, committed in this thread before the container is removed (retried until it is)."""
            try:
                committed.append(self._commit(key, try_number, finished))
            except WriteAbandoned as exc:
                log.error("%s; its container is left for the next scheduler", exc)
                raise Abandoned(finished.container_id) from exc
            return not committed[-1].gone

        try:
            outcome = self.runner.execute(
                request,
                echo=echo,
                control=control,
                resume_container=resume,
                on_created=lambda cid: _meanwhile(
                    lambda: self.store.record_container(
                        key.dag_id, key.run_id, key.task_id, try_number, cid, key.map_index
                    )
                ),
                on_rendered=lambda fields: _meanwhile(
                    lambda: self.store.record_rendered(
                        key.dag_id, key.run_id, key.task_id, try_number, fields, key.map_index
                    )
                ),
                on_finished=commit,
            )
            task = self.dags[key.dag_id].task_dict.get(key.task_id) if key.dag_id in self.dags else None
            if task is not None and task.flow.get("kind") == "trigger_dag_run" and outcome.state is TaskState.SUCCESS:
                outcome = trigger_dag_run(self.settings, self.store, self.dags, outcome, control)
            if task is not None and task.flow.get("kind") == "email" and outcome.state is TaskState.SUCCESS:
                outcome = send_email_task(self.mailer.connections, outcome)
        except Abandoned:
            self.results.put((key, try_number, TryOutcome(state=TaskState.RUNNING), None))
            return
        except Exception as exc:  # a bug must not lose the try: record it as failed with the reason
            log.exception("task %s try %d crashed in dockyard", key, try_number)
            outcome = TryOutcome(state=TaskState.FAILED, message=f"dockyard failed while running the task: {exc!r}")
        self.results.put((key, try_number, outcome, committed[-1] if committed else None))
        self.wake.set()

    def _drain_results(self) -> None:
        while True:
            try:
                key, try_number, outcome, committed = self.results.get_nowait()
            except queue.Empty:
                return
            self.running.pop(key, None)
            self.reservations.pop(key, None)
            if outcome.state is TaskState.RUNNING:
                continue  # let go of (shutdown, or the result could not be written): the next scheduler finishes it
            self._record(key, try_number, outcome, committed)

    def _commit(self, key: TIKey, try_number: int, outcome: TryOutcome) -> _Committed:
        """Record a try's outcome, trying again while the database fails, until it succeeds or we stop."""

        def write() -> _Committed:
            try:
                return self._write_result(key, try_number, outcome)
            except NotFoundError:  # the run was deleted meanwhile: nothing to record
                return _Committed(recorded=False, state=TaskState.FAILED, retry_at=None, gone=True)

        what = f"recording try {try_number} of {key.dag_id}.{key.task_id} (run {key.run_id})"
        return retry_write(write, stopping=self._stopping, what=what)

    def _record(self, key: TIKey, try_number: int, outcome: TryOutcome, committed: _Committed | None) -> None:
        """Commit the outcome (unless the worker did) and call the task's callback."""
        if committed is None:
            committed = self._commit(key, try_number, outcome)
        dag = self.dags.get(key.dag_id)
        task = dag.task_dict.get(key.task_id) if dag else None
        state, retry_at = committed.state, committed.retry_at
        if not committed.recorded or task is None or dag is None:
            return
        self._notify(dag, task, key, try_number, outcome, state, retry_at)

    def _write_result(self, key: TIKey, try_number: int, outcome: TryOutcome) -> _Committed:
        dag = self.dags.get(key.dag_id)
        task = dag.task_dict.get(key.task_id) if dag else None
        if dag is not None and task is not None and not task.is_mapped:
            outcome = _mappable_or_failed(dag, task.task_id, outcome)
        retry_allowed = True
        if task is not None and task.sensor is not None and outcome.state is TaskState.SUCCESS:
            instance = (key.dag_id, key.run_id, key.task_id, key.map_index)
            settled = sensing.settle_try(self.store, instance, try_number, task, outcome)
            if settled is None:  # rescheduled: nothing is held until the next poke is due
                return _Committed(recorded=False, state=TaskState.UP_FOR_RESCHEDULE, retry_at=None)
            outcome.state, outcome.xcom, retry_allowed = settled.state, settled.xcom, settled.retry
            outcome.message = outcome.message or settled.message
        skips: list[str] = []
        if dag is not None and task is not None and task.flow and outcome.state is TaskState.SUCCESS:
            try:  # a branch's or short circuit's result decides what it skips (a bad result fails it)
                skips = skipped_after(dag, task, outcome.xcom)
            except DockyardError as exc:
                outcome.state, outcome.message = TaskState.FAILED, str(exc)
        state = {TaskState.SUCCESS: TaskState.SUCCESS, TaskState.SKIPPED: TaskState.SKIPPED}.get(
            outcome.state, TaskState.FAILED
        )
        retry_at = None
        ti = self.store.get_task_instance(key.dag_id, key.run_id, key.task_id, key.map_index)
        if state is TaskState.FAILED and task is not None and not _stopped_by_person(outcome) and retry_allowed:
            if try_number <= ti.max_tries:
                retry_at = utcnow() + task.retry_delay_for(try_number)
        push = bool(
            task is not None
            and task.do_xcom_push
            and (task.runs_container or bool(task.flow))
            and outcome.state is TaskState.SUCCESS
        )
        if task is not None and task.sensor is not None:  # a sensor pushes only a PokeReturnValue's xcom_value
            push = outcome.state is TaskState.SUCCESS and outcome.xcom is not None
        result = TryResult(
            state=state,
            xcom=outcome.xcom,
            push_xcom=push,
            container_id=outcome.container_id,
            exit_code=outcome.exit_code,
            error=outcome.message or None,
            rendered=outcome.rendered or None,
            rendered_map_index=outcome.rendered_map_index,
            pushed=outcome.pushed,  # ti.xcom_push inside the container
        )
        if outcome.usage is not None:  # what the container used, on the try's row (written again on a retried write)
            used = TryUsage(outcome.usage.image_digest, outcome.usage.peak_memory_bytes, outcome.usage.cpu_time_seconds)
            record_usage(self.store, (key.dag_id, key.run_id, key.task_id, key.map_index), try_number, used)
        recorded = self.store.finish_try(
            key.dag_id,
            key.run_id,
            key.task_id,
            try_number,
            result,
            retry_at=retry_at,
            map_index=key.map_index,
            skips=skips,  # in the same transaction as the branch's success
        )
        if recorded and task is not None and dag is not None:  # what the result decides for other tasks
            if state is TaskState.SUCCESS and task.outlets:
                self.datasets.task_succeeded(dag, task.task_id, key.run_id)
        return _Committed(recorded=recorded, state=state, retry_at=retry_at)

    def _notify(
        self,
        dag: SerializedDag,
        task: Any,
        key: TIKey,
        try_number: int,
        outcome: TryOutcome,
        state: TaskState,
        retry_at: dt.datetime | None,
    ) -> None:
        mail = self.mailer.due(task, state, retry_at is not None)
        if mail is not None:
            self._mail(key, try_number, mail, outcome.message, list(task.email))
        if retry_at is not None:
            name = "on_retry_callback"
        else:
            name = {
                TaskState.SUCCESS: "on_success_callback",
                TaskState.FAILED: "on_failure_callback",
                TaskState.SKIPPED: "on_skipped_callback",
            }[state]
        if name in task.callbacks:
            info = {
                "run_id": key.run_id,
                "try_number": try_number,
                "exception": outcome.message,
                "reason": outcome.message,
            }
            self._callback(dag, task.task_id, name, info)

    def _mail(self, key: TIKey, try_number: int, state: str, error: str, to: list[str]) -> None:
        """``email_on_failure`` / ``email_on_retry``: the alert is sent off the scheduling loop."""
        ti = self.store.get_task_instance(key.dag_id, key.run_id, key.task_id)
        alert = Alert(
            dag_id=key.dag_id,
            task_id=key.task_id,
            run_id=key.run_id,
            state=state,
            try_number=try_number,
            max_tries=ti.max_tries,
            error=error,
            log_url=self.mailer.log_url(key.dag_id, key.run_id, key.task_id, try_number),
            hostname=ti.hostname or _hostname(),
        )
        self.callbacks.submit(self.mailer.alert, alert, to)

    def _callback(self, dag: SerializedDag, task_id: str | None, name: str, info: dict[str, Any]) -> None:
        """Run a user's callback in a child process, off the scheduling loop; a failure is only logged."""

        def call() -> None:
            try:
                callback_in_child(self.settings, dag.fileloc, dag.dag_id, task_id, name, info)
            except DockyardError as exc:  # a user's callback must never stop the scheduler
                log.error("%s of %s failed: %s", name, f"{dag.dag_id}.{task_id}" if task_id else dag.dag_id, exc)

        self.callbacks.submit(call)

    def _check_stops(self) -> None:
        """Stop the containers of tries that a person marked or cleared meanwhile (UI, CLI, API)."""
        if not self.running:
            return
        still = {
            (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number): ti.queued_by_job_id
            for ti in self.store.list_task_instances(states=[TaskState.RUNNING])
        }
        for key, entry in list(self.running.items()):
            found = (key.dag_id, key.run_id, key.task_id, key.map_index, entry.try_number)
            if found not in still:
                entry.control.cancel("stopped on request", StopReason.REQUESTED)
            elif still[found] is not None and still[found] != self.job_id and not entry.control.cancelled:
                log.warning("try %d of %s was taken over by job %s: letting go", entry.try_number, key, still[found])
                entry.control.abandon()

    # -- crash recovery --------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Take over the tries of schedulers that are gone (on SQLite: every other one) and match them with
        the containers they left on the engines."""
        if self.job_id is None:
            self.job_id = self._register()
        taken = jobs.take_over(
            self.store,
            self.job_id,
            threshold=self.settings.scheduler_health_check_threshold,
            all_others=not self.several and not self.fixed_dags,
        )
        self._reconcile(set(taken))

    def _reconcile(self, taken: set[tuple[str, str, str, int]]) -> None:
        """Re-attach, finish or run again the running tries ``taken``; stop containers that belong to no
        running try at all (the tries of live schedulers are theirs, and so are their containers)."""
        everything = self.store.list_task_instances(states=[TaskState.RUNNING])
        running = [ti for ti in everything if (ti.dag_id, ti.run_id, ti.task_id, ti.map_index) in taken]
        others = {
            (ti.dag_id, ti.run_id, ti.task_id, str(ti.map_index), str(ti.try_number))
            for ti in everything
            if (ti.dag_id, ti.run_id, ti.task_id, ti.map_index) not in taken
        }
        engines: dict[EngineConfig, None] = {engine_config({}, self.settings.default_docker_url): None}
        engines.update({definition.config: None for definition in self.engine_pool})
        for ti in running:
            owner = self.dags.get(ti.dag_id, None)
            op = owner.task_dict.get(ti.task_id) if owner else None
            if op is not None and op.runs_container:
                with contextlib.suppress(DockyardError):
                    engines[engine_config(dict(op.engine), self.settings.default_docker_url)] = None
        containers = self._labelled_containers(list(engines))
        mine = {(ti.dag_id, ti.run_id, ti.task_id, str(ti.map_index), str(ti.try_number)) for ti in running}
        if any(c["state"] == "created" for k, c in containers.items() if k in mine):
            # A scheduler that died right after asking the engine to start a container leaves it "created"
            # for a moment while the start is still under way: look again before calling it never started.
            time.sleep(defaults.DEFAULT_CREATED_GRACE_SECONDS)
            containers = self._labelled_containers(list(engines))
        claimed: set[tuple[str, str, str, str, str]] = set(others)
        for ti in running:
            key4 = (ti.dag_id, ti.run_id, ti.task_id, str(ti.map_index), str(ti.try_number))
            dag = self.dags.get(ti.dag_id)
            if dag is None or ti.task_id not in dag.task_dict:
                log.warning(
                    "task %s.%s of run %s is running but its DAG is not loaded; leaving it",
                    ti.dag_id,
                    ti.task_id,
                    ti.run_id,
                )
                claimed.add(key4)
                continue
            match = containers.get(key4)
            operator = dag.task_dict[ti.task_id]
            if not operator.runs_container:
                self.store.requeue_unstarted(ti.dag_id, ti.run_id, ti.task_id, ti.try_number, "restart", ti.map_index)
                continue
            if match is None or match["state"] == "created":
                if match is not None:
                    self.runner.runtime.discard(match["engine"], match["id"])
                log.info(
                    "try %d of %s.%s never started its match: running it again",
                    ti.try_number,
                    ti.dag_id,
                    ti.task_id,
                )
                self.store.requeue_unstarted(
                    ti.dag_id,
                    ti.run_id,
                    ti.task_id,
                    ti.try_number,
                    "the scheduler stopped before the match started",
                    ti.map_index,
                )
                claimed.add(key4)
                continue
            claimed.add(key4)
            run = self.store.get_run(ti.dag_id, ti.run_id)
            log.info(
                "re-attaching to %s match %s of %s.%s try %d",
                match["state"],
                match["id"][:12],
                ti.dag_id,
                ti.task_id,
                ti.try_number,
            )
            self._submit(
                dag,
                run,
                TIKey(ti.dag_id, ti.run_id, ti.task_id, ti.map_index),
                ti.try_number,
                resume=match["id"],
                started=ti.start_date,
                max_tries=ti.max_tries,
            )
        for key4, container in containers.items():
            if key4 not in claimed and container["state"] in ("running", "created", "paused", "restarting"):
                log.info("stopping container %s: it belongs to no running task try %s", container["id"][:12], key4)
                self.runner.runtime.discard(container["engine"], container["id"])
        remove_recorded(self.store, self.runner.runtime, [c for k, c in containers.items() if k not in claimed])

    def _labelled_containers(self, engines: list[EngineConfig]) -> dict[tuple[str, str, str, str, str], dict[str, Any]]:
        """This installation's containers on ``engines``, by (dag, run, task, map index, try) label."""
        containers: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        for engine in engines:
            try:
                found = self.runner.runtime.managed_containers(engine, self.instance)
            except DockyardError as exc:
                log.warning("cannot list dockyard's containers on %s: %s", engine.urls, exc)
                continue
            for container in found:
                labels = container["labels"]
                key = (
                    labels.get("dockyard.dag_id", ""),
                    labels.get("dockyard.run_id", ""),
                    labels.get("dockyard.task_id", ""),
                    labels.get("dockyard.map_index", "-1"),
                    labels.get("dockyard.try_number", ""),
                )
                container["engine"] = engine
                containers[key] = container
        return containers

    # -- dynamic task mapping ---------------------------------------------------------------------
    def _expand(
        self,
        dag: SerializedDag,
        run: DagRunModel,
        task: SerializedTask,
        instances: dict[str, list[TaskInstanceModel]],
        states: dict[str, str | None],
        each: dict[str, list[str | None]],
    ) -> list[TaskInstanceModel]:
        """A mapped task whose upstream tasks are done: one scheduled instance per element of what it maps
        over (none, and the task skipped, for an empty input, as in Airflow). Returns the new instances."""

        def result(task_id: str, key: str) -> Any:
            upstream = dag.task_dict.get(task_id)
            if upstream is not None and upstream.is_mapped:
                return self.store.mapped_xcoms(run.dag_id, run.run_id, task_id, key)
            return self.store.get_xcom(run.dag_id, run.run_id, task_id, key)

        try:
            size = count(task.mapping or {}, result, limit=defaults.DEFAULT_MAX_MAP_LENGTH)
        except UnmappableResultError as exc:
            log.error("task %s.%s of run %s cannot expand: %s", run.dag_id, task.task_id, run.run_id, exc)
            self.store.set_ti_state(run.dag_id, run.run_id, [task.task_id], TaskState.FAILED, only_if=[None])
            states[task.task_id] = TaskState.FAILED.value
            return []
        made = self.store.expand_task(run.dag_id, run.run_id, task.task_id, size)
        if size == 0:
            log.info("task %s.%s of run %s maps over nothing: skipped", run.dag_id, task.task_id, run.run_id)
            states[task.task_id] = TaskState.SKIPPED.value
        if made:
            instances[task.task_id] = made
            each[task.task_id] = [TaskState.SCHEDULED.value] * len(made)
            states[task.task_id] = TaskState.SCHEDULED.value
        return made

    def _advance_mapped(
        self,
        run: DagRunModel,
        task: SerializedTask,
        instances: dict[str, list[TaskInstanceModel]],
        states: dict[str, str | None],
        each: dict[str, list[str | None]],
        now: dt.datetime,
    ) -> list[TaskInstanceModel]:
        """The instances of an expanded mapped task that are ready to run (the scheduled ones, those cleared
        or due for a retry whose trigger rule allows it, and sensor instances due for their next poke); cleared
        entirely, it expands anew."""
        group = instances[task.task_id]
        if all(ti.state is None for ti in group):
            self.store.collapse_mapped(run.dag_id, run.run_id, task.task_id)
            states[task.task_id] = None
            return []
        waiting = [
            ti
            for ti in group
            if ti.state is None
            or (ti.state == TaskState.UP_FOR_RETRY.value and (ti.next_retry_at is None or ti.next_retry_at <= now))
        ]
        if waiting:
            decision = evaluate(self.dags[run.dag_id], task, states, each)
            if decision is not Decision.WAIT:
                new = {
                    Decision.RUN: TaskState.SCHEDULED,
                    Decision.UPSTREAM_FAILED: TaskState.UPSTREAM_FAILED,
                    Decision.SKIP: TaskState.SKIPPED,
                }[decision]
                changed = self.store.set_instance_states(
                    run.dag_id, run.run_id, task.task_id, [ti.map_index for ti in waiting], new
                )
                for ti in changed:
                    group[[g.map_index for g in group].index(ti.map_index)] = ti
        each[task.task_id] = [ti.state for ti in group]
        states[task.task_id] = combined_state(each[task.task_id])
        rescheduled = TaskState.UP_FOR_RESCHEDULE.value  # an instance of a sensor whose next poke is due
        due = [ti for ti in group if ti.state == rescheduled and (ti.next_retry_at is None or ti.next_retry_at <= now)]
        return [ti for ti in group if ti.state == TaskState.SCHEDULED.value] + due

    # -- helpers for dags test -------------------------------------------------------------------
    def run_until_done(self, dag_id: str, run_id: str, *, on_pass: Callable[[], None] | None = None) -> str:
        """Run passes until the run has finished; returns its state."""
        while True:
            self.step()
            if on_pass is not None:
                on_pass()
            run = self.store.get_run(dag_id, run_id)
            if run.state in (RunState.SUCCESS.value, RunState.FAILED.value) and not self.running:
                return run.state
            self.wake.wait(0.5)
            self.wake.clear()

    # -- helper for tasks run ---------------------------------------------------------------------
    def run_task_instance(self, dag: SerializedDag, run: DagRunModel, task_id: str) -> TaskInstanceModel:
        """Run one queued task instance now, in this process, and record its try as the scheduler would
        (``dockyard tasks run``): retries, XCom and callbacks included. The caller has checked its dependencies
        and moved it to ``queued``, a state the scheduler's passes leave alone."""
        key = TIKey(dag.dag_id, run.run_id, task_id)
        self.dags[dag.dag_id] = dag
        try_number = self.store.claim_try(key.dag_id, key.run_id, key.task_id, job_id=self.job_id)
        ti = self.store.get_task_instance(key.dag_id, key.run_id, key.task_id)
        self._submit(dag, run, key, try_number, max_tries=ti.max_tries)
        while key in self.running:
            self.wake.wait(0.5)
            self.wake.clear()
            self._drain_results()
        return self.store.get_task_instance(key.dag_id, key.run_id, key.task_id)


@functools.cache
def _hostname() -> str:
    """This machine's name as Airflow gives ``ti.hostname`` (asked once: a reverse lookup costs milliseconds)."""
    return socket.getfqdn()


def _expanded(tis: list[TaskInstanceModel]) -> dict[str, list[TaskInstanceModel]]:
    """The instances of each expanded mapped task (``map_index`` 0, 1, ...), in order."""
    found: dict[str, list[TaskInstanceModel]] = {}
    for ti in sorted((ti for ti in tis if ti.map_index >= 0), key=lambda ti: ti.map_index):
        found.setdefault(ti.task_id, []).append(ti)
    return found


def _mappable_or_failed(dag: SerializedDag, task_id: str, outcome: TryOutcome) -> TryOutcome:
    """A successful try whose result a downstream task maps over, but cannot (not a list or dict, too
    long), fails, as in Airflow: the task that returned it is the one to fix."""
    if outcome.state is not TaskState.SUCCESS:
        return outcome
    mappings = [dag.task_dict[t].mapping for t in dag.task(task_id).downstream if t in dag.task_dict]
    reason = unmappable(mappings, task_id, outcome.xcom, limit=defaults.DEFAULT_MAX_MAP_LENGTH)
    if reason is None:
        return outcome
    return dataclasses.replace(outcome, state=TaskState.FAILED, message=reason, xcom=None)


def _meanwhile(write: Callable[[], None]) -> None:
    """A write made while a try runs (its container id, its rendered fields): shown early, and written again
    with the result, so a database that fails now must not fail the try nor strand its container."""
    try:
        write()
    except StoreError as exc:
        log.warning("not recorded yet (it is with the result): %s", exc)


def _stopped_by_person(outcome: TryOutcome) -> bool:
    return outcome.stop_reason is StopReason.REQUESTED


@contextlib.contextmanager
def scheduler_running(settings: Settings, store: Store, **kwargs: Any) -> Iterator[Scheduler]:
    """A started scheduler serving in a background thread (for tests and ``standalone``)."""
    scheduler = Scheduler(settings, store, **kwargs)
    scheduler.start()
    thread = threading.Thread(target=scheduler.serve_forever, name="dockyard-scheduler", daemon=True)
    thread.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()
        thread.join(timeout=30)
        scheduler.shutdown()

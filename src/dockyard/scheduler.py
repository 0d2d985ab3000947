"""The scheduler: turns DAG files into runs, runs ready tasks in worker threads, records every outcome,
and after a crash picks up exactly where the last scheduler stopped.

One loop, woken by events (a try finished, a run was triggered, a DAG file changed) and otherwise by a
short heartbeat. Each pass:

1. re-parse the DAG folder if a file changed, and record DAGs and import errors in the store;
2. create the scheduled runs that are due (timetable, ``catchup``, ``max_active_runs``, ``end_date``);
3. start queued runs (creating their task instances);
4. decide readiness by trigger rule, propagating ``upstream_failed`` and ``skipped``, and finish runs;
5. launch ready tries within ``parallelism``, ``max_active_tasks`` and pool slots, by priority.

Crash safety: a try is marked running (with its new try number) and committed *before* its container
is created; the container carries the try's labels. On start, :meth:`Scheduler.reconcile` matches
running task instances with labelled containers: a running container is re-attached, an exited one is
finished from its exit code and log, a try whose container never started is run again, and a running
container that belongs to no running try is stopped and removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from dockyard import defaults
from dockyard.compat import airflow as airflow_compat
from dockyard.connections import Connections
from dockyard.container import RunControl
from dockyard.container.runtime import Abandoned
from dockyard.container.spec import EngineConfig, engine_config
from dockyard.dag import DAG
from dockyard.dagbag import DagBag
from dockyard.errors import ConflictError, DockyardError, InvalidParamsError, StoreError
from dockyard.execution import TaskRunner, TryOutcome, TryRequest, TryState
from dockyard.masking import masker_for_try
from dockyard.operators.base import BaseOperator
from dockyard.operators.docker import DockerOperator
from dockyard.params import Param, resolve_params
from dockyard.readiness import Counts, Decision, decide, effective_weights, run_outcome
from dockyard.settings import Settings
from dockyard.store import DagRecord, RunState, Store, TaskState, TryResult, utcnow
from dockyard.store.models import DagRunModel, TaskInstanceModel
from dockyard.templating import neighbour_dates
from dockyard.timetable import DataInterval, timetable_for
from dockyard.variables import variable_source

log = logging.getLogger(__name__)

WAKE_SOCKET = "scheduler.sock"
LOCK_FILE = "scheduler.lock"


@dataclass(frozen=True)
class TIKey:
    dag_id: str
    run_id: str
    task_id: str


@dataclass
class _Running:
    key: TIKey
    try_number: int
    control: RunControl


def notify_scheduler(settings: Settings) -> None:
    """Wake a scheduler on this machine at once (best effort: it also polls)."""
    path = settings.home / WAKE_SOCKET
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(b"1", str(path))


def dag_record(dag: DAG) -> DagRecord:
    """What the store keeps of a DAG: its settings and its structure (for the CLI and the UI)."""
    tasks = []
    for task in dag.topological_sort():
        tasks.append(
            {
                "task_id": task.task_id,
                "operator": type(task).__name__,
                "upstream": sorted(task.upstream_task_ids),
                "trigger_rule": task.trigger_rule.value,
                "retries": task.retries,
                "image": getattr(task, "image", None),
                "command": _shown(getattr(task, "command", None)),
                "pool": task.pool,
                "doc_md": task.doc_md,
            }
        )
    params = {
        k: (v.describe() if isinstance(v, Param) else {"value": v, "description": None, "schema": {}})
        for k, v in dag.params.items()
    }
    schedule = timetable_for(dag.schedule, dag.start_date).description if dag.schedule is not None else None
    masker = masker_for_try()  # secrets the DAG file registered with mask_secret stay out of the store
    return DagRecord(
        dag_id=dag.dag_id,
        fileloc=dag.fileloc or "",
        schedule=schedule,
        description=dag.description,
        tags=list(dag.tags),
        max_active_runs=dag.max_active_runs,
        max_active_tasks=dag.max_active_tasks,
        is_paused_upon_creation=dag.is_paused_upon_creation,
        structure=masker.mask_value(
            {
                "tasks": tasks,
                "params": params,
                "doc_md": dag.doc_md,
                "start_date": dag.start_date.isoformat() if dag.start_date else None,
                "catchup": dag.catchup,
            }
        ),
    )


def _shown(value: Any) -> Any:
    return value if isinstance(value, (str, list, type(None))) else repr(value)


def trigger_run(
    settings: Settings,
    store: Store,
    dag: DAG,
    *,
    conf: dict[str, Any] | None = None,
    logical_date: dt.datetime | None = None,
    run_id: str | None = None,
    run_type: str = "manual",
) -> DagRunModel:
    """Create a manual run (validating ``conf`` against the DAG's params) and wake the scheduler."""
    try:
        resolve_params(dag.params, conf)
    except ValueError as exc:
        raise InvalidParamsError(f"DAG {dag.dag_id!r}: {exc}") from None
    when = logical_date or utcnow()
    interval = timetable_for(dag.schedule, dag.start_date).manual_interval(when)
    run = store.create_run(
        dag.dag_id,
        run_id or f"{run_type}__{when.isoformat()}",
        logical_date=when,
        run_type=run_type,
        data_interval=(interval.start, interval.end),
        conf=conf,
    )
    notify_scheduler(settings)
    return run


class Scheduler:
    """Schedules and runs the DAGs of a folder (or a fixed set of DAGs, for ``dags test``)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        runner: TaskRunner | None = None,
        dags: dict[str, DAG] | None = None,
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
        self.dags: dict[str, DAG] = dict(dags or {})
        self.wake = threading.Event()
        self.results: queue.Queue[tuple[TIKey, int, TryOutcome]] = queue.Queue()
        self.running: dict[TIKey, _Running] = {}
        self.pool = ThreadPoolExecutor(max_workers=settings.parallelism, thread_name_prefix="dockyard-task")
        self._mtimes: dict[str, float] = {}
        self._last_scan = 0.0
        self._missing_pools: set[str] = set()
        self._last_heartbeat = 0.0
        self._stopping = threading.Event()
        self._lock_file: IO[str] | None = None
        self._wake_socket: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Take the scheduler lock, listen for wake-ups, load DAGs and reconcile with the engine."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        if not self.fixed_dags:
            self._take_lock()
            self._listen()
        self.refresh_dags(force=True)
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
                entry.control.cancel("the scheduler shut down")
            else:
                entry.control.abandon()
        self.pool.shutdown(wait=True)
        self._drain_results()
        if self._wake_socket is not None:
            self._wake_socket.close()
            with contextlib.suppress(OSError):
                (self.settings.home / WAKE_SOCKET).unlink()
        if self._lock_file is not None:
            self._lock_file.close()
        self.runner.runtime.close()

    def _take_lock(self) -> None:
        path = self.settings.home / LOCK_FILE
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise ConflictError(
                f"another scheduler (pid {owner}) is running on {self.settings.home}; stop it first, or give this one "
                "its own DOCKYARD_HOME"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _listen(self) -> None:
        path = self.settings.home / WAKE_SOCKET
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
        """One scheduling pass; store errors are logged and the next pass tries again."""
        try:
            self.refresh_dags()
            self._drain_results()
            self._check_stops()
            now = utcnow()
            if self.create_scheduled_runs:
                self._create_scheduled_runs(now)
            self._start_queued_runs()
            ready = self._advance_runs(now)
            self._launch(ready)
            if time.monotonic() - self._last_heartbeat >= defaults.DEFAULT_SCHEDULER_HEARTBEAT_SECONDS:
                self._last_heartbeat = time.monotonic()
                self.store.set_meta("scheduler_heartbeat", now.isoformat())
        except StoreError as exc:
            log.error("scheduler pass failed, retrying: %s", exc)
        except Exception:  # one bad pass (a bug, a DAG that misbehaves) must not stop the scheduler
            log.exception("scheduler pass failed; the next pass tries again")

    def refresh_dags(self, *, force: bool = False) -> None:
        """Re-parse the DAG folder when a file was added, changed or removed."""
        if self.fixed_dags:
            if force:
                self.store.sync_dags([dag_record(d) for d in self.dags.values()], {}, keep_others=True)
            return
        now = time.monotonic()
        if not force and now - self._last_scan < defaults.DEFAULT_DAG_FOLDER_SCAN_SECONDS:
            return
        self._last_scan = now
        folder = self.settings.dags_folder
        mtimes = {}
        if folder.is_dir():
            for path in folder.rglob("*.py"):
                with contextlib.suppress(OSError):
                    mtimes[str(path)] = path.stat().st_mtime
        if not force and mtimes == self._mtimes:
            return
        self._mtimes = mtimes
        bag = DagBag.from_folder(folder)
        self.dags = bag.dags
        self.store.sync_dags([dag_record(d) for d in bag.dags.values()], bag.import_errors)
        log.info("parsed %s: %d DAG(s), %d import error(s)", folder, len(bag.dags), len(bag.import_errors))

    def _create_scheduled_runs(self, now: dt.datetime) -> None:
        rows = {d.dag_id: d for d in self.store.list_dags()}
        active = self._active_run_counts()
        for dag_id, dag in self.dags.items():
            row = rows.get(dag_id)
            if row is None or row.is_paused or dag.schedule is None:
                continue
            table = timetable_for(dag.schedule, dag.start_date)
            last = self.store.last_scheduled_run(dag_id)
            after = None
            if last is not None and last.data_interval_start and last.data_interval_end:
                after = DataInterval(last.data_interval_start, last.data_interval_end)
            while active.get(dag_id, 0) < dag.max_active_runs:
                interval = table.next_interval(
                    after=after, start_date=dag.start_date, end_date=dag.end_date, catchup=dag.catchup, now=now
                )
                if interval is None:
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
            self.store.set_next_dagrun(
                dag_id, table.next_run_after(after=after, start_date=dag.start_date, catchup=dag.catchup, now=now)
            )

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
        for run in sorted(queued, key=lambda r: r.logical_date):
            dag = self.dags[run.dag_id]
            if running.get(run.dag_id, 0) >= dag.max_active_runs:
                continue
            tasks = [
                {
                    "task_id": t.task_id,
                    "operator": type(t).__name__,
                    "retries": t.retries,
                    "pool": t.pool,
                    "pool_slots": t.pool_slots,
                    "priority_weight": t.priority_weight,
                }
                for t in dag.tasks
            ]
            self.store.start_run(run.dag_id, run.run_id, tasks)
            running[run.dag_id] = running.get(run.dag_id, 0) + 1

    def _advance_runs(self, now: dt.datetime) -> list[tuple[DagRunModel, TaskInstanceModel]]:
        """Decide readiness in every running run; return the task instances ready to launch."""
        ready: list[tuple[DagRunModel, TaskInstanceModel]] = []
        for run in self.store.list_runs(states=[RunState.RUNNING], limit=100_000):
            dag = self.dags.get(run.dag_id)
            if dag is None:
                continue
            tis = {ti.task_id: ti for ti in self.store.list_task_instances(run.dag_id, run.run_id)}
            states: dict[str, str | None] = {t: ti.state for t, ti in tis.items()}
            changes: dict[str, list[str]] = {}
            for task in dag.topological_sort():
                ti = tis.get(task.task_id)
                if ti is None:
                    continue
                waiting_retry = ti.state == TaskState.UP_FOR_RETRY.value
                if ti.state is not None and not waiting_retry:
                    continue
                if waiting_retry and ti.next_retry_at is not None and ti.next_retry_at > now:
                    continue
                counts = Counts.of(states.get(u) for u in task.upstream_task_ids)
                decision = decide(task.trigger_rule, counts)
                if decision is Decision.RUN and task.depends_on_past and not self._past_ok(dag, task, run):
                    decision = Decision.WAIT
                if decision is Decision.WAIT:
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
                if current == TaskState.SCHEDULED.value:
                    ready.append((run, tis[task_id]))
            leaves = [t.task_id for t in dag.tasks if not t.downstream_task_ids]
            outcome = run_outcome(states, leaves)
            if outcome is not None:
                self.store.finish_run(run.dag_id, run.run_id, RunState(outcome))
                log.info("run %s of %s: %s", run.run_id, run.dag_id, outcome)
                callback = dag.on_success_callback if outcome == "success" else dag.on_failure_callback
                self._callback(callback, {"dag": dag, "run_id": run.run_id, "dag_run": run, "reason": outcome})
        return ready

    def _past_ok(self, dag: DAG, task: BaseOperator, run: DagRunModel) -> bool:
        earlier = [r for r in self.store.list_runs(dag.dag_id, limit=1000) if r.logical_date < run.logical_date]
        if not earlier:
            return True
        previous = max(earlier, key=lambda r: r.logical_date)
        try:
            ti = self.store.get_task_instance(dag.dag_id, previous.run_id, task.task_id)
        except DockyardError:
            return True
        return ti.state in (TaskState.SUCCESS.value, TaskState.SKIPPED.value)

    def _launch(self, ready: list[tuple[DagRunModel, TaskInstanceModel]]) -> None:
        if not ready:
            return
        per_dag, per_pool = self.store.running_counts()
        slots = self.store.pool_slots()
        weights: dict[str, dict[str, int]] = {}
        for dag_id, dag in self.dags.items():
            weights[dag_id] = effective_weights(
                {t.task_id: t.upstream_task_ids for t in dag.tasks},
                {t.task_id: t.priority_weight for t in dag.tasks},
                dag.tasks[0].weight_rule if dag.tasks else "downstream",
            )
        ready.sort(key=lambda item: (-weights.get(item[0].dag_id, {}).get(item[1].task_id, 1), item[0].logical_date))
        for run, ti in ready:
            if len(self.running) >= self.settings.parallelism:
                return
            dag = self.dags[run.dag_id]
            if per_dag.get(dag.dag_id, 0) >= dag.max_active_tasks:
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
            key = TIKey(run.dag_id, run.run_id, ti.task_id)
            if key in self.running:
                continue
            try:
                try_number = self.store.claim_try(key.dag_id, key.run_id, key.task_id)
            except ConflictError:
                continue
            per_dag[dag.dag_id] = per_dag.get(dag.dag_id, 0) + 1
            per_pool[ti.pool] = per_pool.get(ti.pool, 0) + ti.pool_slots
            self._submit(dag, run, key, try_number)

    def _submit(
        self,
        dag: DAG,
        run: DagRunModel,
        key: TIKey,
        try_number: int,
        *,
        resume: str | None = None,
        started: dt.datetime | None = None,
    ) -> None:
        task = dag.get_task(key.task_id)
        control = RunControl()
        self.running[key] = _Running(key, try_number, control)
        timeout = None
        if task.execution_timeout is not None:
            elapsed = (utcnow() - started).total_seconds() if started else 0.0
            timeout = max(task.execution_timeout.total_seconds() - elapsed, 0.0)
        request = TryRequest(
            dag=dag,
            task=task,
            logical_date=run.logical_date,
            run_id=run.run_id,
            try_number=try_number,
            params=self._params(dag, run),
            conf=run.conf,
            data_interval=(run.data_interval_start or run.logical_date, run.data_interval_end or run.logical_date),
            xcom_lookup=lambda d, t, k: self.store.get_xcom(d, run.run_id, t, k),
            extra_context=self._extra_context(dag, run),
            timeout=timeout,
        )
        self.pool.submit(self._work, request, key, try_number, control, resume)

    def _params(self, dag: DAG, run: DagRunModel) -> dict[str, Any]:
        try:
            return resolve_params(dag.params, run.conf)
        except ValueError:
            return dict(run.conf or {})

    def _extra_context(self, dag: DAG, run: DagRunModel) -> dict[str, Any]:
        table = timetable_for(dag.schedule, dag.start_date)
        extra = neighbour_dates(table.prev_logical_date(run.logical_date), table.next_logical_date(run.logical_date))
        extra["dag_run_conf"] = run.conf
        return extra

    def _work(self, request: TryRequest, key: TIKey, try_number: int, control: RunControl, resume: str | None) -> None:
        echo = (lambda text: self.echo(key, text)) if self.echo is not None else None  # type: ignore[misc]
        try:
            outcome = self.runner.execute(
                request,
                echo=echo,
                control=control,
                resume_container=resume,
                on_created=lambda cid: self.store.record_container(
                    key.dag_id, key.run_id, key.task_id, try_number, cid
                ),
                on_rendered=lambda fields: self.store.record_rendered(
                    key.dag_id, key.run_id, key.task_id, try_number, fields
                ),
            )
        except Abandoned:
            return
        except Exception as exc:  # a bug must not lose the try: record it as failed with the reason
            log.exception("task %s try %d crashed in dockyard", key, try_number)
            outcome = TryOutcome(state=TryState.FAILED, message=f"dockyard failed while running the task: {exc!r}")
        self.results.put((key, try_number, outcome))
        self.wake.set()

    def _drain_results(self) -> None:
        while True:
            try:
                key, try_number, outcome = self.results.get_nowait()
            except queue.Empty:
                return
            self.running.pop(key, None)
            self._record(key, try_number, outcome)

    def _record(self, key: TIKey, try_number: int, outcome: TryOutcome) -> None:
        dag = self.dags.get(key.dag_id)
        task = dag.task_dict.get(key.task_id) if dag else None
        state = {TryState.SUCCESS: TaskState.SUCCESS, TryState.SKIPPED: TaskState.SKIPPED}.get(
            outcome.state, TaskState.FAILED
        )
        retry_at = None
        if state is TaskState.FAILED and task is not None and not _stopped_by_person(outcome):
            ti = self.store.get_task_instance(key.dag_id, key.run_id, key.task_id)
            if try_number <= ti.max_tries:
                retry_at = utcnow() + _retry_delay(task, try_number)
        push = bool(
            task is not None
            and task.do_xcom_push
            and isinstance(task, DockerOperator)
            and outcome.state is TryState.SUCCESS
        )
        result = TryResult(
            state=state,
            xcom=outcome.xcom,
            push_xcom=push,
            container_id=outcome.container_id,
            exit_code=outcome.exit_code,
            error=outcome.message or None,
            rendered=outcome.rendered or None,
        )
        recorded = self.store.finish_try(key.dag_id, key.run_id, key.task_id, try_number, result, retry_at=retry_at)
        if not recorded or task is None or dag is None:
            return
        context = {
            "dag": dag,
            "task": task,
            "run_id": key.run_id,
            "try_number": try_number,
            "exception": outcome.error,
            "reason": outcome.message,
        }
        if retry_at is not None:
            self._callback(task.on_retry_callback, context)
        elif state is TaskState.SUCCESS:
            self._callback(task.on_success_callback, context)
        elif state is TaskState.FAILED:
            self._callback(task.on_failure_callback, context)
        elif state is TaskState.SKIPPED:
            self._callback(task.on_skipped_callback, context)

    @staticmethod
    def _callback(callback: Any, context: dict[str, Any]) -> None:
        for function in callback if isinstance(callback, list) else [callback]:
            if function is None:
                continue
            try:
                function(context)
            except Exception:  # a user's callback must never stop the scheduler
                log.exception("callback %r failed", function)

    def _check_stops(self) -> None:
        """Stop the containers of tries that a person marked or cleared meanwhile (UI, CLI, API)."""
        if not self.running:
            return
        still = {
            (ti.dag_id, ti.run_id, ti.task_id, ti.try_number)
            for ti in self.store.list_task_instances(states=[TaskState.RUNNING])
        }
        for key, entry in list(self.running.items()):
            if (key.dag_id, key.run_id, key.task_id, entry.try_number) not in still:
                entry.control.cancel("stopped on request")

    # -- crash recovery --------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Match running task instances with the containers their tries left on the engines."""
        running = self.store.list_task_instances(states=[TaskState.RUNNING])
        engines: dict[EngineConfig, None] = {engine_config({}, self.settings.default_docker_url): None}
        for ti in running:
            owner = self.dags.get(ti.dag_id, None)
            op = owner.task_dict.get(ti.task_id) if owner else None
            if isinstance(op, DockerOperator):
                with contextlib.suppress(DockyardError):
                    engines[engine_config(op.spec_values(), self.settings.default_docker_url)] = None
        containers: dict[tuple[str, str, str, str], dict[str, Any]] = {}
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
                    labels.get("dockyard.try_number", ""),
                )
                container["engine"] = engine
                containers[key] = container
        claimed: set[tuple[str, str, str, str]] = set()
        for ti in running:
            key4 = (ti.dag_id, ti.run_id, ti.task_id, str(ti.try_number))
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
            if not isinstance(operator, DockerOperator):
                self.store.requeue_unstarted(ti.dag_id, ti.run_id, ti.task_id, ti.try_number, "restart")
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
                TIKey(ti.dag_id, ti.run_id, ti.task_id),
                ti.try_number,
                resume=match["id"],
                started=ti.start_date,
            )
        for key4, container in containers.items():
            if key4 not in claimed and container["state"] in ("running", "created", "paused", "restarting"):
                log.info("stopping container %s: it belongs to no running task try %s", container["id"][:12], key4)
                self.runner.runtime.discard(container["engine"], container["id"])

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


def _stopped_by_person(outcome: TryOutcome) -> bool:
    return "stopped on request" in outcome.message


def _retry_delay(task: BaseOperator, try_number: int) -> dt.timedelta:
    delay = task.retry_delay
    if task.retry_exponential_backoff:
        delay = delay * (2 ** max(try_number - 1, 0))
    if task.max_retry_delay is not None and delay > task.max_retry_delay:
        delay = task.max_retry_delay
    return delay


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

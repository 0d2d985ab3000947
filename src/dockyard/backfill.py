"""Backfill: run a DAG for every logical date its schedule has between two dates, as Airflow 2's
``airflow dags backfill`` does, in this process.

- The dates are the schedule's own, from ``start`` to ``end`` inclusive, whatever ``catchup`` and the DAG's
  paused state; a DAG without a time schedule has none ("No run dates were found").
- A date without a run gets a new run of type ``backfill`` (``backfill__<logical date>``). A date that has a run
  already is taken as it is: a successful run is done, a queued or running one is waited for, a failed one counts
  as failed unless ``rerun_failed_tasks`` clears its failed and upstream-failed tasks. ``reset_dagruns`` clears
  every task of the runs in the range first, so they run again.
- At most ``max_active_runs`` (default: the DAG's) of these runs are active at once; new runs are created as
  earlier ones finish, in date order, or latest first with ``run_backwards`` (refused when a task
  ``depends_on_past``, as in Airflow). Once the limit was reached, a freed place is taken ``delay_on_limit``
  seconds later.
- A failed run stops the backfill: no further date is started (the active runs finish) unless
  ``continue_on_failures``.
- Airflow's other flags: :func:`select_tasks` keeps the tasks a ``task_regex`` finds (and what they need
  upstream, unless ``ignore_dependencies``, which also runs them without waiting for each other);
  ``mark_success`` marks every task successful without running it; ``pool`` puts every task in that pool;
  ``disable_retry`` fails a task at its first failed try; ``ignore_first_depends_on_past`` lets the first date
  run without looking at the run before it (the other dates wait until it is done).
- A backfill whose remaining task instances can never run stops, as Airflow's does ("BackfillJob is
  deadlocked"): typically a ``depends_on_past`` task whose run before failed. Once nothing runs or waits for a
  slot, a retry or a reschedule, and no further date may start, :func:`run_backfill` marks its unfinished runs
  failed and raises :class:`BackfillDeadlockError` naming each blocked task instance and why it cannot run.

Example::

    plan = plan_backfill(store, dag, start, end, BackfillOptions(rerun_failed_tasks=True))
    states = run_backfill(settings, store, dag, plan, BackfillOptions(), on_finished=print)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import defaults
from dockyard.errors import BackfillDeadlockError, DagDefinitionError, InvalidInputError
from dockyard.scheduler import Scheduler
from dockyard.serialized import SerializedDag, SerializedTask
from dockyard.settings import Settings
from dockyard.states import FINISHED_STATES, RunState, TaskState
from dockyard.store import Store
from dockyard.store.models import DagRunModel
from dockyard.store.pools import assign_pool
from dockyard.timetable import DataInterval

BACKFILL = "backfill"
"""The ``run_type`` of the runs a backfill creates (Airflow 2's ``backfill``)."""

_FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)


class Action(str, enum.Enum):
    """What the backfill does with one logical date."""

    CREATE = "create"
    """No run yet: a new backfill run."""
    DONE = "done"
    """A successful run: nothing to do."""
    WAIT = "wait"
    """A queued or running run: it is run to its end."""
    FAILED = "failed"
    """A failed run, left as it is (``--rerun-failed-tasks`` runs its failed tasks again)."""
    RERUN = "rerun"
    """A failed run whose failed and upstream-failed tasks run again."""
    RESET = "reset"
    """A run whose tasks were all cleared (``--reset-dagruns``)."""


@dataclass(frozen=True)
class BackfillOptions:
    reset_dagruns: bool = False
    rerun_failed_tasks: bool = False
    run_backwards: bool = False
    max_active_runs: int | None = None
    conf: dict[str, Any] | None = None
    """The conf of the runs the backfill creates."""
    mark_success: bool = False
    pool: str | None = None
    continue_on_failures: bool = False
    disable_retry: bool = False
    delay_on_limit: float = defaults.DEFAULT_BACKFILL_DELAY_ON_LIMIT_SECONDS
    ignore_first_depends_on_past: bool = False
    task_regex: str | None = None
    ignore_dependencies: bool = False


@dataclass(frozen=True)
class Step:
    """One logical date of the backfill and what happens to it."""

    interval: DataInterval
    action: Action
    run_id: str

    @property
    def logical_date(self) -> dt.datetime:
        return self.interval.start


def backfill_intervals(dag: SerializedDag, start: dt.datetime, end: dt.datetime) -> list[DataInterval]:
    """The data intervals of the scheduled runs whose logical date lies in ``[start, end]``."""
    if end < start:
        raise DagDefinitionError(
            f"backfill of {dag.dag_id!r}: the end date {end.isoformat()} is before the start date {start.isoformat()}"
        )
    table = dag.timetable()
    found: list[DataInterval] = []
    after: DataInterval | None = None
    while True:
        interval = table.next_interval(after=after, start_date=start, end_date=end, catchup=True, now=_FAR_FUTURE)
        if interval is None or interval.start > end or (found and interval.start <= found[-1].start):
            return found
        found.append(interval)
        after = interval


def plan_backfill(
    store: Store, dag: SerializedDag, start: dt.datetime, end: dt.datetime, options: BackfillOptions
) -> list[Step]:
    """What the backfill will do for each date, in the order it will do it (nothing is changed yet)."""
    if options.run_backwards:
        waiting = [t.task_id for t in dag.tasks if t.depends_on_past]
        if waiting:
            raise DagDefinitionError(
                f"You cannot backfill {dag.dag_id!r} backwards because one or more tasks depend_on_past: "
                f"{', '.join(waiting)}; drop --run-backwards"
            )
    intervals = backfill_intervals(dag, start, end)
    existing = {run.logical_date: run for run in store.runs_between(dag.dag_id, start, end)}
    steps = [_step(interval, existing.get(interval.start), options) for interval in intervals]
    return list(reversed(steps)) if options.run_backwards else steps


def _step(interval: DataInterval, run: DagRunModel | None, options: BackfillOptions) -> Step:
    if run is None:
        return Step(interval, Action.CREATE, f"{BACKFILL}__{interval.start.isoformat()}")
    if options.reset_dagruns:
        return Step(interval, Action.RESET, run.run_id)
    if run.state == RunState.SUCCESS.value:
        return Step(interval, Action.DONE, run.run_id)
    if run.state == RunState.FAILED.value:
        return Step(interval, Action.RERUN if options.rerun_failed_tasks else Action.FAILED, run.run_id)
    return Step(interval, Action.WAIT, run.run_id)


def select_tasks(dag: SerializedDag, task_regex: str | None, ignore_dependencies: bool = False) -> SerializedDag:
    """The DAG the backfill runs: with ``task_regex``, the tasks whose id it finds (``re.search``) and every task
    they need upstream; with ``ignore_dependencies``, the found tasks alone, none waiting for another (Airflow's
    ``partial_subset`` and ``ignore_task_deps``)."""
    if task_regex is None and not ignore_dependencies:
        return dag
    try:
        pattern = re.compile(task_regex or "")
    except re.error as exc:
        raise InvalidInputError(f"--task-regex {task_regex!r} is not a regular expression ({exc})") from None
    found = {t.task_id for t in dag.tasks if pattern.search(t.task_id)}
    if not found:
        raise InvalidInputError(
            f"There are no tasks that match {task_regex!r} regex. Nothing to run, exiting... "
            f"(the tasks of {dag.dag_id} are {', '.join(dag.task_ids)})"
        )
    keep = set(found)
    if not ignore_dependencies:
        stack = list(found)
        while stack:
            for upstream in dag.task_dict[stack.pop()].upstream:
                if upstream not in keep:
                    keep.add(upstream)
                    stack.append(upstream)
    tasks = tuple(
        dataclasses.replace(
            t,
            upstream=() if ignore_dependencies else tuple(u for u in t.upstream if u in keep),
            downstream=() if ignore_dependencies else tuple(d for d in t.downstream if d in keep),
        )
        for t in dag.tasks
        if t.task_id in keep
    )
    return dataclasses.replace(dag, tasks=tasks)


def check_pool(store: Store, options: BackfillOptions) -> None:
    """``--pool`` must name a pool that exists (Airflow: "Unknown pool")."""
    if options.pool is None:
        return
    pools = store.pool_slots()
    if options.pool not in pools:
        raise InvalidInputError(
            f"Unknown pool: {options.pool!r}; the pools are {', '.join(sorted(pools))} "
            f"(`dockyard pools set {options.pool} SLOTS` creates it)"
        )


def _as_run(task: SerializedTask, options: BackfillOptions) -> SerializedTask:
    """One task as the backfill's scheduler runs it: in ``--pool``, without retries, or marked successful."""
    changes: dict[str, Any] = {}
    if options.pool is not None:
        changes["pool"] = options.pool
    if options.disable_retry:
        changes["retries"] = 0
    if options.mark_success:  # finished in the scheduler as an EmptyOperator is: success, no container
        changes.update(
            operator="EmptyOperator", runs_container=False, flow={}, sensor=None, mapping=None, callbacks=(), outlets=()
        )
    return dataclasses.replace(task, **changes) if changes else task


_TASK_ROW = ("task_id", "operator", "retries", "pool", "pool_slots", "priority_weight")
"""What :meth:`Store.start_run` takes of each task to create a run's task instances."""


def _task_rows(dag: SerializedDag) -> list[dict[str, Any]]:
    """The task instances a new run gets, with the operators of the DAG file (the run then shows them as they
    are even while ``--mark-success`` finishes them without running)."""
    return [{name: getattr(task, name) for name in _TASK_ROW} for task in dag.tasks]


def prepare_existing(store: Store, dag: SerializedDag, plan: list[Step], options: BackfillOptions | None = None) -> int:
    """Clear what ``--reset-dagruns`` and ``--rerun-failed-tasks`` run again (of the chosen tasks); returns how
    many task instances."""
    if options is not None:
        dag = select_tasks(dag, options.task_regex, options.ignore_dependencies)
    retries = {t.task_id: 0 if options and options.disable_retry else t.retries for t in dag.tasks}
    cleared = 0
    for step in plan:
        if step.action is Action.RESET:
            cleared += store.clear(dag.dag_id, step.run_id, dag.task_ids, retries)
        elif step.action is Action.RERUN:
            # and those that never ran: a deadlocked backfill leaves them without a state in a failed run
            again = [
                ti.task_id
                for ti in store.list_task_instances(
                    dag.dag_id, step.run_id, states=[TaskState.FAILED, TaskState.UPSTREAM_FAILED, None]
                )
            ]
            cleared += store.clear(dag.dag_id, step.run_id, again, retries)
    return cleared


def run_backfill(
    settings: Settings,
    store: Store,
    dag: SerializedDag,
    plan: list[Step],
    options: BackfillOptions,
    *,
    on_finished: Callable[[Step, str], None] | None = None,
) -> dict[str, str]:
    """Run the plan to its end in this process; returns each step's run's final state by run_id (a date the
    backfill did not start after a failure has none)."""
    limit = max(1, options.max_active_runs or dag.max_active_runs)
    scheduler = Scheduler(settings, store, dags={dag.dag_id: dag}, create_scheduled_runs=False)
    states: dict[str, str] = {}
    for step in plan:
        if step.action in (Action.DONE, Action.FAILED):
            states[step.run_id] = RunState.SUCCESS.value if step.action is Action.DONE else RunState.FAILED.value
            if on_finished is not None:
                on_finished(step, states[step.run_id])
    pending = [step for step in plan if step.run_id not in states]
    if not options.continue_on_failures and RunState.FAILED.value in states.values():
        pending = []  # Airflow stops a backfill whose task instances failed
    active: list[Step] = []
    chosen = select_tasks(dag, options.task_regex, options.ignore_dependencies)
    as_run = dataclasses.replace(chosen, tasks=tuple(_as_run(t, options) for t in chosen.tasks), max_active_runs=limit)
    # -I: the first date runs alone, its tasks not looking at the run before it; the rest wait until it is done.
    first_alone = bool(options.ignore_first_depends_on_past and pending and any(t.depends_on_past for t in dag.tasks))
    relaxed = dataclasses.replace(
        as_run,
        tasks=tuple(dataclasses.replace(t, depends_on_past=False, wait_for_downstream=False) for t in as_run.tasks),
    )
    not_before = 0.0
    stuck: frozenset[tuple[str, str, int]] = frozenset()
    stuck_passes = 0
    scheduler.start()
    # The backfill's own limit, tasks and options hold here, not the DAG's (Airflow's --max-active-runs, -t, ...);
    # set after start, so the stored DAG stays as its file defines it.
    scheduler.dags[dag.dag_id] = relaxed if first_alone else as_run
    try:
        while pending or active:
            while pending and len(active) < limit and time.monotonic() >= not_before and not (first_alone and active):
                step = pending.pop(0)
                if step.action is Action.CREATE:
                    store.create_run(
                        dag.dag_id,
                        step.run_id,
                        logical_date=step.logical_date,
                        run_type=BACKFILL,
                        data_interval=(step.interval.start, step.interval.end),
                        conf=options.conf,
                    )
                    if options.mark_success:
                        store.start_run(dag.dag_id, step.run_id, _task_rows(chosen))
                elif options.pool is not None:  # a run from before keeps its task instances: they move pool
                    assign_pool(store, dag.dag_id, step.run_id, chosen.task_ids, options.pool)
                active.append(step)
            scheduler.step()
            for step in list(active):
                state = store.get_run(dag.dag_id, step.run_id).state
                if state in FINISHED_RUN_STATES and not _running(scheduler, step.run_id):
                    if len(active) >= limit and pending:
                        not_before = time.monotonic() + options.delay_on_limit
                    active.remove(step)
                    states[step.run_id] = state
                    if first_alone:
                        first_alone = False
                        scheduler.dags[dag.dag_id] = as_run
                    if state == RunState.FAILED.value and not options.continue_on_failures:
                        pending = []
                    if on_finished is not None:
                        on_finished(step, state)
            may_start = pending and len(active) < limit and not (first_alone and active)
            if active and not may_start:
                # the same task instances stuck over several scheduling passes: a task that had just finished,
                # or a pass that failed on the database, had its chance to move them
                now_stuck = _stuck(store, scheduler, dag.dag_id, active)
                stuck_passes = stuck_passes + 1 if now_stuck and now_stuck == stuck else 0
                stuck = now_stuck
                if stuck_passes >= _DEADLOCK_PASSES:
                    raise _deadlocked(store, scheduler.dags[dag.dag_id], active, stuck, len(pending))
            if active or pending:
                scheduler.wake.wait(0.5)
                scheduler.wake.clear()
    finally:
        scheduler.shutdown(stop_running=True)
    return states


FINISHED_RUN_STATES = (RunState.SUCCESS.value, RunState.FAILED.value)

_DEADLOCK_PASSES = 2
"""How many more scheduling passes must find the same task instances stuck before the backfill is deadlocked."""


def _running(scheduler: Scheduler, run_id: str) -> bool:
    return any(key.run_id == run_id for key in scheduler.running)


_FINISHED = frozenset(state.value for state in FINISHED_STATES)
_PAST_OK = (TaskState.SUCCESS.value, TaskState.SKIPPED.value)


def _stuck(store: Store, scheduler: Scheduler, dag_id: str, active: list[Step]) -> frozenset[tuple[str, str, int]]:
    """The task instances of the active runs that have no state while nothing else can move: none runs, none
    is scheduled, queued or waiting for a retry or a reschedule (empty when something can)."""
    if any(_running(scheduler, step.run_id) for step in active):
        return frozenset()
    found: set[tuple[str, str, int]] = set()
    for step in active:
        if store.get_run(dag_id, step.run_id).state != RunState.RUNNING.value:
            return frozenset()  # queued: its task instances are made at its start
        tis = store.list_task_instances(dag_id, step.run_id)
        if not tis or any(ti.state is not None and ti.state not in _FINISHED for ti in tis):
            return frozenset()
        found |= {(step.run_id, ti.task_id, ti.map_index) for ti in tis if ti.state is None}
    return frozenset(found)


def _deadlocked(
    store: Store, dag: SerializedDag, active: list[Step], stuck: frozenset[tuple[str, str, int]], not_started: int
) -> BackfillDeadlockError:
    """Mark the deadlocked runs failed (as Airflow's backfill leaves them) and say which task instances could
    not run and why."""
    blocked: list[str] = []
    for step in active:
        run = store.get_run(dag.dag_id, step.run_id)
        tis = store.list_task_instances(dag.dag_id, step.run_id)
        states = {ti.task_id: ti.state for ti in tis}
        for ti in tis:
            if (step.run_id, ti.task_id, ti.map_index) not in stuck:
                continue
            task = dag.task_dict.get(ti.task_id)
            why = _why_blocked(store, dag, task, run, states) if task else "not one of the tasks this backfill runs"
            index = f" map_index={ti.map_index}" if ti.map_index >= 0 else ""
            blocked.append(f"<TaskInstance: {dag.dag_id}.{ti.task_id} {step.run_id}{index} [none]>: {why}")
        store.finish_run(dag.dag_id, step.run_id, RunState.FAILED)
    past = any("depends_on_past" in line for line in blocked)
    message = (
        f"BackfillUnfinished: the backfill of {dag.dag_id} is deadlocked: none of its remaining task instances "
        "can run. These tasks are deadlocked:\n  "
        + "\n  ".join(blocked)
        + f"\nTheir runs were marked failed: {', '.join(step.run_id for step in active)}"
        + (f"; {not_started} later date(s) were not started." if not_started else ".")
    )
    if past:
        message += (
            '\nSome of the deadlocked tasks could not run because of "depends_on_past": clear the failed task of '
            "the run before them (`dockyard tasks clear`), or run the backfill again with "
            "-I/--ignore-first-depends-on-past (its first date does not look at the run before it) and "
            "--rerun-failed-tasks (runs these runs again)."
        )
    return BackfillDeadlockError(message, blocked)


def _why_blocked(
    store: Store, dag: SerializedDag, task: SerializedTask, run: DagRunModel, states: Mapping[str, str | None]
) -> str:
    """Why a task instance without a state cannot run: an upstream task that cannot run either, or
    ``depends_on_past`` and the same task (``wait_for_downstream``: and its downstream) in the run before."""
    waiting = [u for u in task.upstream if states.get(u) not in _FINISHED]
    if waiting:
        return f"waits for {', '.join(waiting)}, which cannot run either"
    if task.depends_on_past:
        earlier = store.runs_between(dag.dag_id, _EPOCH, run.logical_date - dt.timedelta(microseconds=1))
        if earlier:
            before = earlier[-1]
            watched = {task.task_id, *(task.downstream if task.wait_for_downstream else ())}
            found = [ti for ti in store.list_task_instances(dag.dag_id, before.run_id) if ti.task_id in watched]
            bad = [f"{ti.task_id} is {ti.state or 'none'}" for ti in found if ti.state not in _PAST_OK]
            return f"depends_on_past, and in the run before it ({before.run_id}, {before.state}) {', '.join(bad)}"
    return "its dependencies are met, yet it was not started"


_EPOCH = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)


__all__ = [
    "BACKFILL",
    "Action",
    "BackfillOptions",
    "Step",
    "backfill_intervals",
    "check_pool",
    "plan_backfill",
    "prepare_existing",
    "run_backfill",
    "select_tasks",
]

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
  ``depends_on_past``, as in Airflow).

Example::

    plan = plan_backfill(store, dag, start, end, BackfillOptions(rerun_failed_tasks=True))
    states = run_backfill(settings, store, dag, plan, BackfillOptions(), on_finished=print)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockyard.errors import DagDefinitionError
from dockyard.scheduler import Scheduler
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.states import RunState, TaskState
from dockyard.store import Store
from dockyard.store.models import DagRunModel
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


def prepare_existing(store: Store, dag: SerializedDag, plan: list[Step]) -> int:
    """Clear what ``--reset-dagruns`` and ``--rerun-failed-tasks`` run again; returns how many task instances."""
    retries = {t.task_id: t.retries for t in dag.tasks}
    cleared = 0
    for step in plan:
        if step.action is Action.RESET:
            cleared += store.clear(dag.dag_id, step.run_id, dag.task_ids, retries)
        elif step.action is Action.RERUN:
            again = [
                ti.task_id
                for ti in store.list_task_instances(
                    dag.dag_id, step.run_id, states=[TaskState.FAILED, TaskState.UPSTREAM_FAILED]
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
    """Run the plan to its end in this process; returns each step's run's final state by run_id."""
    limit = max(1, options.max_active_runs or dag.max_active_runs)
    scheduler = Scheduler(settings, store, dags={dag.dag_id: dag}, create_scheduled_runs=False)
    states: dict[str, str] = {}
    for step in plan:
        if step.action in (Action.DONE, Action.FAILED):
            states[step.run_id] = RunState.SUCCESS.value if step.action is Action.DONE else RunState.FAILED.value
            if on_finished is not None:
                on_finished(step, states[step.run_id])
    pending = [step for step in plan if step.run_id not in states]
    active: list[Step] = []
    scheduler.start()
    # The backfill's own limit holds here, not the DAG's (Airflow's --max-active-runs); set after start, so the
    # stored DAG keeps its own max_active_runs.
    scheduler.dags[dag.dag_id] = dataclasses.replace(dag, max_active_runs=limit)
    try:
        while pending or active:
            while pending and len(active) < limit:
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
                active.append(step)
            scheduler.step()
            for step in list(active):
                state = store.get_run(dag.dag_id, step.run_id).state
                if state in FINISHED_RUN_STATES and not _running(scheduler, step.run_id):
                    active.remove(step)
                    states[step.run_id] = state
                    if on_finished is not None:
                        on_finished(step, state)
            if active:
                scheduler.wake.wait(0.5)
                scheduler.wake.clear()
    finally:
        scheduler.shutdown(stop_running=True)
    return states


FINISHED_RUN_STATES = (RunState.SUCCESS.value, RunState.FAILED.value)


def _running(scheduler: Scheduler, run_id: str) -> bool:
    return any(key.run_id == run_id for key in scheduler.running)


__all__ = [
    "BACKFILL",
    "Action",
    "BackfillOptions",
    "Step",
    "backfill_intervals",
    "plan_backfill",
    "prepare_existing",
    "run_backfill",
]

"""``dockyard tasks state|failed-deps|render|run``: one task instance of a run, named as Airflow names it.

``EXECUTION_DATE_OR_RUN_ID`` is a run id or a run's logical date (``2024-01-31``), as in Airflow 2.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from dockyard.cli.common import dag_from, date_or_none, fail, friendly, subdir_option
from dockyard.cli.output import print_rendered
from dockyard.errors import ConflictError, NotFoundError
from dockyard.operators.base import TriggerRule
from dockyard.preparation import TryContext, prepare_in_child
from dockyard.readiness import Counts, Decision, decide
from dockyard.runs import notify_scheduler
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.states import RunState, TaskState
from dockyard.store import Store
from dockyard.store.models import DagRunModel, TaskInstanceModel
from dockyard.store.run_lookup import run_at

RUNNABLE = (None, TaskState.SCHEDULED.value, TaskState.QUEUED.value, TaskState.UP_FOR_RETRY.value)
"""States a task instance may start from (Airflow's queueable states) without ``--force``."""


def find_run(store: Store, dag_id: str, date_or_run_id: str) -> DagRunModel:
    run = run_at(store, dag_id, date_or_run_id, date_or_none(date_or_run_id))
    if run is None:
        raise NotFoundError(
            f"DagRun for {dag_id} with run_id or execution_date of {date_or_run_id!r} not found; "
            f"`dockyard dags list-runs -d {dag_id}` lists the runs"
        )
    return run


def _task_instance(store: Store, run: DagRunModel, task_id: str, map_index: int = -1) -> TaskInstanceModel:
    try:
        return store.get_task_instance(run.dag_id, run.run_id, task_id, map_index)
    except NotFoundError:
        raise NotFoundError(
            f"run {run.run_id!r} of {run.dag_id!r} has no task instance {task_id!r} yet (the run is {run.state}); "
            "the scheduler creates them when it starts the run"
        ) from None


def unmet_dependencies(
    store: Store,
    dag: SerializedDag,
    run: DagRunModel,
    ti: TaskInstanceModel,
    *,
    ignore_state: bool = False,
    ignore_task_deps: bool = False,
    ignore_past: bool = False,
) -> list[tuple[str, str]]:
    """Why the task instance would not start now: (dependency, reason) pairs, named as Airflow names them."""
    unmet: list[tuple[str, str]] = []
    task = dag.task(ti.task_id)
    if not ignore_state and ti.state not in RUNNABLE:
        unmet.append(
            (
                "Task Instance State",
                f"Task is in the '{ti.state}' state which is not a valid state for execution. "
                "The task must be cleared in order to be run.",
            )
        )
    if ti.state == TaskState.UP_FOR_RETRY.value and ti.next_retry_at and ti.next_retry_at > dt.datetime.now(dt.UTC):
        unmet.append(
            ("Not In Retry Period", f"Task is not ready for retry yet but will be retried at {ti.next_retry_at}.")
        )
    if run.state != RunState.RUNNING.value:
        unmet.append(
            ("Dagrun Running", f"Task instance's dagrun was not in the 'running' state but in the state '{run.state}'.")
        )
    if dag.dag_id in store.paused_dag_ids():
        unmet.append(("Dag Not Paused", f"Task's DAG '{dag.dag_id}' is paused."))
    if not ignore_task_deps:
        states = {t.task_id: t.state for t in store.list_task_instances(dag.dag_id, run.run_id)}
        upstream = {u: states.get(u) for u in task.upstream}
        decision = decide(TriggerRule(task.trigger_rule), Counts.of(upstream.values()))
        if decision is not Decision.RUN:
            unmet.append(
                (
                    "Trigger Rule",
                    f"Task's trigger rule '{task.trigger_rule}' is not met: upstream_states={upstream}, "
                    f"upstream_task_ids={sorted(task.upstream)}",
                )
            )
        if task.depends_on_past and not ignore_past:
            watched = [task.task_id, *(task.downstream if task.wait_for_downstream else ())]
            if not store.past_allows(dag.dag_id, watched, run.logical_date):
                unmet.append(
                    (
                        "Previous Dagrun State",
                        "depends_on_past is true for this task, but the previous task instance has not succeeded "
                        "(or been skipped).",
                    )
                )
    slots = store.pool_slots()
    _, used = store.running_counts()
    if ti.pool not in slots:
        unmet.append(("Pool Slots Available", f"Tasks using non-existent pool '{ti.pool}' will not be scheduled"))
    elif slots[ti.pool] - used.get(ti.pool, 0) < ti.pool_slots and ti.state not in (TaskState.RUNNING.value,):
        unmet.append(("Pool Slots Available", f"Not scheduling since there are no open slots in pool {ti.pool}."))
    return unmet


@dataclass(frozen=True)
class Target:
    """The task instance a command names (``DAG_ID TASK_ID EXECUTION_DATE_OR_RUN_ID [-S] [--map-index]``), its
    DAG read and its task checked: what every command here starts from."""

    dag: SerializedDag
    store: Store
    task_id: str
    date_or_run_id: str
    map_index: int = -1

    def run(self) -> DagRunModel:
        """The run it names; NotFoundError naming how to list the runs otherwise."""
        return find_run(self.store, self.dag.dag_id, self.date_or_run_id)

    def instance(self, run: DagRunModel) -> TaskInstanceModel:
        return _task_instance(self.store, run, self.task_id, self.map_index)


def _targeted(function: Callable[..., None]) -> Callable[..., None]:
    """A command's callback from the arguments click parses to the :class:`Target` they name."""

    @functools.wraps(function)
    def command(
        settings: Settings,
        dag_id: str,
        task_id: str,
        execution_date_or_run_id: str,
        subdir: Path | None,
        map_index: int = -1,
        **options: Any,
    ) -> None:
        dag, store = dag_from(settings, dag_id, subdir)
        dag.task(task_id)  # an unknown task: an error naming the DAG's tasks
        function(settings, Target(dag, store, task_id, execution_date_or_run_id, map_index), **options)

    return command


def tasks_state(settings: Settings, target: Target) -> None:
    """Get the status of a task instance (a mapped task's instance by ``--map-index``; without it, how many
    of its instances are in each state)."""
    store, run, task_id = target.store, target.run(), target.task_id
    if target.map_index < 0:
        instances, total = store.list_mapped(run.dag_id, run.run_id, task_id, limit=100_000)
        if total:
            counts: dict[str, int] = {}
            for ti in instances:
                counts[str(ti.state)] = counts.get(str(ti.state), 0) + 1
            shown = ", ".join(f"{state}: {n}" for state, n in sorted(counts.items()))
            click.echo(f"mapped into {total} instances ({shown}); pick one with --map-index")
            return
    click.echo(str(target.instance(run).state))


def tasks_failed_deps(settings: Settings, target: Target) -> None:
    """Returns the unmet dependencies for a task instance: why it does not run now."""
    run = target.run()
    unmet = unmet_dependencies(target.store, target.dag, run, target.instance(run))
    if not unmet:
        click.echo("Task instance dependencies are all met.")
        return
    click.echo("Task instance dependencies not met:")
    for name, reason in unmet:
        click.echo(f"{name}: {reason}")


def _context(
    dag: SerializedDag, task_id: str, run: DagRunModel | None, when: dt.datetime, map_index: int = -1
) -> TryContext:
    """The template context of the run (or, with none at that date, of a manual run there, as Airflow does)."""
    if run is None:
        interval = dag.timetable().manual_interval(when)
        return TryContext(
            dag_id=dag.dag_id,
            task_id=task_id,
            run_id=f"manual__{when.isoformat()}",
            logical_date=when,
            fileloc=dag.fileloc,
            data_interval=(interval.start, interval.end),
            map_index=map_index,
        )
    return TryContext(
        dag_id=dag.dag_id,
        task_id=task_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        fileloc=dag.fileloc,
        conf=dict(run.conf or {}),
        params=dict(run.conf or {}),
        data_interval=(run.data_interval_start or run.logical_date, run.data_interval_end or run.logical_date),
        run={"run_type": run.run_type, "state": run.state, "external_trigger": run.external_trigger},
        map_index=map_index,
    )


def tasks_render(settings: Settings, target: Target) -> None:
    """Render a task instance's template(s) (secrets masked as ***), without running it."""
    dag_id, named = target.dag.dag_id, target.date_or_run_id
    when = date_or_none(named)
    run = run_at(target.store, dag_id, named, when)
    if run is None and when is None:
        fail(
            f"{named!r} is neither a run of {dag_id} nor a date; give a run id "
            f"(`dockyard dags list-runs -d {dag_id}`) or a date like 2024-01-31"
        )
    context = _context(target.dag, target.task_id, run, when or dt.datetime.now(dt.UTC), target.map_index)
    prepared = prepare_in_child(settings, context)
    print_rendered(prepared.rendered)


def _arguments(function: Callable[..., None]) -> Any:
    """A command's arguments and options in front of ``function(settings, target, **options)``."""
    command: Any = _targeted(function)
    for decorator in reversed(
        (
            click.argument("dag_id"),
            click.argument("task_id"),
            click.argument("execution_date_or_run_id"),
            subdir_option,
            click.pass_obj,
            friendly,
        )
    ):
        command = decorator(command)
    return command


def register_task_commands(tasks: click.Group) -> None:
    """Add these commands to the ``tasks`` group."""
    for name, function in (("failed-deps", tasks_failed_deps), ("render", tasks_render), ("state", tasks_state)):
        with_index = click.option(
            "--map-index", "map_index", type=int, default=-1, show_default=True, help="Which instance of a mapped task."
        )(function)
        tasks.command(name)(_arguments(with_index))
    run = _arguments(_run_command)
    for option in reversed(_RUN_OPTIONS):
        run = option(run)
    tasks.command("run")(run)


_RUN_OPTIONS = (
    click.option("-f", "--force", is_flag=True, help="Run it whatever state it is in (success and failed too)."),
    click.option("-A", "--ignore-all-dependencies", is_flag=True, help="Ignore its state and every dependency."),
    click.option("-i", "--ignore-dependencies", is_flag=True, help="Ignore its trigger rule and depends_on_past."),
    click.option("-I", "--ignore-depends-on-past", is_flag=True, help="Ignore depends_on_past."),
    click.option(
        "-d",
        "--depends-on-past",
        type=click.Choice(["check", "ignore", "wait"]),
        help="check (default) or ignore depends_on_past; wait is check here (the run fails fast instead).",
    ),
    click.option("-m", "--mark-success", is_flag=True, help="Mark it successful without running it."),
)


def _run_command(
    settings: Settings,
    target: Target,
    force: bool,
    ignore_all_dependencies: bool,
    ignore_dependencies: bool,
    ignore_depends_on_past: bool,
    depends_on_past: str | None,
    mark_success: bool,
) -> None:
    """Run a single task instance now, in this process, and record its try (retries, XCom, log)."""
    from dockyard.scheduler import Scheduler

    dag, store, task_id, run = target.dag, target.store, target.task_id, target.run()
    dag_id = dag.dag_id
    if store.list_mapped(dag_id, run.run_id, task_id, limit=1)[1]:
        fail(f"task {task_id!r} is mapped: the scheduler runs its instances; `tasks run` runs tasks that are not")
    ti = target.instance(run)
    if ti.state == TaskState.RUNNING.value:
        raise ConflictError(f"task {task_id!r} of run {run.run_id!r} is running already (try {ti.try_number})")
    ignore_past = ignore_depends_on_past or depends_on_past == "ignore"
    unmet = unmet_dependencies(
        store,
        dag,
        run,
        ti,
        ignore_state=force or ignore_all_dependencies,
        ignore_task_deps=ignore_dependencies or ignore_all_dependencies,
        ignore_past=ignore_past,
    )
    if ignore_all_dependencies:
        unmet = [(name, reason) for name, reason in unmet if name in ("Dagrun Running",)]
    if unmet:
        lines = "\n".join(f"  {name}: {reason}" for name, reason in unmet)
        fail(f"task {task_id!r} of run {run.run_id!r} cannot run now:\n{lines}\n(-A ignores its dependencies)")
    settable = [None, *(s.value for s in TaskState if s is not TaskState.RUNNING)]
    if mark_success:
        store.set_ti_state(dag_id, run.run_id, [task_id], TaskState.SUCCESS, only_if=settable)
        notify_scheduler(settings)
        click.echo(f"Marked {task_id!r} of run {run.run_id!r} as success without running it.")
        return
    # Queued, the scheduler's passes leave it alone while this process runs it.
    if not store.set_ti_state(dag_id, run.run_id, [task_id], TaskState.QUEUED, only_if=settable):
        raise ConflictError(f"task {task_id!r} of run {run.run_id!r} changed meanwhile; try again")
    scheduler = Scheduler(settings, store, dags={dag_id: dag}, echo=lambda key, text: click.echo(text, nl=False))
    try:
        done = scheduler.run_task_instance(dag, run, task_id)
    finally:
        scheduler.shutdown()
    notify_scheduler(settings)
    click.echo(f"Task {task_id!r} of run {run.run_id!r}: {done.state} (try {done.try_number}).", err=True)
    if done.state not in (TaskState.SUCCESS.value, TaskState.SKIPPED.value):
        raise SystemExit(1)

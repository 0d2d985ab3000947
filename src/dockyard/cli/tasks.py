"""``dockyard tasks ...``: run one task now, see task states and logs, clear tasks to run them again."""

from __future__ import annotations

import re
import signal
import sys
import time
from types import FrameType
from typing import Any

import click

from dockyard.cli.common import fail, friendly, load_dag, open_store, parse_conf, parse_logical_date
from dockyard.cli.output import emit, output_option
from dockyard.connections import Connections
from dockyard.errors import DockyardError, NotFoundError
from dockyard.execution import TaskRunner, TryRequest, describe
from dockyard.params import resolve_params
from dockyard.preparation import TryContext, prepare_in_child
from dockyard.runs import notify_scheduler
from dockyard.settings import Settings
from dockyard.store import FINISHED_STATES, TaskState
from dockyard.tasklog import log_path_for
from dockyard.variables import variable_source

MAP_INDEX_HELP = "Which instance of a mapped task (0, 1, ...); -1 for a task that is not mapped."


@click.group()
def tasks() -> None:
    """Run and inspect single tasks."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM is handled like Ctrl-C, so the running container is stopped before dockyard exits.
    raise KeyboardInterrupt


@tasks.command("test")
@click.argument("dag_file_or_id", metavar="DAG_FILE_OR_DAG_ID")
@click.argument("task_id")
@click.argument("logical_date", required=False)
@click.option("-t", "--task-params", "task_params", help="JSON object of params for this run, e.g. '{\"n\": 3}'.")
@click.option("-q", "--quiet", is_flag=True, help="Do not stream the task log to the terminal.")
@click.option("--map-index", "map_index", type=int, default=-1, show_default=True, help=MAP_INDEX_HELP)
@click.pass_obj
def tasks_test(
    settings: Settings,
    dag_file_or_id: str,
    task_id: str,
    logical_date: str | None,
    task_params: str | None,
    quiet: bool,
    map_index: int,
) -> None:
    """Run one task of a DAG now, streaming its log, then print its XCom value.

    DAG_FILE_OR_DAG_ID is a DAG file (path ending in .py) or a dag_id in $DOCKYARD_DAGS_FOLDER.
    LOGICAL_DATE (e.g. 2024-01-31) sets {{ ds }} and friends; it defaults to now. Nothing is recorded
    in the database, and {{ ti.xcom_pull(...) }} gives None.
    Exits 0 when the task succeeds or is skipped, 1 when it fails, 130 when interrupted.
    """
    when = parse_logical_date(logical_date)
    params = parse_conf(task_params, "--task-params")
    try:
        dag = load_dag(settings, dag_file_or_id)
        task = dag.task(task_id)
        params = resolve_params(dag.param_objects(), params)
    except ValueError as exc:
        fail(f"DAG {dag.dag_id!r}: {exc}")
    except DockyardError as exc:
        fail(str(exc))
    run_id = f"test__{when.isoformat()}"
    try:
        store = open_store(settings)
    except DockyardError as exc:
        fail(str(exc))
    runner = TaskRunner(settings, variables=variable_source(settings, store), connections=Connections(settings, store))
    previous = signal.signal(signal.SIGTERM, _terminate)
    echo = None if quiet else (lambda text: click.echo(text, nl=False))
    try:
        interval = dag.timetable().manual_interval(when)
        context = TryContext(
            dag_id=dag.dag_id,
            task_id=task.task_id,
            run_id=run_id,
            logical_date=when,
            fileloc=dag.fileloc,
            params=params,
            conf=params,
            data_interval=(interval.start, interval.end),
            test_mode=True,
            map_index=map_index,
        )
        request = TryRequest(context, prepare=lambda: prepare_in_child(settings, context))
        outcome = runner.execute(request, echo=echo)
    except KeyboardInterrupt:
        click.secho(f"Interrupted: task {task_id!r} was stopped and its container with it.", fg="yellow", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        runner.runtime.close()
    click.echo(f"Log: {outcome.log_path}", err=True)
    if outcome.state is TaskState.SUCCESS:
        click.secho(f"Task {task_id!r} succeeded in {outcome.duration:.1f} s.", fg="green", err=True)
        click.echo(f"XCom: {describe(outcome.xcom)}")
    elif outcome.state is TaskState.SKIPPED:
        click.secho(f"Task {task_id!r} was skipped (exit code {outcome.exit_code}).", fg="yellow", err=True)
    else:
        fail(outcome.message)


@tasks.command("list")
@click.argument("dag_file_or_id", metavar="DAG_FILE_OR_DAG_ID")
@output_option
@click.pass_obj
@friendly
def tasks_list(settings: Settings, dag_file_or_id: str, output: str) -> None:
    """The tasks of a DAG in dependency order."""
    dag = load_dag(settings, dag_file_or_id)
    emit(
        [
            {
                "task_id": t.task_id,
                "operator": t.operator,
                "upstream": list(t.upstream),
                "trigger_rule": t.trigger_rule,
                "retries": t.retries,
            }
            for t in dag.tasks
        ],
        output,
    )


@tasks.command("states-for-dag-run")
@click.argument("dag_id")
@click.argument("run_id")
@output_option
@click.pass_obj
@friendly
def tasks_states_for_dag_run(settings: Settings, dag_id: str, run_id: str, output: str) -> None:
    """The state of every task instance of a run."""
    store = open_store(settings)
    store.get_run(dag_id, run_id)
    emit(
        [
            {
                "dag_id": ti.dag_id,
                "run_id": ti.run_id,
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": ti.state,
                "try_number": ti.try_number,
                "start_date": ti.start_date,
                "end_date": ti.end_date,
                "duration": round(ti.duration, 2) if ti.duration is not None else None,
                "exit_code": ti.exit_code,
            }
            for ti in store.list_task_instances(dag_id, run_id)
        ],
        output,
    )


@tasks.command("logs")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option("--try", "try_number", type=int, help="Which try (default: the latest).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the try ends.")
@click.option("--map-index", "map_index", type=int, default=-1, show_default=True, help=MAP_INDEX_HELP)
@click.pass_obj
@friendly
def tasks_logs(
    settings: Settings,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int | None,
    follow: bool,
    map_index: int,
) -> None:
    """Print a task try's log (it outlives the container)."""
    store = open_store(settings)
    ti = store.get_task_instance(dag_id, run_id, task_id, map_index)
    number = try_number or ti.try_number
    if number < 1 or number > max(ti.try_number, 1):
        fail(f"task {task_id!r} has tries 1 to {ti.try_number}; --try {number} does not exist")
    path = log_path_for(settings.logs_folder, dag_id, run_id, task_id, number, map_index)
    if not path.exists() and not follow:
        raise NotFoundError(f"no log for try {number} of {task_id!r} yet ({path}); the task has not started")
    position = 0
    while True:
        if path.exists():
            with path.open("r", encoding="utf-8", errors="replace") as handle:
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
            if chunk:
                click.echo(chunk, nl=False)
        if not follow:
            return
        current = store.get_task_instance(dag_id, run_id, task_id, map_index)
        done = current.try_number != number or (
            current.state is not None and TaskState(current.state) in FINISHED_STATES
        )
        if done or current.state == TaskState.UP_FOR_RETRY.value:
            follow = False  # one more read picks up the last lines
            continue
        time.sleep(0.5)


@tasks.command("clear")
@click.argument("dag_id")
@click.option("-t", "--task-regex", help="Only tasks whose id matches this regular expression.")
@click.option("-r", "--run-id", "run_ids", multiple=True, help="Only this run (repeatable).")
@click.option("-s", "--start-date", help="Only runs with a logical date on or after this.")
@click.option("-e", "--end-date", help="Only runs with a logical date on or before this.")
@click.option("-f", "--only-failed", is_flag=True, help="Only failed and upstream_failed tasks.")
@click.option("-d", "--downstream", is_flag=True, help="Also clear the tasks downstream of those matched.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--map-index",
    "map_indexes",
    type=int,
    multiple=True,
    help="Only these instances of mapped tasks (repeatable; default: every instance).",
)
@click.pass_obj
@friendly
def tasks_clear(
    settings: Settings,
    dag_id: str,
    task_regex: str | None,
    run_ids: tuple[str, ...],
    start_date: str | None,
    end_date: str | None,
    only_failed: bool,
    downstream: bool,
    yes: bool,
    map_indexes: tuple[int, ...],
) -> None:
    """Clear task instances so the scheduler runs them again (with their retries anew)."""
    store = open_store(settings)
    store.get_dag(dag_id)
    dag = load_dag(settings, dag_id)
    pattern = _regex(task_regex)
    start = parse_logical_date(start_date, hint="--start-date") if start_date else None
    end = parse_logical_date(end_date, hint="--end-date") if end_date else None
    plan: list[tuple[str, list[str]]] = []
    for run in store.list_runs(dag_id, limit=100_000):
        if (
            (run_ids and run.run_id not in run_ids)
            or (start and run.logical_date < start)
            or (end and run.logical_date > end)
        ):
            continue
        chosen = set()
        for ti in store.list_task_instances(dag_id, run.run_id):
            if pattern and not pattern.search(ti.task_id):
                continue
            if only_failed and ti.state not in (TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value):
                continue
            if map_indexes and ti.map_index not in map_indexes:
                continue
            chosen.add(ti.task_id)
        if downstream:
            for task_id in list(chosen):
                chosen |= _descendants(dag, task_id)
        if chosen:
            plan.append((run.run_id, sorted(chosen)))
    if not plan:
        click.echo("Nothing to clear.")
        return
    for run_id, ids in plan:
        click.echo(f"{run_id}: {', '.join(ids)}")
    if not yes and not click.confirm("Clear these task instances?", default=False):
        click.echo("Cancelled.")
        return
    retries = {t.task_id: t.retries for t in dag.tasks}
    only = list(map_indexes) if map_indexes else None
    total = sum(store.clear(dag_id, run_id, ids, retries, map_indexes=only) for run_id, ids in plan)
    notify_scheduler(settings)
    click.echo(f"Cleared {total} task instance(s).")


@tasks.command("state")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id", metavar="LOGICAL_DATE_OR_RUN_ID")
@click.option("--map-index", "map_index", type=int, default=-1, show_default=True, help=MAP_INDEX_HELP)
@click.pass_obj
@friendly
def tasks_state(settings: Settings, dag_id: str, task_id: str, run_id: str, map_index: int) -> None:
    """Print the state of one task instance (Airflow's ``tasks state``); a mapped task's instance by
    ``--map-index``, or without it the number of its instances in each state."""
    store = open_store(settings)
    run = _run_of(store, dag_id, run_id)
    if map_index < 0:
        instances, total = store.list_mapped(dag_id, run.run_id, task_id, limit=100_000)
        if total:
            counts: dict[str, int] = {}
            for ti in instances:
                counts[str(ti.state)] = counts.get(str(ti.state), 0) + 1
            shown = ", ".join(f"{state}: {n}" for state, n in sorted(counts.items()))
            click.echo(f"mapped into {total} instances ({shown}); pick one with --map-index")
            return
    click.echo(store.get_task_instance(dag_id, run.run_id, task_id, map_index).state)


def _run_of(store: Any, dag_id: str, run_id_or_date: str) -> Any:
    """The run named by its run_id, or else by its logical date (as Airflow's CLI accepts either)."""
    try:
        return store.get_run(dag_id, run_id_or_date)
    except NotFoundError as missing:
        try:
            when = parse_logical_date(run_id_or_date)
        except click.BadParameter:
            raise missing from None  # not a date either: the message naming the run is the one to show
        for run in store.list_runs(dag_id, limit=100_000):
            if run.logical_date == when:
                return run
        raise


def _regex(text: str | None) -> re.Pattern[str] | None:
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise click.BadParameter(f"{text!r} is not a regular expression ({exc})", param_hint="--task-regex") from None


def _descendants(dag: Any, task_id: str) -> set[str]:
    found: set[str] = set()
    stack = [task_id]
    while stack:
        node = stack.pop()
        for nxt in dag.task_dict[node].downstream_task_ids:
            if nxt not in found:
                found.add(nxt)
                stack.append(nxt)
    return found

"""``dockyard tasks ...``: run one task now, see task states and logs, clear tasks to run them again."""

from __future__ import annotations

import datetime as dt
import re
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click

from dockyard import sensing
from dockyard.cli.audit import cancelled
from dockyard.cli.common import (
    dag_from,
    dag_in,
    fail,
    friendly,
    load_dag,
    matching_dag_ids,
    open_store,
    parse_conf,
    parse_logical_date,
    read_dags,
    subdir_option,
)
from dockyard.cli.output import emit, output_option, print_rendered
from dockyard.connections import Connections
from dockyard.errors import DockyardError, NotFoundError
from dockyard.execution import TaskRunner, TryRequest, describe
from dockyard.params import resolve_params
from dockyard.preparation import TryContext, prepare_in_child
from dockyard.runs import notify_scheduler
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.store import FINISHED_STATES, TaskState
from dockyard.store.run_lookup import find_runs
from dockyard.tasklog import log_path_for
from dockyard.variables import variable_source

MAP_INDEX_HELP = "Which instance of a mapped task (0, 1, ...); -1 for a task that is not mapped."


@click.group()
def tasks() -> None:
    """Manage tasks."""


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
@click.option("-n", "--dry-run", is_flag=True, help="Only render the task's templates; run nothing.")
@subdir_option
@click.pass_obj
def tasks_test(
    settings: Settings,
    dag_file_or_id: str,
    task_id: str,
    logical_date: str | None,
    task_params: str | None,
    quiet: bool,
    map_index: int,
    dry_run: bool,
    subdir: Path | None,
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
        dag = load_dag(settings, dag_file_or_id) if subdir is None else dag_from(settings, dag_file_or_id, subdir)[0]
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
        if dry_run:
            print_rendered(prepare_in_child(settings, context).rendered)
            return
        request = TryRequest(context, prepare=lambda: prepare_in_child(settings, context))
        spec = task.sensor  # a sensor's verdict decides how the test ended
        if spec is not None and spec.get("kind") != "container":  # a clock or store sensor pokes right here
            request.sense = sensing.poke_in_process(spec, context, store, task.execution_timeout)
        started = dt.datetime.now(dt.timezone.utc)
        outcome = runner.execute(request, echo=echo)
    except KeyboardInterrupt:
        click.secho(f"Interrupted: task {task_id!r} was stopped and its container with it.", fg="yellow", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        runner.runtime.close()
    click.echo(f"Log: {outcome.log_path}", err=True)
    if spec is not None and outcome.state is TaskState.SUCCESS:
        settled = sensing.settle_in_process(spec, outcome.xcom, started)
        if settled.state is TaskState.UP_FOR_RESCHEDULE:
            click.secho(
                f"Sensor {task_id!r}: not yet; under the scheduler it pokes again later.", fg="yellow", err=True
            )
            return
        outcome.state, outcome.xcom, outcome.message = settled.state, settled.xcom, settled.message
    if outcome.state is TaskState.SUCCESS:
        click.secho(f"Task {task_id!r} succeeded in {outcome.duration:.1f} s.", fg="green", err=True)
        click.echo(f"XCom: {describe(outcome.xcom)}")
        for key, value in (outcome.pushed or {}).items():  # ti.xcom_push in the callable
            click.echo(f"XCom {key}: {describe(value)}")
    elif outcome.state is TaskState.SKIPPED:
        click.secho(f"Task {task_id!r} was skipped (exit code {outcome.exit_code}).", fg="yellow", err=True)
    else:
        fail(outcome.message)


@tasks.command("list")
@click.argument("dag_file_or_id", metavar="DAG_ID")
@click.option("-t", "--tree", is_flag=True, help="Show the tasks as a tree, each under the tasks it waits for.")
@subdir_option
@output_option
@click.pass_obj
@friendly
def tasks_list(settings: Settings, dag_file_or_id: str, tree: bool, subdir: Path | None, output: str) -> None:
    """List the tasks within a DAG, in dependency order (DAG_ID may also be a DAG file)."""
    dag = load_dag(settings, dag_file_or_id) if subdir is None else dag_from(settings, dag_file_or_id, subdir)[0]
    if tree:
        for line in _tree(dag):
            click.echo(line)
        return
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
@click.argument("execution_date_or_run_id")
@output_option
@click.pass_obj
@friendly
def tasks_states_for_dag_run(settings: Settings, dag_id: str, execution_date_or_run_id: str, output: str) -> None:
    """Get the status of all task instances in a dag run (given by its run id or logical date)."""
    from dockyard.cli.task_info import find_run

    store = open_store(settings)
    store.get_dag(dag_id)
    run_id = find_run(store, dag_id, execution_date_or_run_id).run_id
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
@click.option("-s", "--start-date", help="Only runs with a logical date on or after this.")
@click.option("-e", "--end-date", help="Only runs with a logical date on or before this.")
@click.option("-f", "--only-failed", is_flag=True, help="Only failed and upstream_failed task instances.")
@click.option("-r", "--only-running", is_flag=True, help="Only running task instances (refused: stop them first).")
@click.option("-d", "--downstream", is_flag=True, help="Also clear the tasks downstream of those matched.")
@click.option("-u", "--upstream", is_flag=True, help="Also clear the tasks upstream of those matched.")
@click.option("-R", "--dag-regex", is_flag=True, help="DAG_ID is a regular expression: clear in every DAG it finds.")
@click.option("-x", "--exclude-subdags", is_flag=True, help="Accepted: dockyard has no SubDAGs.")
@click.option("-X", "--exclude-parentdag", is_flag=True, help="Accepted: dockyard has no SubDAGs.")
@click.option("--run-id", "run_ids", multiple=True, help="Only this run (repeatable; dockyard's addition).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--map-index",
    "map_indexes",
    type=int,
    multiple=True,
    help="Only these instances of mapped tasks (repeatable; default: every instance).",
)
@subdir_option
@click.pass_obj
@friendly
def tasks_clear(
    settings: Settings,
    dag_id: str,
    task_regex: str | None,
    start_date: str | None,
    end_date: str | None,
    only_failed: bool,
    only_running: bool,
    downstream: bool,
    upstream: bool,
    dag_regex: bool,
    exclude_subdags: bool,
    exclude_parentdag: bool,
    run_ids: tuple[str, ...],
    yes: bool,
    map_indexes: tuple[int, ...],
    subdir: Path | None,
) -> None:
    """Clear a set of task instances, as if they never ran: the scheduler runs them again (retries anew)."""
    report, store = read_dags(settings, subdir)
    pattern = _regex(task_regex)
    start = parse_logical_date(start_date, hint="--start-date") if start_date else None
    end = parse_logical_date(end_date, hint="--end-date") if end_date else None
    wanted_states: list[str] = []
    if only_failed:
        wanted_states += [TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value]
    if only_running:
        wanted_states.append(TaskState.RUNNING.value)
    plan: list[tuple[SerializedDag, str, list[str]]] = []
    for each in matching_dag_ids(store, dag_id, dag_regex):
        dag = dag_in(report, each, settings)
        for run in find_runs(store, each, start=start, end=end):
            if run_ids and run.run_id not in run_ids:
                continue
            chosen = set()
            for ti in store.list_task_instances(each, run.run_id):
                if pattern and not pattern.search(ti.task_id):
                    continue
                if wanted_states and ti.state not in wanted_states:
                    continue
                if map_indexes and ti.map_index not in map_indexes:
                    continue
                chosen.add(ti.task_id)
            for task_id in list(chosen):
                if downstream:
                    chosen |= _relatives(dag, task_id, "downstream")
                if upstream:
                    chosen |= _relatives(dag, task_id, "upstream")
            if chosen:
                plan.append((dag, run.run_id, sorted(chosen)))
    if not plan:
        click.echo("No task instances to clear")
        return
    for dag, run_id, ids in plan:
        prefix = f"{dag.dag_id} " if dag_regex else ""
        click.echo(f"{prefix}{run_id}: {', '.join(ids)}")
    if not yes and not click.confirm("Clear these task instances?", default=False):
        click.echo("Cancelled, nothing was cleared.")
        cancelled()
        return
    total = 0
    only = list(map_indexes) if map_indexes else None
    for dag, run_id, ids in plan:
        total += store.clear(dag.dag_id, run_id, ids, {t.task_id: t.retries for t in dag.tasks}, map_indexes=only)
    notify_scheduler(settings)
    click.echo(f"Cleared {total} task instance(s).")


def _tree(dag: SerializedDag) -> list[str]:
    """Each task under the tasks it waits for, from the DAG's roots (a task with two parents appears twice)."""
    lines: list[str] = []

    def walk(task_id: str, depth: int) -> None:
        task = dag.task_dict[task_id]
        lines.append(f"{'    ' * depth}<Task({task.operator}): {task_id}>")
        for child in task.downstream:
            walk(child, depth + 1)

    for task in dag.tasks:
        if not task.upstream:
            walk(task.task_id, 0)
    return lines


def _regex(text: str | None) -> re.Pattern[str] | None:
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise click.BadParameter(f"{text!r} is not a regular expression ({exc})", param_hint="--task-regex") from None


def _relatives(dag: SerializedDag, task_id: str, direction: str) -> set[str]:
    """Every task reachable from ``task_id`` going ``downstream`` or ``upstream``."""
    found: set[str] = set()
    stack = [task_id]
    while stack:
        node = stack.pop()
        task = dag.task_dict[node]
        for nxt in task.downstream if direction == "downstream" else task.upstream:
            if nxt not in found:
                found.add(nxt)
                stack.append(nxt)
    return found

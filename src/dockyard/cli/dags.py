"""``dockyard dags ...``: list, test, trigger, pause, inspect DAGs and their runs."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dockyard.cli.common import (
    dag_in,
    fail,
    friendly,
    load_dag,
    load_folder,
    open_store,
    parse_conf,
    parse_logical_date,
)
from dockyard.cli.output import emit, output_option
from dockyard.processor import Report
from dockyard.runs import trigger_run
from dockyard.scheduler import Scheduler, TIKey
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.states import STATE_COLOURS
from dockyard.store import RunState, Store


@click.group()
def dags() -> None:
    """List, run and inspect DAGs."""


def _sync(settings: Settings) -> tuple[Report, Store]:
    """Parse what changed in the DAG folder and record it, as the scheduler does; the folder's report."""
    store = open_store(settings)
    return load_folder(settings, store), store


@dags.command("list")
@output_option
@click.pass_obj
@friendly
def dags_list(settings: Settings, output: str) -> None:
    """Every DAG in the DAG folder, with its schedule, paused state and next run."""
    bag, store = _sync(settings)
    rows = []
    for row in store.list_dags():
        rows.append(
            {
                "dag_id": row.dag_id,
                "fileloc": row.fileloc,
                "schedule": row.schedule,
                "is_paused": row.is_paused,
                "next_dagrun": row.next_dagrun,
                "tags": row.tags,
            }
        )
    emit(rows, output, empty=f"No DAGs in {settings.dags_folder}.")
    if bag.import_errors:
        click.secho(
            f"{len(bag.import_errors)} file(s) failed to load: dockyard dags list-import-errors", fg="yellow", err=True
        )


@dags.command("list-import-errors")
@output_option
@click.pass_obj
@friendly
def dags_list_import_errors(settings: Settings, output: str) -> None:
    """DAG files that failed to load: file, line and reason (every problem of a file). Exits 1 when there are any."""
    bag, _ = _sync(settings)
    emit(
        [{"filepath": path, "error": error} for path, error in bag.import_errors.items()],
        output,
        empty="No import errors.",
    )
    if bag.import_errors:
        sys.exit(1)


@dags.command("show")
@click.argument("dag_file_or_id", metavar="DAG_FILE_OR_DAG_ID")
@click.pass_obj
@friendly
def dags_show(settings: Settings, dag_file_or_id: str) -> None:
    """The DAG's graph as text: each task with the tasks it waits for."""
    dag = load_dag(settings, dag_file_or_id)
    click.echo(render_graph(dag))


def render_graph(dag: SerializedDag) -> str:
    """Tasks in dependency order, each with its operator, trigger rule and upstream tasks."""
    lines = [f"DAG {dag.dag_id} ({len(dag.tasks)} tasks)"]
    for task in dag.tasks:
        ups = ", ".join(task.upstream)
        rule = "" if task.trigger_rule == "all_success" else f" [{task.trigger_rule}]"
        arrow = f"  <- {ups}" if ups else ""
        lines.append(f"  {task.task_id} ({task.operator}){rule}{arrow}")
    return "\n".join(lines)


@dags.command("pause")
@click.argument("dag_id")
@click.pass_obj
@friendly
def dags_pause(settings: Settings, dag_id: str) -> None:
    """Stop scheduling new runs of DAG_ID (running ones finish)."""
    _sync(settings)[1].set_paused(dag_id, True)
    click.echo(f"Paused {dag_id}.")


@dags.command("unpause")
@click.argument("dag_id")
@click.pass_obj
@friendly
def dags_unpause(settings: Settings, dag_id: str) -> None:
    """Schedule runs of DAG_ID again."""
    _sync(settings)[1].set_paused(dag_id, False)
    click.echo(f"Unpaused {dag_id}.")


@dags.command("trigger")
@click.argument("dag_id")
@click.option("-c", "--conf", help="JSON object for the run's conf (validated against the DAG's params).")
@click.option("-r", "--run-id", help="The run id (default manual__<logical date>).")
@click.option("-l", "--logical-date", "logical_date", help="The run's logical date (default: now).")
@output_option
@click.pass_obj
@friendly
def dags_trigger(
    settings: Settings, dag_id: str, conf: str | None, run_id: str | None, logical_date: str | None, output: str
) -> None:
    """Queue a manual run of DAG_ID; a running scheduler starts it at once."""
    bag, store = _sync(settings)
    dag = dag_in(bag, dag_id, settings)
    when = parse_logical_date(logical_date, hint="--logical-date") if logical_date else None
    run = trigger_run(settings, store, dag, conf=parse_conf(conf), logical_date=when, run_id=run_id)
    emit([{"dag_id": run.dag_id, "run_id": run.run_id, "logical_date": run.logical_date, "state": run.state}], output)


@dags.command("list-runs")
@click.argument("dag_id", required=False)
@click.option("-d", "--dag-id", "dag_id_option", help="The DAG (Airflow 2's spelling).")
@click.option("--state", type=click.Choice([s.value for s in RunState]), help="Only runs in this state.")
@click.option("--limit", default=25, show_default=True)
@output_option
@click.pass_obj
@friendly
def dags_list_runs(
    settings: Settings, dag_id: str | None, dag_id_option: str | None, state: str | None, limit: int, output: str
) -> None:
    """Recent runs of DAG_ID, newest first."""
    wanted = dag_id or dag_id_option
    if not wanted:
        raise click.UsageError("give the DAG: dockyard dags list-runs DAG_ID")
    store = open_store(settings)
    runs = store.list_runs(wanted, states=[state] if state else None, limit=limit)
    if not runs:
        store.get_dag(wanted)  # an unknown DAG is an error, not an empty list
    emit(
        [
            {
                "dag_id": r.dag_id,
                "run_id": r.run_id,
                "state": r.state,
                "logical_date": r.logical_date,
                "start_date": r.start_date,
                "end_date": r.end_date,
                "run_type": r.run_type,
            }
            for r in runs
        ],
        output,
        empty=f"DAG {wanted} has no runs yet.",
    )


@dags.command("test")
@click.argument("dag_file_or_id", metavar="DAG_FILE_OR_DAG_ID")
@click.argument("logical_date", required=False)
@click.option("-c", "--conf", help="JSON object for the run's conf / params.")
@click.option("-q", "--quiet", is_flag=True, help="Do not stream task logs; show the states only.")
@click.pass_obj
@friendly
def dags_test(settings: Settings, dag_file_or_id: str, logical_date: str | None, conf: str | None, quiet: bool) -> None:
    """Run a whole DAG once, now, in this process: a live view of task states and their logs.

    Dependencies, trigger rules, retries and XComs work as under the scheduler, and the run is recorded.
    Exits 0 if the run succeeded, 1 if it failed, 130 if interrupted (running containers are stopped).
    """
    dag = load_dag(settings, dag_file_or_id)
    when = parse_logical_date(logical_date)
    store = open_store(settings)
    store.sync_dags([dag.to_record()], {}, keep_others=True)
    for earlier in store.list_runs(dag.dag_id, limit=10_000):
        if earlier.logical_date == when:
            if not earlier.run_id.startswith("test__"):
                fail(
                    f"DAG {dag.dag_id!r} already has run {earlier.run_id!r} at {when.isoformat()}; "
                    "pick another logical date"
                )
            store.delete_run(dag.dag_id, earlier.run_id)
    run = trigger_run(
        settings, store, dag, conf=parse_conf(conf), logical_date=when, run_id=f"test__{when.isoformat()}"
    )
    console = Console(stderr=False)
    lock = threading.Lock()

    def echo(key: TIKey, text: str) -> None:
        if quiet:
            return
        with lock:
            for line in text.splitlines():
                console.print(Text(f"{key.task_id} | ", style="bold") + Text(line), soft_wrap=True)

    def view() -> Table:
        table = Table(title=f"{dag.dag_id} @ {when.isoformat()}", header_style="bold")
        for column in ("task", "state", "try", "duration"):
            table.add_column(column)
        states = {ti.task_id: ti for ti in store.list_task_instances(dag.dag_id, run.run_id)}
        for task in dag.tasks:
            ti = states.get(task.task_id)
            state = (ti.state if ti else None) or "none"
            duration = f"{ti.duration:.1f}s" if ti and ti.duration is not None else ""
            table.add_row(
                task.task_id, Text(state, style=STATE_COLOURS.get(state, "")), str(ti.try_number if ti else 0), duration
            )
        return table

    scheduler = Scheduler(settings, store, dags={dag.dag_id: dag}, echo=echo, create_scheduled_runs=False)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    scheduler.start()
    stop_running = False
    try:
        with Live(view(), console=console, refresh_per_second=4, transient=False) as live:
            state = scheduler.run_until_done(dag.dag_id, run.run_id, on_pass=lambda: live.update(view()))
    except KeyboardInterrupt:
        stop_running = True
        click.secho("Interrupted: stopping the running containers.", fg="yellow", err=True)
        state = "interrupted"
    finally:
        signal.signal(signal.SIGTERM, previous)
        scheduler.shutdown(stop_running=True)
    if stop_running:
        sys.exit(130)
    colour = "green" if state == RunState.SUCCESS.value else "red"
    click.secho(f"Run {run.run_id} of {dag.dag_id}: {state}", fg=colour, err=True)
    if state != RunState.SUCCESS.value:
        sys.exit(1)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt

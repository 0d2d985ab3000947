"""``dockyard dags ...``: list, test, trigger, pause and show DAGs, list their runs (more in ``dag_info``)."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dockyard.cli.common import (
    confirm_or_stop,
    dag_from,
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
from dockyard.cli.graph import dot_source, save_graph
from dockyard.cli.output import emit, output_option
from dockyard.runs import trigger_run
from dockyard.scheduler import Scheduler, TIKey
from dockyard.settings import Settings
from dockyard.states import STATE_COLOURS
from dockyard.store import RunState
from dockyard.store.run_lookup import find_runs


@click.group()
def dags() -> None:
    """Manage DAGs."""


@dags.command("list")
@click.option("--columns", help="Comma-separated columns to show (default all), e.g. dag_id,is_paused.")
@subdir_option
@output_option
@click.pass_obj
@friendly
def dags_list(settings: Settings, columns: str | None, subdir: Path | None, output: str) -> None:
    """List all the DAGs, with their schedule, paused state and next run."""
    bag, store = read_dags(settings, subdir)
    stored = {row.dag_id: row for row in store.list_dags(active_only=False)}
    rows = []
    for dag_id, dag in sorted(bag.dags.items()):
        row = stored.get(dag_id)
        rows.append(
            {
                "dag_id": dag_id,
                "fileloc": dag.fileloc,
                "schedule": dag.schedule,
                "is_paused": row.is_paused if row else None,
                "next_dagrun": row.next_dagrun if row else None,
                "tags": list(dag.tags),
            }
        )
    emit(pick_columns(rows, columns), output, empty=f"No DAGs in {subdir or settings.dags_folder}.")
    if bag.import_errors:
        click.secho(
            f"{len(bag.import_errors)} file(s) failed to load: dockyard dags list-import-errors", fg="yellow", err=True
        )


def pick_columns(rows: list[dict[str, Any]], columns: str | None) -> list[dict[str, Any]]:
    """Airflow's ``--columns``: only the named columns, in the order given; an unknown one is an error."""
    if not columns:
        return rows
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    known = list(rows[0]) if rows else wanted
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise click.BadParameter(
            f"no column {', '.join(unknown)}; choose from {', '.join(known)}", param_hint="--columns"
        )
    return [{c: row[c] for c in wanted} for row in rows]


@dags.command("list-import-errors")
@subdir_option
@output_option
@click.pass_obj
@friendly
def dags_list_import_errors(settings: Settings, subdir: Path | None, output: str) -> None:
    """List all the DAGs that have import errors: file, line and reason. Exits 1 when there are any."""
    bag, _ = read_dags(settings, subdir)
    emit(
        [{"filepath": path, "error": error} for path, error in bag.import_errors.items()],
        output,
        empty="No import errors.",
    )
    if bag.import_errors:
        sys.exit(1)


@dags.command("show")
@click.argument("dag_file_or_id", metavar="DAG_ID")
@click.option(
    "-s",
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the graph to FILE: .png, .svg, .pdf, ... (drawn by Graphviz's dot) or .dot (the source).",
)
@subdir_option
@click.pass_obj
@friendly
def dags_show(settings: Settings, dag_file_or_id: str, save: Path | None, subdir: Path | None) -> None:
    """Displays DAG's tasks with their dependencies: the graph in Graphviz's DOT language, or saved as an image.

    DAG_ID may also be the path of a DAG file.
    """
    dag = load_dag(settings, dag_file_or_id) if subdir is None else dag_from(settings, dag_file_or_id, subdir)[0]
    source = dot_source(dag)
    if save is None:
        click.echo(source)
        return
    save_graph(source, save)
    click.echo(f"File {save} saved")


def _pause_command(name: str, paused: bool, summary: str) -> click.Command:
    @click.argument("dag_id")
    @click.option("--treat-dag-id-as-regex", is_flag=True, help="DAG_ID is a regular expression (re.search).")
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (asked for a regular expression).")
    @subdir_option
    @output_option
    @click.pass_obj
    @friendly
    def command(
        settings: Settings, dag_id: str, treat_dag_id_as_regex: bool, yes: bool, subdir: Path | None, output: str
    ) -> None:
        _, store = read_dags(settings, subdir)
        ids = matching_dag_ids(store, dag_id, treat_dag_id_as_regex)
        if not ids:
            fail(f"no DAG id matches the regular expression {dag_id!r}; `dockyard dags list` shows the DAGs")
        if treat_dag_id_as_regex and not yes:
            click.echo(f"You are about to {name} {len(ids)} DAG(s): {', '.join(ids)}")
            if not confirm_or_stop("Are you sure?", False):
                return
        for each in ids:
            store.set_paused(each, paused)
        emit([{"dag_id": each, "is_paused": paused} for each in ids], output)

    command.__doc__ = summary
    return click.command(name)(command)


dags_pause = _pause_command("pause", True, "Pause DAG(s): no new runs are scheduled (running ones finish).")
dags_unpause = _pause_command("unpause", False, "Resume paused DAG(s).")
dags.add_command(dags_pause)
dags.add_command(dags_unpause)


@dags.command("trigger")
@click.argument("dag_id")
@click.option("-c", "--conf", help="JSON object for the run's conf (validated against the DAG's params).")
@click.option("-r", "--run-id", help="The run id (default manual__<logical date>).")
@click.option("-e", "--exec-date", "exec_date", help="The run's logical date (Airflow 2's name; default: now).")
@click.option("-l", "--logical-date", "logical_date", help="The run's logical date (Airflow 3's name).")
@click.option("--no-replace-microseconds", is_flag=True, help="Keep the microseconds of the default date (now).")
@subdir_option
@output_option
@click.pass_obj
@friendly
def dags_trigger(
    settings: Settings,
    dag_id: str,
    conf: str | None,
    run_id: str | None,
    exec_date: str | None,
    logical_date: str | None,
    no_replace_microseconds: bool,
    subdir: Path | None,
    output: str,
) -> None:
    """Trigger a new DAG run; a running scheduler starts it at once (a paused DAG's run waits, queued)."""
    if exec_date and logical_date:
        raise click.UsageError("give the date once: -e/--exec-date or -l/--logical-date")
    dag, store = dag_from(settings, dag_id, subdir)
    given = exec_date or logical_date
    hint = "--exec-date" if exec_date else "--logical-date"
    when = parse_logical_date(given, hint=hint) if given else None
    if when is None and no_replace_microseconds:
        when = dt.datetime.now(dt.timezone.utc)
    run = trigger_run(settings, store, dag, conf=parse_conf(conf), logical_date=when, run_id=run_id)
    emit([{"dag_id": run.dag_id, "run_id": run.run_id, "logical_date": run.logical_date, "state": run.state}], output)


@dags.command("list-runs")
@click.argument("dag_id", required=False)
@click.option("-d", "--dag-id", "dag_id_option", help="The DAG (Airflow 2's spelling).")
@click.option("--state", type=click.Choice([s.value for s in RunState]), help="Only runs in this state.")
@click.option("-s", "--start-date", help="Only runs with a logical date on or after this.")
@click.option("-e", "--end-date", help="Only runs with a logical date on or before this.")
@click.option("--no-backfill", is_flag=True, help="Leave out backfill runs.")
@click.option("--limit", default=25, show_default=True, help="At most this many runs, newest first.")
@output_option
@click.pass_obj
@friendly
def dags_list_runs(
    settings: Settings,
    dag_id: str | None,
    dag_id_option: str | None,
    state: str | None,
    start_date: str | None,
    end_date: str | None,
    no_backfill: bool,
    limit: int,
    output: str,
) -> None:
    """List DAG runs given a DAG id, newest first."""
    wanted = dag_id_option or dag_id
    if not wanted:
        raise click.UsageError("give the DAG: dockyard dags list-runs -d DAG_ID")
    store = open_store(settings)
    runs = find_runs(
        store,
        wanted,
        start=parse_logical_date(start_date, hint="--start-date") if start_date else None,
        end=parse_logical_date(end_date, hint="--end-date") if end_date else None,
        states=[state] if state else None,
        exclude_run_types=["backfill"] if no_backfill else (),
        limit=limit,
    )
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
@subdir_option
@click.pass_obj
@friendly
def dags_test(
    settings: Settings,
    dag_file_or_id: str,
    logical_date: str | None,
    conf: str | None,
    quiet: bool,
    subdir: Path | None,
) -> None:
    """Run a whole DAG once, now, in this process: a live view of task states and their logs.

    Dependencies, trigger rules, retries and XComs work as under the scheduler, and the run is recorded.
    Exits 0 if the run succeeded, 1 if it failed, 130 if interrupted (running containers are stopped).
    """
    dag = load_dag(settings, dag_file_or_id) if subdir is None else dag_from(settings, dag_file_or_id, subdir)[0]
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

"""``dockyard dags state|next-execution|details|delete|report|reserialize``: what the store knows of a DAG."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from dockyard.cli.common import (
    confirm_or_stop,
    dag_from,
    date_or_none,
    fail,
    friendly,
    open_store,
    read_dags,
    subdir_option,
)
from dockyard.cli.output import emit, output_option
from dockyard.processor import FILES_META_KEY, DagProcessor, dag_files, parse_files
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.store.maintenance import delete_dag
from dockyard.store.run_lookup import run_at
from dockyard.timetable import DataInterval, TimeRestriction, Timetable, clock, coerce, coerce_optional, to_utc


@click.argument("dag_id")
@click.argument("execution_date")
@subdir_option
@click.pass_obj
@friendly
def dags_state(settings: Settings, dag_id: str, execution_date: str, subdir: Path | None) -> None:
    """Get the status of a dag run (at a logical date, or by run id), with its conf if it has one."""
    store = open_store(settings)
    store.get_dag(dag_id)
    run = run_at(store, dag_id, execution_date, date_or_none(execution_date))
    out = str(run.state) if run is not None else "None"
    if run is not None and run.conf:
        out += ", " + json.dumps(run.conf)
    click.echo(out)


def _following(
    table: Timetable, dag: SerializedDag, after: DataInterval | None, *, restricted: bool
) -> DataInterval | None:
    """The data interval of the scheduled run after ``after``; unrestricted ignores start, end and catchup."""
    restriction = TimeRestriction(
        coerce_optional(dag.start_date) if restricted else None,
        coerce_optional(dag.end_date) if restricted else None,
        dag.catchup if restricted else True,
    )
    last = None if after is None else DataInterval(coerce(after.start), coerce(after.end))
    with clock(dt.datetime.now(dt.timezone.utc)):
        info = table.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
    return None if info is None else DataInterval(to_utc(info.data_interval.start), to_utc(info.data_interval.end))


@click.argument("dag_id")
@click.option("-n", "--num-executions", type=click.IntRange(min=1), default=1, help="How many to show.")
@subdir_option
@click.pass_obj
@friendly
def dags_next_execution(settings: Settings, dag_id: str, num_executions: int, subdir: Path | None) -> None:
    """Get the next execution datetimes of a DAG: the logical dates of its next scheduled runs."""
    dag, store = dag_from(settings, dag_id, subdir)
    if store.get_dag(dag_id).is_paused:
        click.echo("[INFO] Please be reminded this DAG is PAUSED now.", err=True)
    table = dag.timetable()
    last = store.last_scheduled_run(dag_id)
    after = None
    if last is not None:
        after = DataInterval(last.data_interval_start or last.logical_date, last.data_interval_end or last.logical_date)
    interval = _following(table, dag, after, restricted=True)
    for _ in range(num_executions):
        if interval is None:
            click.echo(
                "[WARN] No following schedule can be found. This DAG may have schedule interval '@once' or `None`.",
                err=True,
            )
            click.echo("None")
            return
        click.echo(interval.start.isoformat())
        interval = _following(table, dag, interval, restricted=False)


def details_of(dag: SerializedDag, row: Any) -> dict[str, Any]:
    """A DAG's details under the field names of Airflow's ``dags details`` (those dockyard has)."""
    return {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "is_paused": row.is_paused,
        "is_active": row.is_active,
        "schedule_interval": dag.schedule,
        "timetable_description": dag.timetable().summary,
        "tags": list(dag.tags),
        "catchup": dag.catchup,
        "start_date": dag.start_date,
        "end_date": dag.end_date,
        "dagrun_timeout": dag.dagrun_timeout,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "params": {k: v.get("value") for k, v in dag.params.items()},
        "doc_md": dag.doc_md,
        "last_parsed_time": row.last_parsed_at,
        "next_dagrun": row.next_dagrun,
        "task_ids": dag.task_ids,
    }


@click.argument("dag_id")
@output_option
@click.pass_obj
@friendly
def dags_details(settings: Settings, dag_id: str, output: str) -> None:
    """Get DAG details given a DAG id (from the store: the DAG file is not imported)."""
    store = open_store(settings)
    row = store.get_dag(dag_id)
    details = details_of(SerializedDag.from_row(row), row)
    if output in ("json", "yaml"):
        emit([details], output)
    else:
        emit([{"property": k, "value": v} for k, v in details.items()], output)


@click.argument("dag_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@friendly
def dags_delete(settings: Settings, dag_id: str, yes: bool) -> None:
    """Delete all DB records related to the specified DAG (its runs, task instances, XComs).

    The DAG comes back at the next parse while its file still defines it, as in Airflow; task logs are kept.
    """
    store = open_store(settings)
    row = store.get_dag(dag_id)
    if not confirm_or_stop("This will drop all existing records related to the specified DAG. Proceed?", yes):
        return
    removed = delete_dag(store, dag_id)
    files = json.loads(store.get_meta(FILES_META_KEY) or "{}")
    if files.pop(row.fileloc, None) is not None:  # parse the file again next time, so the DAG can come back
        store.set_meta(FILES_META_KEY, json.dumps(files))
    click.echo(f"Removed {removed} record(s)")


@subdir_option
@output_option
@click.pass_obj
@friendly
def dags_report(settings: Settings, subdir: Path | None, output: str) -> None:
    """Show DagBag loading report: each DAG file with its parse time, DAGs and tasks (slowest first)."""
    folder = subdir or settings.dags_folder
    files = [folder.resolve()] if folder.is_file() else [p.resolve() for p in dag_files(folder)]
    results = parse_files([str(p) for p in files], settings)
    base = folder.resolve() if folder.is_dir() else folder.resolve().parent
    rows = [
        {
            "file": "/" + str(Path(path).relative_to(base)),
            "duration": dt.timedelta(seconds=round(result.seconds, 6)),
            "dag_num": len(result.dags),
            "task_num": sum(len(d.tasks) for d in result.dags),
            "dags": ", ".join(d.dag_id for d in result.dags),
        }
        for path, result in sorted(results.items(), key=lambda item: -item[1].seconds)
    ]
    emit([{**r, "duration": str(r["duration"])} for r in rows], output, empty=f"No DAG files in {folder}.")


@click.option("--clear-only", is_flag=True, help="Only forget what was parsed; the next parse reads every file.")
@subdir_option
@click.pass_obj
@friendly
def dags_reserialize(settings: Settings, clear_only: bool, subdir: Path | None) -> None:
    """Reserialize all DAGs by parsing the DAG files again (after an upgrade, or to be sure)."""
    if subdir is not None:
        settings = settings.with_dags_folder(subdir)
    store = open_store(settings)
    if clear_only:
        store.set_meta(FILES_META_KEY, "{}")
        click.echo("The stored parse of every DAG file is forgotten; the next parse reads them all again.")
        return
    DagProcessor(settings, store).refresh(force=True)
    report, _ = read_dags(settings, None)
    click.echo(f"Reserialized {len(report.dags)} DAG(s) from {settings.dags_folder}.")
    if report.import_errors:
        fail(f"{len(report.import_errors)} file(s) failed to load: dockyard dags list-import-errors")


def register_dag_commands(dags: click.Group) -> None:
    """Add these commands to the ``dags`` group."""
    for name, function in (
        ("state", dags_state),
        ("next-execution", dags_next_execution),
        ("details", dags_details),
        ("delete", dags_delete),
        ("report", dags_report),
        ("reserialize", dags_reserialize),
    ):
        dags.command(name)(function)

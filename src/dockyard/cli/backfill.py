"""``dockyard dags backfill DAG -s START -e END``: Airflow 2's backfill, run in this process (see
:mod:`dockyard.backfill` for the rules).

Examples::

    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-07
    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-07 --rerun-failed-tasks --max-active-runs 2
    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-07 --reset-dagruns -y
    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-03 --dry-run      # render each task's templates only
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from dockyard.backfill import (
    Action,
    BackfillOptions,
    Step,
    plan_backfill,
    prepare_existing,
    run_backfill,
)
from dockyard.cli.common import dag_in, fail, friendly, load_folder, open_store, parse_conf, parse_logical_date
from dockyard.errors import DockyardError, InvalidParamsError
from dockyard.params import resolve_params
from dockyard.preparation import TryContext, prepare_in_child
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.states import RunState
from dockyard.store import Store


@click.command("backfill")
@click.argument("dag_id")
@click.option("-s", "--start-date", "start", help="The first logical date (2024-01-01 or an ISO datetime).")
@click.option("-e", "--end-date", "end", help="The last logical date, included (default: the start date).")
@click.option("--reset-dagruns", is_flag=True, help="Clear the runs already in the range, so every task runs again.")
@click.option("--rerun-failed-tasks", is_flag=True, help="Run the failed tasks of runs in the range again.")
@click.option("--run-backwards", "-B", is_flag=True, help="Run the latest date first (not with depends_on_past).")
@click.option("--dry-run", "-n", is_flag=True, help="Render each task's templates for each date; run nothing.")
@click.option("--max-active-runs", type=click.IntRange(min=1), help="At most this many runs at once (default: DAG's).")
@click.option("-c", "--conf", help="JSON object for the new runs' conf (validated against the DAG's params).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before --reset-dagruns clears task instances.")
@click.pass_obj
@friendly
def dags_backfill(
    settings: Settings,
    dag_id: str,
    start: str | None,
    end: str | None,
    reset_dagruns: bool,
    rerun_failed_tasks: bool,
    run_backwards: bool,
    dry_run: bool,
    max_active_runs: int | None,
    conf: str | None,
    yes: bool,
) -> None:
    """Run DAG_ID for every logical date of its schedule from START to END, as runs of type backfill.

    Dates that have a run already keep it: a success is done, a failed run stays failed unless
    --rerun-failed-tasks (or --reset-dagruns) runs it again. Works on paused DAGs too. Exits 1 if a run failed.
    """
    if start is None and end is None:
        raise click.UsageError("give the range: dockyard dags backfill DAG_ID -s 2024-01-01 [-e 2024-01-07]")
    first = parse_logical_date(start or end, hint="--start-date")
    last = parse_logical_date(end or start, hint="--end-date")
    store = open_store(settings)
    dag = dag_in(load_folder(settings, store), dag_id, settings)
    run_conf = parse_conf(conf)
    try:
        resolve_params(dag.param_objects(), run_conf)
    except ValueError as exc:
        raise InvalidParamsError(f"DAG {dag.dag_id!r}: {exc}") from None
    options = BackfillOptions(reset_dagruns, rerun_failed_tasks, run_backwards, max_active_runs, run_conf)
    plan = plan_backfill(store, dag, first, last, options)
    if not plan:
        click.echo(f"No run dates were found for the given dates and the schedule of {dag.dag_id} ({dag.schedule}).")
        return
    if dry_run:
        _dry_run(settings, dag, plan, run_conf)
        return
    if reset_dagruns and not yes and not _confirm_reset(store, dag, plan):
        click.echo("Cancelled, nothing was cleared.")
        plan = plan_backfill(store, dag, first, last, BackfillOptions(**{**vars(options), "reset_dagruns": False}))
    cleared = prepare_existing(store, dag, plan)
    if cleared:
        click.echo(f"Cleared {cleared} task instance(s) to run again.")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        states = run_backfill(settings, store, dag, plan, options, on_finished=_report)
    except KeyboardInterrupt:
        click.secho("Interrupted: the running containers were stopped.", fg="yellow", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [run_id for run_id, state in states.items() if state != RunState.SUCCESS.value]
    if failed:
        fail(f"Some runs of {dag.dag_id} failed: {', '.join(failed)} (`dockyard tasks states-for-dag-run` says which)")
    click.secho(f"Backfill of {dag.dag_id} done: {len(states)} run(s) succeeded.", fg="green", err=True)


def _report(step: Step, state: str) -> None:
    colour = "green" if state == RunState.SUCCESS.value else "red"
    note = " (already done)" if step.action is Action.DONE else ""
    click.secho(f"{step.logical_date.isoformat()}  {step.run_id}: {state}{note}", fg=colour)


def _confirm_reset(store: Store, dag: SerializedDag, plan: list[Step]) -> bool:
    """Airflow's question before a reset clears task instances: lists them, asks yes or no."""
    shown = [
        f"<TaskInstance: {dag.dag_id}.{ti.task_id} {ti.run_id} [{ti.state or 'none'}]>"
        for step in plan
        if step.action is Action.RESET
        for ti in store.list_task_instances(dag.dag_id, step.run_id)
    ]
    if not shown:
        return True
    question = f"You are about to delete these {len(shown)} tasks:\n" + "\n".join(shown) + "\n\nAre you sure?"
    return click.confirm(question, default=False)


def _dry_run(settings: Settings, dag: SerializedDag, plan: list[Step], conf: dict[str, Any]) -> None:
    """Airflow's dry run: for each date, each task's template fields rendered (secrets masked); nothing runs."""
    for step in plan:
        click.echo(f"Dry run of DAG {dag.dag_id} on {step.logical_date.isoformat()} ({step.action.value})")
        for task in dag.tasks:
            click.echo(f"Task {task.task_id} located in DAG {dag.dag_id}")
            if not task.runs_container:
                continue
            context = TryContext(
                dag_id=dag.dag_id,
                task_id=task.task_id,
                run_id=step.run_id,
                logical_date=step.logical_date,
                fileloc=dag.fileloc,
                params=resolve_params(dag.param_objects(), conf),
                conf=conf,
                data_interval=(step.interval.start, step.interval.end),
                run={"run_type": "backfill", "state": RunState.RUNNING.value, "external_trigger": False},
                test_mode=True,
            )
            try:
                rendered = prepare_in_child(settings, context).rendered
            except DockyardError as exc:
                click.secho(f"  cannot render: {exc}", fg="red")
                continue
            for name, value in (rendered or {}).items():
                click.echo(f"  {name}: {value}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt

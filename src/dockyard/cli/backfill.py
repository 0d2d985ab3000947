"""``dockyard dags backfill DAG -s START -e END``: Airflow 2's backfill, run in this process (see
:mod:`dockyard.backfill` for the rules).

Examples::

    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-07
    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-07 --rerun-failed-tasks --max-active-runs 2
    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-07 --reset-dagruns -y
    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-03 --dry-run      # render each task's templates only
    dockyard dags backfill etl -s 2024-01-01 -e 2024-01-03 -t '^load$' -i  # only the task load, not its upstream
    dockyard dags backfill 'etl_.*' --treat-dag-id-as-regex -s 2024-01-01 -m  # mark every run successful
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import signal
import sys
from pathlib import Path
from typing import Any

import click

from dockyard import defaults
from dockyard.backfill import (
    Action,
    BackfillOptions,
    Step,
    check_pool,
    plan_backfill,
    prepare_existing,
    run_backfill,
    select_tasks,
)
from dockyard.cli.common import dag_in, fail, friendly, parse_conf, parse_logical_date, read_dags, subdir_option
from dockyard.errors import DagDefinitionError, DockyardError, InvalidParamsError
from dockyard.params import resolve_params
from dockyard.preparation import TryContext, prepare_in_child
from dockyard.processor import Report
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
@click.option("-t", "--task-regex", help="Only the tasks whose id this regular expression finds (and their upstream).")
@click.option("-i", "--ignore-dependencies", is_flag=True, help="Run only the found tasks, none waiting for another.")
@click.option(
    "-I", "--ignore-first-depends-on-past", is_flag=True, help="The first date ignores depends_on_past (not the rest)."
)
@click.option("-m", "--mark-success", is_flag=True, help="Mark every task successful without running it.")
@click.option("--pool", help="Run every task in this pool.")
@click.option("--continue-on-failures", is_flag=True, help="Go on with the next dates after a run failed.")
@click.option("--disable-retry", is_flag=True, help="Fail a task at its first failed try (no retries).")
@click.option(
    "--delay-on-limit",
    type=click.FloatRange(min=0),
    default=defaults.DEFAULT_BACKFILL_DELAY_ON_LIMIT_SECONDS,
    show_default=True,
    help="Seconds to wait, once --max-active-runs were all busy, before starting the next run.",
)
@click.option(
    "--treat-dag-id-as-regex",
    "--treat-dag-as-regex",
    "as_regex",
    is_flag=True,
    help="Backfill every DAG whose id DAG_ID (a regular expression) finds.",
)
@subdir_option
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
    task_regex: str | None,
    ignore_dependencies: bool,
    ignore_first_depends_on_past: bool,
    mark_success: bool,
    pool: str | None,
    continue_on_failures: bool,
    disable_retry: bool,
    delay_on_limit: float,
    as_regex: bool,
    subdir: Path | None,
) -> None:
    """Run DAG_ID for every logical date of its schedule from START to END, as runs of type backfill.

    Dates that have a run already keep it: a success is done, a failed run stays failed unless
    --rerun-failed-tasks (or --reset-dagruns) runs it again. A failed run stops the backfill unless
    --continue-on-failures. Works on paused DAGs too. Exits 1 if a run failed, or if the backfill is
    deadlocked (no remaining task can run, e.g. depends_on_past after a failure): then it names each blocked task.
    """
    if start is None and end is None:
        raise click.UsageError("give the range: dockyard dags backfill DAG_ID -s 2024-01-01 [-e 2024-01-07]")
    first = parse_logical_date(start or end, hint="--start-date")
    last = parse_logical_date(end or start, hint="--end-date")
    report, store = read_dags(settings, subdir)
    if subdir is not None:
        settings = settings.with_dags_folder(subdir if subdir.is_dir() else subdir.parent)
    dags = _chosen(report, dag_id, as_regex, settings)
    run_conf = parse_conf(conf)
    options = BackfillOptions(
        reset_dagruns,
        rerun_failed_tasks,
        run_backwards,
        max_active_runs,
        run_conf,
        mark_success=mark_success,
        pool=pool,
        continue_on_failures=continue_on_failures,
        disable_retry=disable_retry,
        delay_on_limit=delay_on_limit,
        ignore_first_depends_on_past=ignore_first_depends_on_past,
        task_regex=task_regex,
        ignore_dependencies=ignore_dependencies,
    )
    check_pool(store, options)
    for dag in dags:
        select_tasks(dag, task_regex, ignore_dependencies)  # a regex that finds no task stops before anything runs
    failed: dict[str, list[str]] = {}
    for dag in dags:
        failed[dag.dag_id] = _backfill(settings, store, dag, first, last, options, dry_run=dry_run, yes=yes)
    said = [f"Some runs of {dag_id} failed: {', '.join(run_ids)}" for dag_id, run_ids in failed.items() if run_ids]
    if said:
        fail("; ".join(said) + " (`dockyard tasks states-for-dag-run` says which tasks)")


def _chosen(report: Report, dag_id: str, as_regex: bool, settings: Settings) -> list[SerializedDag]:
    """DAG_ID's DAG, or with ``--treat-dag-id-as-regex`` every DAG whose id the expression finds."""
    if not as_regex:
        return [dag_in(report, dag_id, settings)]
    try:
        pattern = re.compile(dag_id)
    except re.error as exc:
        raise click.BadParameter(f"{dag_id!r} is not a regular expression ({exc})", param_hint="DAG_ID") from None
    found = [report.dags[name] for name in sorted(report.dags) if pattern.search(name)]
    if not found:
        raise DagDefinitionError(
            f"no DAG id matches {dag_id!r}; the DAGs are {', '.join(sorted(report.dags)) or '(none)'}"
        )
    return found


def _backfill(
    settings: Settings,
    store: Store,
    dag: SerializedDag,
    first: dt.datetime,
    last: dt.datetime,
    options: BackfillOptions,
    *,
    dry_run: bool,
    yes: bool,
) -> list[str]:
    """One DAG's backfill; returns the run ids that did not succeed (failed, or not started after a failure)."""
    try:
        resolve_params(dag.param_objects(), options.conf or {})
    except ValueError as exc:
        raise InvalidParamsError(f"DAG {dag.dag_id!r}: {exc}") from None
    plan = plan_backfill(store, dag, first, last, options)
    if not plan:
        click.echo(f"No run dates were found for the given dates and the schedule of {dag.dag_id} ({dag.schedule}).")
        return []
    chosen = select_tasks(dag, options.task_regex, options.ignore_dependencies)
    if dry_run:
        _dry_run(settings, chosen, plan, options.conf or {})
        return []
    if options.reset_dagruns and not yes and not _confirm_reset(store, chosen, plan):
        click.echo("Cancelled, nothing was cleared.")
        plan = plan_backfill(store, dag, first, last, dataclasses.replace(options, reset_dagruns=False))
    cleared = prepare_existing(store, dag, plan, options)
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
    not_started = [step.run_id for step in plan if step.run_id not in states]
    if not_started:
        click.secho(
            f"{dag.dag_id}: {len(not_started)} date(s) not started after a failed run "
            "(--continue-on-failures runs them anyway)",
            fg="yellow",
            err=True,
        )
    failed = [run_id for run_id, state in states.items() if state != RunState.SUCCESS.value]
    if not failed and not not_started:
        click.secho(f"Backfill of {dag.dag_id} done: {len(states)} run(s) succeeded.", fg="green", err=True)
    return failed + [f"{run_id} (not started)" for run_id in not_started]


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
        if ti.task_id in dag.task_dict
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

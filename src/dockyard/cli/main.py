"""``dockyard``: the command line. Verbs and arguments follow Airflow's CLI where one exists.

Examples::

    dockyard tasks test dags/etl.py extract 2024-01-31
    dockyard tasks test etl load --quiet
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
from types import FrameType
from typing import Any

import click

from dockyard import __version__
from dockyard.dagbag import find_dag
from dockyard.errors import DockyardError
from dockyard.execution import TaskRunner, TryState, describe
from dockyard.settings import Settings


def parse_logical_date(value: str | None) -> dt.datetime:
    """``2024-01-31`` or an ISO datetime; naive values are UTC. Default: now, to the second."""
    if value is None:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use 2024-01-31 or 2024-01-31T06:00:00+00:00", param_hint="LOGICAL_DATE"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _fail(message: str, code: int = 1) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM is handled like Ctrl-C, so the running container is stopped before dockyard exits.
    raise KeyboardInterrupt


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="dockyard")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """dockyard: a lean workflow orchestrator in which every task runs as a container.

    DAG files use Airflow's API (DAG, DockerOperator, >>, Jinja templates). Files live in
    $DOCKYARD_HOME (default ~/dockyard); DAG files in $DOCKYARD_DAGS_FOLDER (default $DOCKYARD_HOME/dags).
    """
    try:
        ctx.obj = Settings.from_env()
    except DockyardError as exc:
        _fail(str(exc))


@cli.group()
def tasks() -> None:
    """Run and inspect single tasks."""


@tasks.command("test")
@click.argument("dag_file_or_id", metavar="DAG_FILE_OR_DAG_ID")
@click.argument("task_id")
@click.argument("logical_date", required=False)
@click.option("-t", "--task-params", "task_params", help="JSON object of params for this run, e.g. '{\"n\": 3}'.")
@click.option("-q", "--quiet", is_flag=True, help="Do not stream the task log to the terminal.")
@click.pass_obj
def tasks_test(
    settings: Settings,
    dag_file_or_id: str,
    task_id: str,
    logical_date: str | None,
    task_params: str | None,
    quiet: bool,
) -> None:
    """Run one task of a DAG now, streaming its log, then print its XCom value.

    DAG_FILE_OR_DAG_ID is a DAG file (path ending in .py) or a dag_id in $DOCKYARD_DAGS_FOLDER.
    LOGICAL_DATE (e.g. 2024-01-31) sets {{ ds }} and friends; it defaults to now.
    Exits 0 when the task succeeds or is skipped, 1 when it fails, 130 when interrupted.
    """
    when = parse_logical_date(logical_date)
    params: dict[str, Any] = {}
    if task_params:
        try:
            params = json.loads(task_params)
        except ValueError as exc:
            raise click.BadParameter(
                f"not valid JSON ({exc}); e.g. '{{\"n\": 3}}'", param_hint="--task-params"
            ) from None
        if not isinstance(params, dict):
            raise click.BadParameter("must be a JSON object, e.g. '{\"n\": 3}'", param_hint="--task-params")
    try:
        dag = find_dag(dag_file_or_id, settings.dags_folder)
        task = dag.get_task(task_id)
    except DockyardError as exc:
        _fail(str(exc))
        return
    run_id = f"test__{when.isoformat()}"
    runner = TaskRunner(settings)
    previous = signal.signal(signal.SIGTERM, _terminate)
    echo = None if quiet else (lambda text: click.echo(text, nl=False))
    try:
        outcome = runner.run(dag, task, logical_date=when, run_id=run_id, params=params, echo=echo)
    except KeyboardInterrupt:
        click.secho(f"Interrupted: task {task_id!r} was stopped and its container with it.", fg="yellow", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        runner.runtime.close()
    click.echo(f"Log: {outcome.log_path}", err=True)
    if outcome.state is TryState.SUCCESS:
        click.secho(f"Task {task_id!r} succeeded in {outcome.duration:.1f} s.", fg="green", err=True)
        click.echo(f"XCom: {describe(outcome.xcom)}")
    elif outcome.state is TryState.SKIPPED:
        click.secho(f"Task {task_id!r} was skipped (exit code {outcome.exit_code}).", fg="yellow", err=True)
    else:
        _fail(outcome.message)


def main() -> None:
    cli(prog_name="dockyard")


if __name__ == "__main__":  # pragma: no cover
    main()

"""``dockyard``: the command line. Commands, arguments and flags follow Airflow's CLI where one exists.

Examples::

    dockyard tasks test dags/etl.py extract 2024-01-31
    dockyard dags test etl 2024-01-31
    dockyard standalone
    dockyard cheat-sheet
"""

from __future__ import annotations

import logging
from typing import Any

import click

from dockyard import __version__
from dockyard.cli.admin import scheduler_command, standalone_command, variables
from dockyard.cli.audit import record_changes
from dockyard.cli.backfill import dags_backfill
from dockyard.cli.common import fail
from dockyard.cli.compat import compat
from dockyard.cli.config import config
from dockyard.cli.connections import connections, rotate_fernet_key
from dockyard.cli.dag_info import register_dag_commands
from dockyard.cli.dags import dags
from dockyard.cli.database import dags_list_jobs, db, jobs
from dockyard.cli.engines import engines
from dockyard.cli.info import cheat_sheet, info, version
from dockyard.cli.pools import pools
from dockyard.cli.task_info import register_task_commands
from dockyard.cli.tasks import tasks
from dockyard.cli.users import users
from dockyard.cli.web import webserver
from dockyard.errors import DockyardError
from dockyard.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="dockyard")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """dockyard: a lean workflow orchestrator in which every task runs as a container.

    DAG files use Airflow's API (DAG, DockerOperator, >>, Jinja templates). Files live in
    $DOCKYARD_HOME (default ~/dockyard); DAG files in $DOCKYARD_DAGS_FOLDER (default $DOCKYARD_HOME/dags);
    the database is $DOCKYARD_DATABASE_URL (default SQLite in $DOCKYARD_HOME).
    """
    try:
        ctx.obj = Settings.from_env()
    except DockyardError as exc:
        fail(str(exc))


for _command in (
    cheat_sheet,
    compat,
    config,
    connections,
    dags,
    db,
    engines,
    info,
    jobs,
    pools,
    rotate_fernet_key,
    scheduler_command,
    standalone_command,
    tasks,
    users,
    variables,
    version,
    webserver,
):
    cli.add_command(_command)
register_dag_commands(dags)
dags.add_command(dags_backfill)
dags.add_command(dags_list_jobs)
register_task_commands(tasks)


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def add_verbose_flags(group: click.Group) -> None:
    """Give every command Airflow's ``-v/--verbose`` (debug logging), as every ``airflow`` command has it."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            add_verbose_flags(command)
        elif not any("--verbose" in getattr(p, "opts", ()) for p in command.params):
            command.params.append(
                click.Option(
                    ["-v", "--verbose"],
                    is_flag=True,
                    expose_value=False,
                    is_eager=True,
                    callback=_verbose,
                    help="Log at debug level.",
                )
            )


add_verbose_flags(cli)
record_changes(cli)


def commands_of(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    """Every runnable command by its full name (``"dags list"``), for ``cheat-sheet`` and the tests."""
    found: dict[str, Any] = {}
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            found.update(commands_of(command, (*prefix, name)))
        else:
            found[" ".join((*prefix, name))] = command
    return found


def main() -> None:
    cli(prog_name="dockyard")


if __name__ == "__main__":  # pragma: no cover
    main()

"""``dockyard``: the command line. Verbs and arguments follow Airflow's CLI where one exists.

Examples::

    dockyard tasks test dags/etl.py extract 2024-01-31
    dockyard dags test etl 2024-01-31
    dockyard standalone
"""

from __future__ import annotations

import click

from dockyard import __version__
from dockyard.cli.admin import db, pools, scheduler_command, standalone_command, variables
from dockyard.cli.backfill import dags_backfill
from dockyard.cli.common import fail
from dockyard.cli.compat import compat
from dockyard.cli.connections import connections, rotate_fernet_key
from dockyard.cli.dags import dags
from dockyard.cli.tasks import tasks
from dockyard.cli.web import users, webserver
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


cli.add_command(dags)
dags.add_command(dags_backfill)
cli.add_command(tasks)
cli.add_command(db)
cli.add_command(variables)
cli.add_command(pools)
cli.add_command(connections)
cli.add_command(rotate_fernet_key)
cli.add_command(compat)
cli.add_command(users)
cli.add_command(webserver)
cli.add_command(scheduler_command)
cli.add_command(standalone_command)


def main() -> None:
    cli(prog_name="dockyard")


if __name__ == "__main__":  # pragma: no cover
    main()

"""``dockyard db ...`` and ``dockyard jobs check``: the metadata database and whether the scheduler is alive."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from collections.abc import Callable

import click
from sqlalchemy.engine import make_url

from dockyard.cli.common import confirm_or_stop, fail, friendly, open_store, parse_logical_date
from dockyard.cli.output import emit, output_option
from dockyard.errors import DockyardError
from dockyard.settings import Settings
from dockyard.store.db import create_db_engine, current_revision, head_revision, migrate, safe_url
from dockyard.store.maintenance import CLEANABLE, clean, reset_schema


@click.group()
def db() -> None:
    """Database operations."""


def _migrate(settings: Settings) -> None:
    engine = create_db_engine(settings.database_url)
    changed = migrate(engine, force=True)
    state = "upgraded to" if changed else "already at"
    click.echo(
        f"Database {safe_url(settings.database_url)} {state} revision {current_revision(engine)} "
        f"(head {head_revision()})."
    )
    engine.dispose()
    _create_admin(settings)


def _migrate_flags(function: Callable[..., None]) -> Callable[..., None]:
    """Airflow's flags of ``db migrate`` that hold here as they are (dockyard always runs its migration files
    and never re-parses DAG files while migrating)."""
    function = click.option("--no-reserialize-dags", is_flag=True, help="Accepted: DAG files are not parsed.")(function)
    return click.option("-m", "--use-migration-files", is_flag=True, help="Accepted: always so.")(function)


@db.command("migrate")
@_migrate_flags
@click.pass_obj
@friendly
def db_migrate(settings: Settings, use_migration_files: bool, no_reserialize_dags: bool) -> None:
    """Migrates the metadata database to the latest version (safe to run any number of times)."""
    _migrate(settings)


@db.command("upgrade")
@_migrate_flags
@click.pass_obj
@friendly
def db_upgrade(settings: Settings, use_migration_files: bool, no_reserialize_dags: bool) -> None:
    """Deprecated -- use `migrate` instead. Upgrade the metadata database to latest version."""
    click.secho("`db upgrade` is deprecated (as in Airflow): use `dockyard db migrate`.", fg="yellow", err=True)
    _migrate(settings)


@db.command("init")
@click.pass_obj
@friendly
def db_init(settings: Settings) -> None:
    """Deprecated -- use `migrate` instead. Initialize the metadata database."""
    click.secho("`db init` is deprecated (as in Airflow): use `dockyard db migrate`.", fg="yellow", err=True)
    _migrate(settings)


def _create_admin(settings: Settings) -> None:
    """The admin user of DOCKYARD_ADMIN_USERNAME and DOCKYARD_ADMIN_PASSWORD(_FILE), made once.

    A service's start-up runs ``db migrate`` every time; an existing user keeps the password it has now,
    so a password changed in the UI is not reset by a restart.
    """
    if not settings.admin_username:
        return
    if not settings.admin_password:
        fail(
            f"DOCKYARD_ADMIN_USERNAME={settings.admin_username!r} needs a password: set DOCKYARD_ADMIN_PASSWORD "
            "or DOCKYARD_ADMIN_PASSWORD_FILE (a secret file)"
        )
    from dockyard.users import create_user

    store = open_store(settings)
    try:
        if any(user.username == settings.admin_username for user in store.list_users()):
            click.echo(f"Admin user {settings.admin_username} exists already (its password is left as it is).")
            return
        create_user(store, settings.admin_username, settings.admin_password, "admin")
    finally:
        store.close()
    click.echo(f"Admin user {settings.admin_username} created.")


@db.command("check")
@click.option("--retry", type=click.IntRange(min=0), default=0, help="Try this many more times before failing.")
@click.option("--retry-delay", type=click.IntRange(min=0), default=1, help="Seconds between tries.")
@click.pass_obj
def db_check(settings: Settings, retry: int, retry_delay: int) -> None:
    """Check if the database can be reached (and is migrated)."""
    for attempt in range(retry + 1):
        try:
            engine = create_db_engine(settings.database_url)
            try:
                revision = current_revision(engine)
            finally:
                engine.dispose()
            break
        except DockyardError as exc:
            if attempt == retry:
                fail(str(exc))
            click.echo(f"{exc}; trying again in {retry_delay} s", err=True)
            time.sleep(retry_delay)
    if revision != head_revision():
        fail(
            f"database {safe_url(settings.database_url)} is at revision {revision}, not {head_revision()}: "
            "run `dockyard db migrate`"
        )
    click.echo(f"Database {safe_url(settings.database_url)} answers and is at revision {revision}.")


@db.command("reset")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-s", "--skip-init", is_flag=True, help="Only drop the tables; do not create them again.")
@click.option("-m", "--use-migration-files", is_flag=True, help="Accepted: dockyard always runs its migration files.")
@click.pass_obj
@friendly
def db_reset(settings: Settings, yes: bool, skip_init: bool, use_migration_files: bool) -> None:
    """Burn down and rebuild the metadata database (every DAG run, user, connection and variable is lost)."""
    where = safe_url(settings.database_url)
    if not confirm_or_stop(f"This will drop every dockyard table of {where}. Proceed?", yes):
        return
    engine = create_db_engine(settings.database_url)
    try:
        dropped = reset_schema(engine, rebuild=not skip_init)
    finally:
        engine.dispose()
    again = "" if skip_init else f" and created again at revision {head_revision()}"
    click.echo(f"Dropped {len(dropped)} table(s) of {where}{again}.")


@db.command("clean")
@click.option(
    "--clean-before-timestamp",
    required=True,
    help="Delete rows older than this (2024-01-31 or an ISO datetime; without a zone, UTC).",
)
@click.option("-t", "--tables", help=f"Comma-separated tables to clean (default all of: {', '.join(CLEANABLE)}).")
@click.option("--dry-run", is_flag=True, help="Only say how many rows would be deleted.")
@click.option("--skip-archive", is_flag=True, help="Accepted: dockyard deletes without archive tables anyway.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@friendly
def db_clean(
    settings: Settings, clean_before_timestamp: str, tables: str | None, dry_run: bool, skip_archive: bool, yes: bool
) -> None:
    """Purge old records in metastore tables (each DAG's latest scheduled run is kept)."""
    before = parse_logical_date(clean_before_timestamp, hint="--clean-before-timestamp")
    chosen = [t.strip() for t in tables.split(",") if t.strip()] if tables else list(CLEANABLE)
    unknown = [t for t in chosen if t not in CLEANABLE]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: not a table dockyard cleans; choose from {', '.join(CLEANABLE)}",
            param_hint="--tables",
        )
    store = open_store(settings)
    planned = clean(store, before, chosen, dry_run=True)
    for purge in planned:
        click.echo(f"{purge.table}: {purge.rows} row(s) older than {before.isoformat()}")
    if dry_run or not sum(p.rows for p in planned):
        return
    if not confirm_or_stop("Delete these rows? (dockyard keeps no archive of them)", yes):
        return
    done = clean(store, before, chosen, dry_run=False)
    click.echo(f"Deleted {sum(p.rows for p in done)} row(s).")


@db.command("shell")
@click.pass_obj
def db_shell(settings: Settings) -> None:
    """Runs a shell to access the database: sqlite3 for SQLite, psql for PostgreSQL (the password is passed
    in the environment, never on the command line)."""
    url = make_url(settings.database_url)
    backend = url.get_backend_name()
    env: dict[str, str] = {}
    if backend == "sqlite":
        program, args = "sqlite3", [url.database or ":memory:"]
    elif backend == "postgresql":
        program, args = "psql", []
        parts = {"PGHOST": url.host, "PGPORT": url.port, "PGUSER": url.username, "PGDATABASE": url.database}
        env = {k: str(v) for k, v in parts.items() if v is not None}
        if url.password:
            env["PGPASSWORD"] = str(url.password)
    else:
        fail(f"database {safe_url(settings.database_url)} has no shell dockyard knows; use SQLite or PostgreSQL")
    found = shutil.which(program)
    if found is None:
        package = "sqlite3" if program == "sqlite3" else "postgresql-client"
        fail(f"`{program}` is not installed; install it (Debian: apt-get install {package}) to use `db shell`")
    click.echo(f"Connecting to {safe_url(settings.database_url)} with {program}.", err=True)
    for name, value in env.items():  # the shell inherits them; the password never shows in `ps`
        os.environ[name] = value
    raise SystemExit(subprocess.call([found, *args]))


@click.group()
def jobs() -> None:
    """Manage jobs."""


JOB_TYPES = ("SchedulerJob", "LocalTaskJob")
"""The jobs dockyard runs: schedulers (which also parse DAG files) and ``dags test`` / ``tasks run``."""


def heartbeat_age(settings: Settings) -> tuple[float | None, str | None]:
    """Seconds since the scheduler's last heartbeat and its time (None, None when no scheduler ever ran)."""
    store = open_store(settings)
    try:
        beat = store.get_meta("scheduler_heartbeat")
    finally:
        store.close()
    if beat is None:
        return None, None
    return (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(beat)).total_seconds(), beat


@jobs.command("check")
@click.option("--job-type", type=click.Choice(["SchedulerJob", "TriggererJob", "DagProcessorJob", "LocalTaskJob"]))
@click.option("--hostname", default=None, help="The job's host (default: any).")
@click.option("--local", is_flag=True, help="Only jobs of this host.")
@click.option("--limit", type=click.IntRange(min=1), default=1, help="Jobs to look at, newest heartbeat first.")
@click.option("--allow-multiple", is_flag=True, help="Succeed with more than one alive job.")
@click.pass_obj
@friendly
def jobs_check(
    settings: Settings, job_type: str | None, hostname: str | None, local: bool, limit: int, allow_multiple: bool
) -> None:
    """Checks if job(s) are still alive: running, with a heartbeat younger than the health threshold."""
    from dockyard.store import jobs as job_records

    if job_type is not None and job_type not in JOB_TYPES:
        kinds = " and ".join(JOB_TYPES)
        fail(f"dockyard runs no {job_type}: its jobs are {kinds} (the scheduler also parses DAG files)")
    if local:
        from dockyard.store.api import HOSTNAME

        hostname = HOSTNAME
    store = open_store(settings)
    try:
        found = job_records.list_jobs(store, job_type=job_type, hostname=hostname, limit=limit, state="running")
    finally:
        store.close()
    now = dt.datetime.now(dt.timezone.utc)
    threshold = settings.scheduler_health_check_threshold
    alive = [j for j in found if (now - j.latest_heartbeat).total_seconds() <= threshold]
    if not alive:
        fail("No alive jobs found.")
    if len(alive) > 1 and not allow_multiple:
        fail(f"Found {len(alive)} alive jobs. Expected only one.")
    click.echo("Found one alive job." if len(alive) == 1 else f"Found {len(alive)} alive jobs.")


@click.command("list-jobs")
@click.option("--state", type=click.Choice(["running", "success", "failed"]), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many jobs.")
@output_option
@click.pass_obj
@friendly
def dags_list_jobs(settings: Settings, state: str | None, limit: int, output: str) -> None:
    """List the jobs: schedulers, and the processes of `dags test` and `tasks run`, newest heartbeat first."""
    from dockyard.store import jobs as job_records

    store = open_store(settings)
    try:
        found = job_records.list_jobs(store, state=state, limit=limit)
    finally:
        store.close()
    rows = [
        {
            "id": j.id,
            "dag_id": None,
            "state": j.state,
            "job_type": j.job_type,
            "hostname": j.hostname,
            "start_date": j.start_date,
            "end_date": j.end_date,
            "latest_heartbeat": j.latest_heartbeat,
        }
        for j in found
    ]
    emit(rows, output, empty="No jobs yet: no scheduler has run on this database.")

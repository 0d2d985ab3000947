"""``dockyard db|variables|scheduler|standalone``: the database, variables, and the long-running processes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType

import click

from dockyard.cli.common import fail, friendly, open_store
from dockyard.cli.output import emit, output_option
from dockyard.defaults import DEFAULT_SCHEDULER_HEALTHY_SECONDS
from dockyard.errors import NotFoundError
from dockyard.filemodes import secure_home
from dockyard.masking import SecretsMasker, is_sensitive_name
from dockyard.scheduler import Scheduler
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.db import create_db_engine, current_revision, head_revision, migrate, safe_url
from dockyard.variables import Variables


@click.group()
def db() -> None:
    """The metadata database."""


@db.command("migrate")
@click.pass_obj
@friendly
def db_migrate(settings: Settings) -> None:
    """Create or upgrade the database schema (safe to run any number of times)."""
    engine = create_db_engine(settings.database_url)
    changed = migrate(engine, force=True)
    state = "upgraded to" if changed else "already at"
    click.echo(
        f"Database {safe_url(settings.database_url)} {state} revision {current_revision(engine)} "
        f"(head {head_revision()})."
    )
    engine.dispose()
    _create_admin(settings)


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
@click.pass_obj
@friendly
def db_check(settings: Settings) -> None:
    """Check that the database answers and is migrated."""
    engine = create_db_engine(settings.database_url)
    revision = current_revision(engine)
    engine.dispose()
    if revision != head_revision():
        fail(
            f"database {safe_url(settings.database_url)} is at revision {revision}, not {head_revision()}: "
            "run `dockyard db migrate`"
        )
    click.echo(f"Database {safe_url(settings.database_url)} answers and is at revision {revision}.")


@click.group()
def variables() -> None:
    """Variables that templates read as {{ var.value.KEY }} and {{ var.json.KEY }}."""


@variables.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--description", help="What the variable is for.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Check that VALUE is valid JSON.")
@click.pass_obj
@friendly
def variables_set(settings: Settings, key: str, value: str, description: str | None, as_json: bool) -> None:
    """Set variable KEY to VALUE."""
    if as_json:
        try:
            json.loads(value)
        except ValueError as exc:
            raise click.BadParameter(f"not valid JSON ({exc})", param_hint="VALUE") from None
    Variables(settings, open_store(settings)).set(key, value, description)
    click.echo(f"Variable {key} set.")


@variables.command("get")
@click.argument("key")
@click.option("-d", "--default", "default", help="Print this when the variable does not exist.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Parse the value as JSON and print it indented.")
@click.pass_obj
@friendly
def variables_get(settings: Settings, key: str, default: str | None, as_json: bool) -> None:
    """Print the value of variable KEY (values of sensitive keys are printed too: you asked for them)."""
    try:
        value = Variables(settings, open_store(settings)).get(key)
    except NotFoundError:
        if default is None:
            raise
        value = default
    click.echo(json.dumps(json.loads(value), indent=2) if as_json else value)


@variables.command("list")
@output_option
@click.pass_obj
@friendly
def variables_list(settings: Settings, output: str) -> None:
    """Every variable; values of sensitive keys (password, secret, token, ...) are shown as ***."""
    masker = SecretsMasker()
    rows = []
    for row, value in Variables(settings, open_store(settings)).rows():
        shown = "***" if is_sensitive_name(row.key) else value
        rows.append({"key": row.key, "val": shown, "description": row.description})
        if is_sensitive_name(row.key):
            masker.add(value)
    emit(
        [{k: masker.mask(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows],
        output,
        empty="No variables.",
    )


@variables.command("delete")
@click.argument("key")
@click.pass_obj
@friendly
def variables_delete(settings: Settings, key: str) -> None:
    """Delete variable KEY."""
    Variables(settings, open_store(settings)).delete(key)
    click.echo(f"Variable {key} deleted.")


@variables.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@friendly
def variables_import(settings: Settings, path: Path) -> None:
    """Set every variable of a JSON file ({"key": value, ...})."""
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        fail(f'{path} is not JSON ({exc}); write an object like {{"key": "value"}}')
    if not isinstance(data, dict):
        fail(f'{path} must hold a JSON object like {{"key": "value"}}')
    variables = Variables(settings, open_store(settings))
    for key, value in data.items():
        variables.set(key, value if isinstance(value, str) else json.dumps(value))
    click.echo(f"{len(data)} variable(s) imported.")


@variables.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@friendly
def variables_export(settings: Settings, path: Path) -> None:
    """Write every variable to a JSON file (values in clear: keep the file safe)."""
    data = {row.key: value for row, value in Variables(settings, open_store(settings)).rows()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:  # created 0600: the values are in clear
        handle.write(json.dumps(data, indent=2))
    path.chmod(0o600)
    click.echo(f"{len(data)} variable(s) exported to {path}.")


@click.group()
def pools() -> None:
    """Pools: named slot limits that tasks share (a task takes pool_slots of its pool while it runs)."""


@pools.command("set")
@click.argument("name")
@click.argument("slots", type=click.IntRange(min=0))
@click.argument("description", required=False)
@click.pass_obj
@friendly
def pools_set(settings: Settings, name: str, slots: int, description: str | None) -> None:
    """Create pool NAME with SLOTS slots, or change it."""
    open_store(settings).set_pool(name, slots, description)
    click.echo(f"Pool {name} has {slots} slot(s).")


@pools.command("list")
@output_option
@click.pass_obj
@friendly
def pools_list(settings: Settings, output: str) -> None:
    """Every pool with its slots and the slots in use now."""
    store = open_store(settings)
    _, used = store.running_counts()
    emit(
        [
            {"pool": p.name, "slots": p.slots, "running": used.get(p.name, 0), "description": p.description}
            for p in store.list_pools()
        ],
        output,
    )


@pools.command("delete")
@click.argument("name")
@click.pass_obj
@friendly
def pools_delete(settings: Settings, name: str) -> None:
    """Delete pool NAME (tasks that name it then wait until it exists again)."""
    open_store(settings).delete_pool(name)
    click.echo(f"Pool {name} deleted.")


def _serve(settings: Settings, stop_running: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secure_home(settings)
    store = open_store(settings)
    scheduler = _scheduler(settings, store)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        click.echo(f"Received signal {signum}: shutting down.", err=True)
        scheduler.stop()

    # Before the first parse: a DAG file that hangs must not keep SIGTERM from stopping us.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    click.echo(
        f"Scheduler running on {settings.dags_folder} with {safe_url(settings.database_url)} "
        f"(parallelism {settings.parallelism}). Ctrl-C stops it.",
        err=True,
    )
    try:
        scheduler.serve_forever()
    finally:
        scheduler.shutdown(stop_running=stop_running)
        what = "stopped" if stop_running else "left running; the next scheduler re-attaches to"
        click.echo(f"Scheduler stopped; running containers were {what} them.", err=True)


def _scheduler(settings: Settings, store: Store) -> Scheduler:
    """A scheduler, saying which container policy its tries obey (the runtime applies it)."""
    scheduler = Scheduler(settings, store)
    runtime = scheduler.runner.runtime
    if not runtime.policy.allows_everything:
        click.echo(f"Container policy: {runtime.policy}", err=True)
    return scheduler


@click.command("scheduler")
@click.option("--stop-running", is_flag=True, help="On shutdown, stop running containers instead of leaving them.")
@click.option(
    "--health-check",
    is_flag=True,
    help="Do not run: exit 0 if a scheduler's heartbeat is recent, 1 otherwise (for container health checks).",
)
@click.pass_obj
@friendly
def scheduler_command(settings: Settings, stop_running: bool, health_check: bool) -> None:
    """Run the scheduler: parse DAGs, create runs on schedule, run tasks, until SIGTERM or Ctrl-C."""
    if health_check:
        _check_heartbeat(settings)
        return
    _check_socket(settings)
    _serve(settings, stop_running)


def _check_socket(settings: Settings) -> None:
    """A local socket this user may not use fails here, with what to set, rather than task by task.

    In a container the fix is the socket's group (compose ``group_add``), never a chmod of the socket
    and never running dockyard as root.
    """
    url = settings.default_docker_url
    if not url.startswith("unix://"):
        return
    path = Path(url[len("unix://") :])
    if not path.exists() or os.access(path, os.R_OK | os.W_OK):
        return
    status = path.stat()
    fail(
        f"user {os.getuid()} may not use the Docker socket {path} (owner {status.st_uid}, group {status.st_gid}, "
        f"mode {status.st_mode & 0o777:o}): run dockyard in the socket's group, with compose "
        f'`group_add: ["{status.st_gid}"]` (deploy/compose.yaml takes it from DOCKER_GID) or '
        f"`docker run --group-add {status.st_gid}`; or reach the engine through the socket proxy "
        "(DOCKER_HOST=tcp://docker-proxy:2375). Do not chmod the socket or run dockyard as root."
    )


def _check_heartbeat(settings: Settings) -> None:
    store = open_store(settings)
    try:
        beat = store.get_meta("scheduler_heartbeat")
    finally:
        store.close()
    if beat is None:
        fail("no scheduler has written a heartbeat to this database yet")
    age = (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(beat)).total_seconds()
    if age > DEFAULT_SCHEDULER_HEALTHY_SECONDS:
        fail(f"the last scheduler heartbeat is {age:.0f} s old (at {beat}); is the scheduler running?")
    click.echo(f"Scheduler heartbeat {age:.0f} s ago.")


@click.command("standalone")
@click.option("--stop-running", is_flag=True, help="On shutdown, stop running containers instead of leaving them.")
@click.option("--no-webserver", is_flag=True, help="Run the scheduler only.")
@click.pass_obj
@friendly
def standalone_command(settings: Settings, stop_running: bool, no_webserver: bool) -> None:
    """Everything in one process: migrate the database, then the scheduler and the web server.

    Without DOCKYARD_DAGS_FOLDER (and with no $DOCKYARD_HOME/dags), the example DAGs are used. The first
    start creates an admin user with a random password, printed once and kept in
    $DOCKYARD_HOME/standalone_admin_password.txt (mode 0600).
    """
    _check_socket(settings)
    secure_home(settings)  # before SQLite creates its files: they inherit the database file's 0600
    migrate(create_db_engine(settings.database_url))
    if not settings.dags_folder.exists() and settings.example_dags_folder is not None:
        settings = settings.with_dags_folder(settings.example_dags_folder)
        click.echo(f"No DAG folder: using the example DAGs in {settings.dags_folder}", err=True)
    if no_webserver:
        _serve(settings, stop_running)
        return
    import threading

    import uvicorn

    from dockyard.users import create_user, random_password
    from dockyard.web import create_app

    store = open_store(settings)
    if not store.list_users():
        password = random_password()
        create_user(store, "admin", password, "admin")
        path = settings.home / "standalone_admin_password.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        click.secho(f"Created user admin with password {password} (also in {path})", fg="green", err=True)
    scheduler = _scheduler(settings, store)

    def on_signal(signum: int, frame: FrameType | None) -> None:  # until the web server takes the signals over
        scheduler.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)

    scheduler.start(load=False)

    def serve() -> None:
        scheduler.load()  # the first parse runs here, so the web server answers meanwhile
        scheduler.serve_forever()

    thread = threading.Thread(target=serve, name="dockyard-scheduler", daemon=True)
    thread.start()
    click.echo(
        f"dockyard standalone: web UI on http://{settings.web_host}:{settings.web_port}, scheduler on "
        f"{settings.dags_folder}. Ctrl-C stops both.",
        err=True,
    )
    try:
        uvicorn.run(create_app(settings, store), host=settings.web_host, port=settings.web_port, log_level="warning")
    finally:
        scheduler.stop()
        thread.join(timeout=30)
        scheduler.shutdown(stop_running=stop_running)
        click.echo("Stopped.", err=True)

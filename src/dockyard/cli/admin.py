"""``dockyard variables|scheduler|standalone``: variables, and the long-running processes."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType

import click

from dockyard.cli.common import fail, friendly, open_store, subdir_option
from dockyard.cli.output import emit, output_option
from dockyard.defaults import DEFAULT_SCHEDULER_HEALTHY_SECONDS, DEFAULT_SCHEDULER_HEARTBEAT_SECONDS
from dockyard.errors import NotFoundError
from dockyard.filemodes import secure_home
from dockyard.masking import SecretsMasker, is_sensitive_name
from dockyard.scheduler import Scheduler
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.db import create_db_engine, migrate, safe_url
from dockyard.variables import Variables


@click.group()
def variables() -> None:
    """Manage variables: what templates read as {{ var.value.KEY }} and {{ var.json.KEY }}."""


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
@click.option(
    "-a",
    "--action-on-existing-key",
    type=click.Choice(["overwrite", "fail", "skip"]),
    default="overwrite",
    show_default=True,
    help="What to do with a variable that exists already.",
)
@click.pass_obj
@friendly
def variables_import(settings: Settings, path: Path, action_on_existing_key: str) -> None:
    """Import variables from a JSON file ({"key": value, ...})."""
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        fail(f'{path} is not JSON ({exc}); write an object like {{"key": "value"}}')
    if not isinstance(data, dict):
        fail(f'{path} must hold a JSON object like {{"key": "value"}}')
    store = open_store(settings)
    existing = {row.key for row in store.list_variables()} & set(data)
    if existing and action_on_existing_key == "fail":
        fail(f"Failed. These keys: {sorted(existing)} already exist (nothing was imported)")
    variables = Variables(settings, store)
    imported = 0
    for key, value in data.items():
        if key in existing and action_on_existing_key == "skip":
            continue
        variables.set(key, value if isinstance(value, str) else json.dumps(value))
        imported += 1
    click.echo(
        f"{imported} variable(s) imported" + (f", {len(data) - imported} skipped." if imported < len(data) else ".")
    )


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


def _serve(settings: Settings, stop_running: bool, num_runs: int = -1) -> None:
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
        if num_runs < 0:
            scheduler.serve_forever()
        for _ in range(max(num_runs, 0)):  # Airflow's --num-runs: that many passes, then exit
            scheduler.step()
            scheduler.wake.wait(DEFAULT_SCHEDULER_HEARTBEAT_SECONDS)
            scheduler.wake.clear()
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
@click.option("-n", "--num-runs", type=int, default=-1, help="Run this many scheduling passes, then exit.")
@click.option("-s", "--skip-serve-logs", is_flag=True, help="Accepted: the scheduler serves no logs (they are files).")
@subdir_option
@click.pass_obj
@friendly
def scheduler_command(
    settings: Settings,
    stop_running: bool,
    health_check: bool,
    num_runs: int,
    skip_serve_logs: bool,
    subdir: Path | None,
) -> None:
    """Start a scheduler instance: parse DAGs, create runs on schedule, run tasks, until SIGTERM or Ctrl-C."""
    if health_check:
        _check_heartbeat(settings)
        return
    if subdir is not None:
        settings = settings.with_dags_folder(subdir)
    _check_socket(settings)
    _serve(settings, stop_running, num_runs)


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
    from dockyard.cli.database import heartbeat_age

    age, beat = heartbeat_age(settings)
    if age is None:
        fail("no scheduler has written a heartbeat to this database yet")
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

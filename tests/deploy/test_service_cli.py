"""The commands a service's start-up and health checks call: `db migrate` with an admin user from the
environment or a secret file, and `scheduler --health-check`; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner, Result

from dockyard.cli.main import cli
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.users import authenticate


def dockyard(*args: str, env: dict[str, str]) -> Result:
    """The command in this process (click's runner swaps os.environ for ``env``'s values meanwhile)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_db_migrate_creates_the_admin_user_once(database_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "admin_password"
    secret.write_text("first-password-8f2c\n")
    env = {
        "DOCKYARD_HOME": str(tmp_path),
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_ADMIN_USERNAME": "ops",
        "DOCKYARD_ADMIN_PASSWORD_FILE": str(secret),
    }
    first = dockyard("db", "migrate", env=env)
    assert first.exit_code == 0, first.stderr
    assert "Admin user ops created." in first.stdout
    secret.write_text("second-password-9a1d\n")
    again = dockyard("db", "migrate", env=env)
    assert again.exit_code == 0, again.stderr
    assert "Admin user ops exists already" in again.stdout
    for output in (first.stdout + first.stderr, again.stdout + again.stderr):
        assert "password-" not in output
    store = Store.open(Settings.from_env(env))
    try:
        assert authenticate(store, "ops", "first-password-8f2c") is not None  # a restart does not reset it
        assert authenticate(store, "ops", "second-password-9a1d") is None
    finally:
        store.close()


def test_an_admin_user_without_a_password_is_named(tmp_path: Path) -> None:
    env = {"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_ADMIN_USERNAME": "ops"}
    done = dockyard("db", "migrate", env=env)
    assert done.exit_code == 1
    assert "DOCKYARD_ADMIN_USERNAME='ops' needs a password" in done.stderr
    assert "DOCKYARD_ADMIN_PASSWORD_FILE" in done.stderr


def test_the_scheduler_health_check_reads_the_heartbeat(database_url: str, tmp_path: Path) -> None:
    env = {"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DATABASE_URL": database_url}
    assert dockyard("db", "migrate", env=env).exit_code == 0
    missing = dockyard("scheduler", "--health-check", env=env)
    assert missing.exit_code == 1
    assert "no scheduler has written a heartbeat" in missing.stderr
    store = Store.open(Settings.from_env(env))
    try:
        store.set_meta("scheduler_heartbeat", "2024-01-31T06:30:00+00:00")
        stale = dockyard("scheduler", "--health-check", env=env)
        assert stale.exit_code == 1
        assert "is the scheduler running?" in stale.stderr
        store.set_meta("scheduler_heartbeat", dt.datetime.now(dt.timezone.utc).isoformat())
        fresh = dockyard("scheduler", "--health-check", env=env)
        assert fresh.exit_code == 0, fresh.stderr
    finally:
        store.close()

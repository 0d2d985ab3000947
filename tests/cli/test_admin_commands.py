"""config, info, version, db, jobs, pools, users and variables commands against real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from dockyard import __version__
from dockyard.store import jobs
from dockyard.store.db import head_revision
from dockyard.store.models import JobModel
from dockyard.users import authenticate
from tests.cli.conftest import Dockyard

UTC = dt.timezone.utc


def test_version_and_info(sqlite_dockyard: Dockyard) -> None:
    assert sqlite_dockyard("version").stdout.strip() == __version__
    [info] = sqlite_dockyard.json("info")
    assert info["dockyard info"]["version"] == __version__
    assert info["dockyard info"]["dags_folder"] == str(sqlite_dockyard.dags)
    anonymous = sqlite_dockyard("info", "--anonymize", "-o", "plain").stdout
    assert str(sqlite_dockyard.home.parent) not in anonymous and "${HOME}" in anonymous


def test_config_shows_settings_under_airflows_names_with_secrets_masked(sqlite_dockyard: Dockyard) -> None:
    sqlite_dockyard.env.update(
        {
            "DOCKYARD_FERNET_KEY": "fernet-canary-31f",
            "DOCKYARD_SECRET_KEY": "web-canary-77a",
            "DOCKYARD_PARALLELISM": "7",
            "DOCKYARD_DATABASE_URL": "postgresql+psycopg://ops:db-canary-9c2@127.0.0.1:1/meta",
        }
    )
    get = lambda section, key: sqlite_dockyard("config", "get-value", section, key).stdout.strip()  # noqa: E731
    assert get("core", "dags_folder") == str(sqlite_dockyard.dags)
    assert get("CORE", "parallelism") == "7"
    assert get("core", "fernet_key") == "***"
    assert get("webserver", "secret_key") == "***"
    assert get("database", "sql_alchemy_conn") == "postgresql+psycopg://ops:***@127.0.0.1:1/meta"
    assert get("dockyard", "task_image") == "python:3.11-slim"
    listed = sqlite_dockyard("config", "list", "-V", "-s").stdout
    assert "[core]\n" in listed and "[webserver]\n" in listed and "# set by: DOCKYARD_PARALLELISM" in listed
    assert "# source: environment\nparallelism = 7" in listed and "# source: default\nweb_server_port = 8080" in listed
    for canary in ("fernet-canary-31f", "web-canary-77a", "db-canary-9c2"):
        assert canary not in listed
    assert sqlite_dockyard("config", "list", "--section", "scheduler").stdout.startswith("[scheduler]\n")
    defaults = sqlite_dockyard("config", "list", "-a", "--section", "core").stdout
    assert "# parallelism = 16" in defaults
    unknown = sqlite_dockyard("config", "get-value", "core", "dag_folder", ok=False)
    assert unknown.exit_code == 1 and "[core/dag_folder] is not found" in unknown.stderr
    assert "did you mean 'dags_folder'" in unknown.stderr


def test_db_check_migrate_init_upgrade_and_reset(dockyard: Dockyard) -> None:
    assert f"to revision {head_revision()}" in dockyard("db", "init").stdout
    assert "deprecated" in dockyard("db", "upgrade").stderr
    assert "answers and is at revision" in dockyard("db", "check", "--retry", "1").stdout
    dockyard("pools", "set", "gpu", "2", "the GPU box")
    refused = dockyard("db", "reset", input="n\n")
    assert "Cancelled" in refused.stdout and dockyard.json("pools", "get", "gpu")[0]["slots"] == 2
    dropped = dockyard("db", "reset", "-y", "-s").stdout
    assert "Dropped" in dropped and "created again" not in dropped
    assert dockyard("db", "check", ok=False).exit_code == 1
    dockyard("db", "reset", "-y")
    assert "answers" in dockyard("db", "check").stdout
    assert [p["pool"] for p in dockyard.json("pools", "list")] == ["default_pool"]


def test_db_check_names_an_unreachable_database_without_its_password(sqlite_dockyard: Dockyard) -> None:
    sqlite_dockyard.env["DOCKYARD_DATABASE_URL"] = "postgresql+psycopg://u:hunter22@127.0.0.1:1/x"
    result = sqlite_dockyard("db", "check", "--retry", "1", "--retry-delay", "0", ok=False)
    assert result.exit_code == 1 and "u:***@127.0.0.1:1" in result.output and "trying again" in result.output
    assert "hunter22" not in result.output


def test_db_clean_purges_old_rows_and_keeps_each_dags_latest_scheduled_run(dockyard: Dockyard) -> None:
    store = dockyard.store()
    old = dt.datetime(2020, 1, 1, tzinfo=UTC)
    for day in range(3):
        when = old + dt.timedelta(days=day)
        store.create_run("chain", f"scheduled__{day}", logical_date=when, run_type="scheduled")
    store.create_run("chain", "manual_old", logical_date=old - dt.timedelta(days=9), run_type="manual")
    store.create_run("chain", "recent", logical_date=dt.datetime.now(UTC), run_type="manual")
    store.close()
    planned = dockyard("db", "clean", "--clean-before-timestamp", "2021-01-01", "-t", "dag_run", "--dry-run").stdout
    assert "dag_run: 3 row(s)" in planned
    assert len(dockyard.json("dags", "list-runs", "-d", "chain")) == 5
    dockyard("db", "clean", "--clean-before-timestamp", "2021-01-01", "-y", "--skip-archive")
    left = {r["run_id"] for r in dockyard.json("dags", "list-runs", "-d", "chain")}
    assert left == {"scheduled__2", "recent"}
    bad = dockyard("db", "clean", "--clean-before-timestamp", "2021-01-01", "-t", "log", ok=False)
    assert bad.exit_code == 2 and "not a table dockyard cleans" in bad.output


@pytest.mark.skipif(
    shutil.which("sqlite3") is None, reason="the sqlite3 program is not installed (.ci/run installs it)"
)
def test_db_shell_opens_the_database(sqlite_dockyard: Dockyard) -> None:
    sqlite_dockyard("pools", "set", "gpu", "3", "x")
    # `db shell` hands the terminal to sqlite3; its stdin and stdout are the process's own, so run it as a child.
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "db", "shell"],
        input="select slots from pool where name = 'gpu';\n",
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **sqlite_dockyard.env},
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == "3", result.stderr


def test_jobs_check_reads_the_schedulers_heartbeats(sqlite_dockyard: Dockyard) -> None:
    none = sqlite_dockyard("jobs", "check", ok=False)
    assert none.exit_code == 1 and "No alive jobs found" in none.stderr
    store = sqlite_dockyard.store()
    first = jobs.register(store, "SchedulerJob")
    assert sqlite_dockyard("jobs", "check", "--job-type", "SchedulerJob").stdout.strip() == "Found one alive job."
    assert sqlite_dockyard("jobs", "check", "--local").stdout.strip() == "Found one alive job."
    assert "No alive jobs found" in sqlite_dockyard("jobs", "check", "--hostname", "elsewhere", ok=False).stderr
    jobs.register(store, "SchedulerJob")
    two = sqlite_dockyard("jobs", "check", "--limit", "5", ok=False)
    assert two.exit_code == 1 and "Found 2 alive jobs. Expected only one." in two.stderr
    assert sqlite_dockyard("jobs", "check", "--limit", "5", "--allow-multiple").stdout.strip() == "Found 2 alive jobs."
    with store.session() as s:  # both stop heartbeating
        s.execute(sa.update(JobModel).values(latest_heartbeat=dt.datetime.now(UTC) - dt.timedelta(minutes=5)))
    jobs.finish(store, first)
    store.close()
    assert "No alive jobs found" in sqlite_dockyard("jobs", "check", ok=False).stderr
    listed = json.loads(sqlite_dockyard("dags", "list-jobs", "-o", "json").stdout)
    assert [(j["id"], j["job_type"], j["state"]) for j in sorted(listed, key=lambda j: j["id"])] == [
        (first, "SchedulerJob", "success"),
        (first + 1, "SchedulerJob", "running"),
    ]
    running = json.loads(sqlite_dockyard("dags", "list-jobs", "--state", "running", "-o", "json").stdout)
    assert [j["id"] for j in running] == [first + 1]
    other = sqlite_dockyard("jobs", "check", "--job-type", "TriggererJob", ok=False)
    assert other.exit_code == 1 and "dockyard runs no TriggererJob" in other.stderr


def test_pools_in_airflows_commands_and_file_format(dockyard: Dockyard, tmp_path: Path) -> None:
    [made] = dockyard.json("pools", "set", "gpu", "2", "the GPU box", "--include-deferred")
    assert made == {"pool": "gpu", "slots": 2, "description": "the GPU box", "include_deferred": False, "running": 0}
    assert dockyard.json("pools", "get", "gpu") == [made]
    missing = dockyard("pools", "get", "cpu", ok=False)
    assert missing.exit_code == 1 and "no pool 'cpu'; known pools: default_pool, gpu" in missing.stderr
    exported = tmp_path / "pools.json"
    dockyard("pools", "export", str(exported))
    data = json.loads(exported.read_text())
    assert data["gpu"] == {"slots": 2, "description": "the GPU box", "include_deferred": False}
    data["io"] = {"slots": 5, "description": "disks"}
    data["gpu"]["slots"] = 4
    exported.write_text(json.dumps(data))
    assert "Uploaded 3 pool(s)" in dockyard("pools", "import", str(exported)).stdout
    assert {p["pool"]: p["slots"] for p in dockyard.json("pools", "list")} == {"default_pool": 128, "gpu": 4, "io": 5}
    exported.write_text(json.dumps({"ok": {"slots": 1, "description": ""}, "bad": {"slots": "many"}}))
    failed = dockyard("pools", "import", str(exported), ok=False)
    assert failed.exit_code == 1 and "Failed to update pool(s): bad" in failed.stderr
    assert "ok" not in {p["pool"] for p in dockyard.json("pools", "list")}  # all or nothing
    [deleted] = dockyard.json("pools", "delete", "io")
    assert deleted["pool"] == "io" and "io" not in {p["pool"] for p in dockyard.json("pools", "list")}
    assert dockyard("pools", "import", str(tmp_path / "nope.json"), ok=False).exit_code == 1


def test_users_take_airflows_roles_in_any_case(dockyard: Dockyard, tmp_path: Path) -> None:
    made = dockyard("users", "create", "-u", "ada", "-e", "ada@example.com", "-p", "first-pass-1", "-r", "admin")
    assert "with role Admin" in made.stdout
    op = dockyard("users", "create", "-u", "bob", "-e", "bob@example.com", "-p", "bob-pass-12", "-r", "Op")
    assert "with role Op" in op.stdout
    dockyard("users", "create", "-u", "cy", "-p", "cy-pass-123", "-r", "VIEWER")
    dockyard("users", "create", "-u", "dee", "-p", "dee-pass-12", "-r", "public")
    dockyard("users", "create", "-u", "eli", "-p", "eli-pass-12", "-r", "User")
    wrong = dockyard("users", "create", "-u", "fay", "-p", "fay-pass-12", "-r", "Superuser", ok=False)
    assert wrong.exit_code == 2 and "use one of Admin, Op, User, Viewer, Public" in wrong.output
    listed = {u["username"]: u["roles"] for u in dockyard.json("users", "list")}
    assert listed == {"ada": ["Admin"], "bob": ["Op"], "cy": ["Viewer"], "dee": ["Public"], "eli": ["User"]}
    added = dockyard("users", "add-role", "-e", "ada@example.com", "-r", "viewer")
    assert 'added to role "Viewer"' in added.stdout and 'replaces "Admin"' in added.stdout
    again = dockyard("users", "add-role", "-u", "ada", "-r", "Viewer", ok=False)
    assert again.exit_code == 1 and "already a member of role" in again.stderr
    only = dockyard("users", "remove-role", "-u", "ada", "-r", "viewer", ok=False)
    assert only.exit_code == 1 and "only role" in only.stderr
    absent = dockyard("users", "remove-role", "-u", "ada", "-r", "Admin", ok=False)
    assert 'does not have role "Admin"' in absent.stderr
    both = dockyard("users", "reset-password", "-u", "ada", "-e", "ada@example.com", "-p", "x" * 9, ok=False)
    assert both.exit_code == 2 and "exactly one of -u/--username or -e/--email" in both.output
    dockyard("users", "reset-password", "-u", "ada", "-p", "second-pass-2")
    store = dockyard.store()
    assert authenticate(store, "ada", "second-pass-2") is not None
    assert authenticate(store, "ada", "first-pass-1") is None
    store.close()
    exported = tmp_path / "users.json"
    dockyard("users", "export", str(exported))
    people = json.loads(exported.read_text())
    assert {p["username"]: p["roles"] for p in people} == listed | {"ada": ["Viewer"]}
    assert "password" not in exported.read_text() and "argon2" not in exported.read_text()
    people.append({"username": "eve", "email": "eve@example.com", "firstname": "E", "lastname": "V", "roles": ["User"]})
    people[0]["roles"] = ["admin"]
    exported.write_text(json.dumps(people))
    imported = dockyard("users", "import", str(exported)).stdout
    assert "Created the following users:\n\teve" in imported and "Updated the following users:" in imported
    listed = {u["username"]: u["roles"] for u in dockyard.json("users", "list")}
    assert listed["eve"] == ["User"] and listed["ada"] == ["Admin"]
    exported.write_text(
        json.dumps([{"username": "x", "email": "x@e", "firstname": "", "lastname": "", "roles": ["Root"]}])
    )
    assert "'Root' is not a role" in dockyard("users", "import", str(exported), ok=False).output


def test_variables_import_takes_airflows_action_on_existing_keys(sqlite_dockyard: Dockyard, tmp_path: Path) -> None:
    sqlite_dockyard("variables", "set", "bucket", "old")
    path = tmp_path / "vars.json"
    path.write_text(json.dumps({"bucket": "new", "region": "eu"}))
    failed = sqlite_dockyard("variables", "import", str(path), "-a", "fail", ok=False)
    assert failed.exit_code == 1 and "['bucket'] already exist" in failed.stderr
    assert sqlite_dockyard("variables", "get", "region", ok=False).exit_code == 1
    assert "1 skipped" in sqlite_dockyard("variables", "import", str(path), "-a", "skip").stdout
    assert sqlite_dockyard("variables", "get", "bucket").stdout.strip() == "old"
    sqlite_dockyard("variables", "import", str(path))
    assert sqlite_dockyard("variables", "get", "bucket").stdout.strip() == "new"

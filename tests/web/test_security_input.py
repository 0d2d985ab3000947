"""Hostile input on a real server over real SQLite and PostgreSQL: size and depth limits before anything
is stored, former 500s answered with Airflow's 4xx body, run ids checked in one place, no query-string
text on pages, a health check that writes, variables encrypted at rest, secrets masked in DAG source."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from dockyard.filemodes import sqlite_path
from dockyard.processor import DagProcessor
from dockyard.store import Store
from dockyard.store.db import create_db_engine
from tests.web.conftest import ADMIN, VIEWER, SecureSite, csrf_of

MakeSite = Callable[..., SecureSite]
PROBLEM_KEYS = {"title", "status", "detail", "type"}


def is_problem(response: requests.Response, status: int) -> bool:
    body = response.json()
    return response.status_code == status and set(body) == PROBLEM_KEYS and body["status"] == status


def runs_of(site: SecureSite) -> list[str]:
    return [r.run_id for r in site.store.list_runs("secure_demo")]


def synced(site: SecureSite) -> SecureSite:
    """Parse the test DAG folder into the store, as the scheduler's DAG processor does."""
    DagProcessor(site.settings, site.store).refresh(force=True)
    site.store.get_dag("secure_demo")
    return site


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_deep_json_answers_400_and_stores_nothing(make_site: MakeSite) -> None:
    site = synced(make_site())
    response = site.api("POST", "/dags/secure_demo/dagRuns", json={"conf": nested(900)})
    assert is_problem(response, 400) and "nested deeper than 64" in response.json()["detail"]
    assert runs_of(site) == []
    listed = site.api("GET", "/dags/secure_demo/dagRuns")
    assert listed.status_code == 200 and listed.json()["total_entries"] == 0
    assert site.api("POST", "/dags/secure_demo/dagRuns", json={"conf": nested(10)}).status_code == 200
    assert site.api("GET", "/dags/~/dagRuns").json()["total_entries"] == 1
    # brackets inside strings do not count
    text_only = {"conf": {"s": "[" * 5000}, "dag_run_id": "brackets"}
    assert site.api("POST", "/dags/secure_demo/dagRuns", json=text_only).status_code == 200


def test_a_body_over_the_limit_answers_413_before_the_login(make_site: MakeSite) -> None:
    site = synced(make_site(DOCKYARD_MAX_REQUEST_BYTES="2048"))
    big = {"conf": {"x": "y" * 4000}}
    for auth in (ADMIN, None, ("ada", "wrong-password")):
        response = site.api("POST", "/dags/secure_demo/dagRuns", auth=auth, json=big)
        assert is_problem(response, 413) and "DOCKYARD_MAX_REQUEST_BYTES" in response.json()["detail"]

    def chunks() -> object:  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b'{"conf": {"x": "' + b"y" * 500 if _ == 0 else b"y" * 500

    streamed = requests.post(
        site.url + "/api/v1/dags/secure_demo/dagRuns",
        data=chunks(),
        auth=ADMIN,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert streamed.status_code == 413
    assert runs_of(site) == []
    assert site.api("GET", "/dags/secure_demo/dagRuns").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "words"),
    [
        ("GET", "/dags/secure_demo/dagRuns/r/taskInstances/t/logs/1?token=9223372036854775808", None, "token"),
        ("POST", "/dags/secure_demo/dagRuns", {"logical_date": "0001-01-01T00:00:00+14:00"}, "years 1 to 9998"),
        ("POST", "/dags/secure_demo/dagRuns", {"logical_date": "9999-12-31T23:00:00-14:00"}, "years 1 to 9998"),
        ("POST", "/dags/secure_demo/dagRuns", {"logical_date": "yesterday"}, "not an ISO date-time"),
        ("POST", "/variables", {"key": "a\u0000b", "value": "v"}, "NUL"),
        ("POST", "/variables", {"key": "k", "value": "\ud800"}, "surrogate"),
        ("GET", "/variables/a%00b", None, "NUL"),
        ("POST", "/connections", {"connection_id": "c", "port": 10**20}, "above 65535"),
        ("POST", "/connections", {"connection_id": "c", "port": -1}, "not a number"),
        ("POST", "/connections", {"connection_id": "c", "password": 12345}, "password must be a string"),
        ("POST", "/connections", {"connection_id": "c", "login": ["x"]}, "login must be a string"),
        ("POST", "/connections", {"connection_id": "c" * 251}, "at most 250"),
        ("POST", "/connections", {"connection_id": "c", "host": "h" * 501}, "at most 500"),
    ],
)
def test_former_server_errors_answer_400(make_site: MakeSite, method: str, path: str, body: object, words: str) -> None:
    site = synced(make_site())
    store = site.store
    store.create_run(
        "secure_demo", "r", logical_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), run_type="manual"
    )
    store.start_run("secure_demo", "r", [{"task_id": "t"}])
    if body is None:
        response = requests.request(method, site.url + "/api/v1" + path, auth=ADMIN, timeout=30)
    else:
        response = site.api(method, path, json=body)
    assert is_problem(response, 400), response.text
    assert words in response.json()["detail"]
    assert runs_of(site) == ["r"] and store.list_variables() == [] and store.list_connections() == []
    assert site.api("GET", "/dags/secure_demo/dagRuns").json()["total_entries"] == 1


def test_a_surrogate_in_a_variable_form_is_refused(make_site: MakeSite) -> None:
    site = make_site()
    session = site.login()
    form = {"csrf": csrf_of(session, site.url), "key": "k\u0001", "value": "v"}
    response = session.post(site.url + "/variables", data=form, timeout=30)
    assert response.status_code == 200 and "control characters" in response.text
    assert site.store.list_variables() == []
    nul = session.post(site.url + "/variables", data={**form, "key": "k\x00"}, timeout=30)
    assert nul.status_code == 400
    long_id = {"csrf": form["csrf"], "conn_id": "c" * 5000, "conn_type": "docker"}
    refused = session.post(site.url + "/connections", data=long_id, timeout=30)
    assert refused.status_code == 400 and "at most 250" in refused.text  # the form comes back with the problem
    assert site.store.list_connections() == []


@pytest.mark.parametrize(
    ("run_id", "words"),
    [
        ("a\r\nSet-Cookie: x=1", "not allowed"),
        ("<script>alert(1)</script>", "not allowed"),
        ("it's", "not allowed"),
        ('say "hi"', "not allowed"),
        ("../../etc/passwd", "not allowed"),
        ("..", "'..'"),
        ("/abs", "not allowed"),
        ("x" * 251, "more than 250"),
        ("", "empty"),
    ],
)
def test_bad_run_ids_are_refused_by_the_api_and_the_store(make_site: MakeSite, run_id: str, words: str) -> None:
    site = synced(make_site())
    response = site.api("POST", "/dags/secure_demo/dagRuns", json={"dag_run_id": run_id})
    assert is_problem(response, 400) and words in response.json()["detail"]
    assert "letters, digits and - _ . ~ : +" in response.json()["detail"]
    from dockyard.errors import InvalidRunIdError

    with pytest.raises(InvalidRunIdError, match="letters, digits"):
        site.store.create_run("secure_demo", run_id, logical_date=dt.datetime.now(dt.timezone.utc), run_type="manual")
    assert runs_of(site) == []
    good = "nightly-2024-01-31T00:00:00+00:00.v1~a_b"
    assert site.api("POST", "/dags/secure_demo/dagRuns", json={"dag_run_id": good}).status_code == 200


def test_the_cli_refuses_a_bad_run_id(make_site: MakeSite) -> None:
    site = synced(make_site())
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "dags", "trigger", "secure_demo", "--run-id", "bad id<>"],
        capture_output=True,
        text=True,
        env={**os.environ, **site.env},
        timeout=120,
    )
    assert done.returncode != 0 and "letters, digits and - _ . ~ : +" in done.stderr
    assert runs_of(site) == []


def test_pages_do_not_show_text_from_the_query_string(make_site: MakeSite) -> None:
    site = synced(make_site())
    session = site.login()
    injected = "INJECTED-Please-call-0800"
    dag = session.get(site.url + "/dags/secure_demo", params={"errors": json.dumps({"_": injected})}, timeout=30)
    assert dag.status_code == 200 and injected not in dag.text
    bad = session.get(site.url + "/dags/secure_demo", params={"errors": "notjson"}, timeout=30)
    assert bad.status_code == 200
    conns = session.get(site.url + "/connections", params={"error": injected}, timeout=30)
    assert conns.status_code == 200 and injected not in conns.text
    # a real problem still shows once, from the server's own message
    form = {"csrf": csrf_of(session, site.url), "conn_id": "c1", "port": "eighty"}
    shown = session.post(site.url + "/connections", data=form, timeout=30)
    assert "port 'eighty' is not a number" in html.unescape(shown.text)
    assert "eighty" not in session.get(site.url + "/connections", timeout=30).text


def test_health_reports_a_database_that_cannot_be_written(make_site: MakeSite, tmp_path: Path) -> None:
    site = make_site()
    if sqlite_path(site.settings.database_url) is None:
        pytest.skip("a read-only database file is a SQLite case; PostgreSQL runs the stale heartbeat part")
    health = requests.get(site.url + "/api/v1/health", timeout=30).json()
    assert health["metadatabase"]["status"] == "healthy"
    # Root ignores file modes, so the file is opened read-only instead (SQLite's mode=ro).
    path = sqlite_path(site.settings.database_url)
    read_only = Store(create_db_engine(f"sqlite:///file:{path}?mode=ro&uri=true"))
    from tests.web.conftest import start_server, stop_server

    server, url = start_server(site.settings, read_only)
    try:
        body = requests.get(url + "/api/v1/health", timeout=30).json()
        assert body["metadatabase"]["status"] == "unhealthy"
    finally:
        stop_server(server)
        read_only.close()


def test_health_reports_a_stale_scheduler(make_site: MakeSite) -> None:
    site = make_site()
    now = dt.datetime.now(dt.timezone.utc)
    site.store.set_meta("scheduler_heartbeat", now.isoformat())
    assert requests.get(site.url + "/api/v1/health", timeout=30).json()["scheduler"]["status"] == "healthy"
    site.store.set_meta("scheduler_heartbeat", (now - dt.timedelta(seconds=31)).isoformat())
    body = requests.get(site.url + "/api/v1/health", timeout=30).json()
    assert body["scheduler"]["status"] == "unhealthy" and body["metadatabase"]["status"] == "healthy"
    site.store.set_meta("scheduler_heartbeat", "garbage")
    assert requests.get(site.url + "/api/v1/health", timeout=30).json()["scheduler"]["status"] == "unhealthy"


def raw_variable(store: Store, key: str) -> tuple[str, bool]:
    with store.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT val, is_encrypted FROM variable WHERE key = :k"), {"k": key}).one()
    return row[0], bool(row[1])


def test_variables_are_encrypted_at_rest_and_rotated(make_site: MakeSite, tmp_path: Path) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    key_file = tmp_path / "secrets" / "fernet"
    key_file.parent.mkdir()
    key_file.write_text(old_key + "\n")
    site = make_site(DOCKYARD_FERNET_KEY_FILE=str(key_file))
    assert site.api("POST", "/variables", json={"key": "bucket", "value": "s3://clear-value"}).status_code == 200
    stored, encrypted = raw_variable(site.store, "bucket")
    assert encrypted and "clear-value" not in stored
    assert Fernet(old_key.encode()).decrypt(stored.encode()) == b"s3://clear-value"
    assert not (site.settings.home / "fernet.key").exists()
    site.store.set_variable("legacy", "written-before-0005")  # a clear-text row, as before the migration
    assert site.api("GET", "/variables/legacy").json()["value"] == "written-before-0005"
    assert site.api("GET", "/variables/bucket").json()["value"] == "s3://clear-value"
    env = {**os.environ, **site.env, "DOCKYARD_FERNET_KEY": f"{new_key},{old_key}"}
    rotated = subprocess.run(
        [sys.executable, "-m", "dockyard", "rotate-fernet-key"], capture_output=True, text=True, env=env, timeout=120
    )
    assert rotated.returncode == 0 and "2 variable(s)" in rotated.stdout, rotated.stderr
    for key, value in (("bucket", b"s3://clear-value"), ("legacy", b"written-before-0005")):
        stored, encrypted = raw_variable(site.store, key)
        assert encrypted and Fernet(new_key.encode()).decrypt(stored.encode()) == value
    got = subprocess.run(
        [sys.executable, "-m", "dockyard", "variables", "get", "legacy"],
        capture_output=True,
        text=True,
        env={**os.environ, **site.env, "DOCKYARD_FERNET_KEY": new_key},
        timeout=120,
    )
    assert got.stdout.strip() == "written-before-0005", got.stderr


def test_dockyard_files_are_private(make_site: MakeSite) -> None:
    site = make_site()
    home = site.settings.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(site.settings.logs_folder.stat().st_mode) == 0o700
    for name in ("webserver_secret_key",):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    site.api("POST", "/variables", json={"key": "k", "value": "v"})
    assert stat.S_IMODE((home / "fernet.key").stat().st_mode) == 0o600
    database = sqlite_path(site.settings.database_url)
    if database is not None:
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_viewer_does_not_see_secrets_in_the_dag_source(make_site: MakeSite) -> None:
    site = synced(make_site())
    page = site.login(VIEWER).get(site.url + "/dags/secure_demo", timeout=30)
    assert page.status_code == 200 and "private_environment" in page.text
    assert "canary-7f3a9" not in page.text and "canary-key-1" not in page.text
    assert "MY_TOKEN" in page.text and "visible-value" in page.text and "***" in page.text


def test_dag_structure_in_the_store_holds_no_private_environment(make_site: MakeSite) -> None:
    site = synced(make_site())
    row = site.store.get_dag("secure_demo")
    assert "canary-7f3a9" not in json.dumps(row.structure)

"""Airflow's five roles enforced on the API and the UI, notes on runs and task instances, and
``PUT /parseDagFile`` on a real server over SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.processor import DagProcessor
from dockyard.store.notes import MAX_NOTE_LENGTH
from dockyard.users import create_user
from dockyard.web.api_v1.file_tokens import sign_file
from dockyard.web.security import secret_key
from tests.web.conftest import ADMIN, OP, USER, VIEWER, SecureSite, csrf_of, with_roles

PUBLIC = ("pia", "public-pass-12345")
EVERYONE = {"admin": ADMIN, "op": OP, "user": USER, "viewer": VIEWER}


@pytest.fixture
def site(make_site: Callable[..., SecureSite]) -> SecureSite:
    """A server whose store knows the DAG ``secure_demo`` (parsed once) and a user of each role."""
    made = with_roles(make_site())
    create_user(made.store, *PUBLIC, "public")
    return made


# (method, path, body, the roles that may) - the rest get 403
API_CASES = [
    ("GET", "/dags", None, {"admin", "op", "user", "viewer"}),
    ("GET", "/dags/secure_demo/dagRuns", None, {"admin", "op", "user", "viewer"}),
    ("PATCH", "/dags/secure_demo", {"is_paused": False}, {"admin", "op", "user"}),
    ("POST", "/dags/secure_demo/dagRuns", {}, {"admin", "op", "user"}),
    ("POST", "/connections", {"conn_type": "http"}, {"admin", "op"}),
    ("GET", "/connections", None, {"admin", "op"}),
    ("GET", "/variables", None, {"admin", "op"}),
    ("POST", "/pools", {"slots": 2}, {"admin", "op"}),
    ("GET", "/config", None, {"admin", "op"}),
    ("GET", "/users", None, {"admin"}),
    ("GET", "/roles", None, {"admin"}),
]


def test_each_role_has_airflows_rights_on_the_api(site: SecureSite) -> None:
    for number, (method, path, body, allowed) in enumerate(API_CASES):
        for role, who in EVERYONE.items():
            sent = body
            if path == "/connections" and method == "POST":
                sent = {**body, "connection_id": f"c_{role}"}  # type: ignore[dict-item]
            if path == "/pools":
                sent = {**body, "name": f"p_{role}"}  # type: ignore[dict-item]
            if path.endswith("/dagRuns") and method == "POST":
                sent = {"dag_run_id": f"r_{role}_{number}"}
            response = site.api(method, path, auth=who, json=sent)
            if role in allowed:
                assert response.status_code == 200, (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.text)
                assert f"has the role {role.capitalize()}" in response.json()["detail"]
    for method, path, _, _ in API_CASES:
        assert site.api(method, path, auth=PUBLIC, json={}).status_code == 403, path  # Public may nothing


def test_a_user_gets_403_on_post_connections_and_says_what_it_takes(site: SecureSite) -> None:
    refused = site.api("POST", "/connections", auth=USER, json={"connection_id": "db", "conn_type": "postgres"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "user 'ulla' has the role User; can_create on Connections needs the role Op or one with more rights"
    )
    assert site.api("GET", "/connections/db").status_code == 404  # nothing was written


def test_roles_and_permissions_answer_with_the_enforced_table(site: SecureSite) -> None:
    listed = site.api("GET", "/roles").json()
    assert [r["name"] for r in listed["roles"]] == ["Admin", "Op", "User", "Viewer", "Public"]
    assert listed["total_entries"] == 5
    op = {(a["action"]["name"], a["resource"]["name"]) for a in site.api("GET", "/roles/op").json()["actions"]}
    assert ("can_create", "Connections") in op and ("can_read", "Configurations") in op
    assert not any(resource in ("Users", "Roles") for _, resource in op)
    user = {(a["action"]["name"], a["resource"]["name"]) for a in site.api("GET", "/roles/User").json()["actions"]}
    assert ("can_create", "DAG Runs") in user and ("can_read", "Variables") not in user
    viewer = site.api("GET", "/roles/Viewer").json()["actions"]
    assert {a["action"]["name"] for a in viewer} <= {"can_read", "can_edit"}
    assert {a["resource"]["name"] for a in viewer if a["action"]["name"] == "can_edit"} == {"My Profile", "My Password"}
    assert site.api("GET", "/roles/Public").json()["actions"] == []
    assert site.api("GET", "/roles/Superuser").status_code == 404
    permissions = site.api("GET", "/permissions").json()
    assert {a["name"] for a in permissions["actions"]} == {"can_read", "can_edit", "can_create", "can_delete"}
    assert site.api("GET", "/users/ulla").json()["roles"] == [{"name": "User"}]
    created = site.api(
        "POST", "/users", json={"username": "oz", "password": "oz-pass-12345", "roles": [{"name": "Op"}]}
    )
    assert created.status_code == 200 and created.json()["roles"] == [{"name": "Op"}]


def test_the_ui_enforces_the_same_roles(site: SecureSite) -> None:
    def page(who: tuple[str, str], path: str) -> int:
        return site.login(who).get(site.url + path, timeout=30).status_code

    assert page(OP, "/connections") == 200 and page(USER, "/connections") == 403
    assert page(OP, "/variables") == 200 and page(VIEWER, "/variables") == 403
    assert page(ADMIN, "/users") == 200 and page(OP, "/users") == 403
    assert page(VIEWER, "/") == 200 and page(PUBLIC, "/") == 403

    def pause(who: tuple[str, str]) -> int:
        session = site.login(who)
        form = {"csrf": csrf_of(session, site.url), "paused": "true", "next": "/"}
        return session.post(
            site.url + "/dags/secure_demo/pause", data=form, timeout=30, allow_redirects=False
        ).status_code

    assert pause(VIEWER) == 403
    assert pause(USER) == 303 and site.store.get_dag("secure_demo").is_paused


def test_notes_on_runs_and_task_instances(site: SecureSite) -> None:
    when = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc).isoformat()
    assert site.api("POST", "/dags/secure_demo/dagRuns", json={"dag_run_id": "n1", "logical_date": when}).ok
    run = site.api("PATCH", "/dags/secure_demo/dagRuns/n1/setNote", auth=USER, json={"note": "waiting for the feed"})
    assert run.status_code == 200 and run.json()["note"] == "waiting for the feed" and run.json()["dag_run_id"] == "n1"
    assert site.api("GET", "/dags/secure_demo/dagRuns/n1").json()["note"] == "waiting for the feed"
    listed = site.api("GET", "/dags/secure_demo/dagRuns").json()["dag_runs"]
    assert [r["note"] for r in listed] == ["waiting for the feed"]
    refused = site.api("PATCH", "/dags/secure_demo/dagRuns/n1/setNote", auth=VIEWER, json={"note": "x"})
    assert refused.status_code == 403
    bad = site.api("PATCH", "/dags/secure_demo/dagRuns/n1/setNote", json={"text": "x"})
    assert bad.status_code == 400 and '{"note": "..."}' in bad.json()["detail"]
    long = site.api("PATCH", "/dags/secure_demo/dagRuns/n1/setNote", json={"note": "x" * (MAX_NOTE_LENGTH + 1)})
    assert long.status_code == 400 and f"at most {MAX_NOTE_LENGTH}" in long.json()["detail"]
    assert site.api("PATCH", "/dags/secure_demo/dagRuns/nope/setNote", json={"note": "x"}).status_code == 404
    cleared = site.api("PATCH", "/dags/secure_demo/dagRuns/n1/setNote", json={"note": ""})
    assert cleared.json()["note"] is None

    # the run's task instances exist once the scheduler starts it; here (no scheduler) make them as it would
    site.store.start_run("secure_demo", "n1", [{"task_id": "t", "retries": 0, "pool": "default_pool"}])
    path = "/dags/secure_demo/dagRuns/n1/taskInstances/t"
    ti = site.api("PATCH", path + "/setNote", auth=USER, json={"note": "flaky upstream"})
    assert ti.status_code == 200 and ti.json()["note"] == "flaky upstream" and ti.json()["task_id"] == "t"
    assert site.api("GET", path).json()["note"] == "flaky upstream"
    mapped = site.api("PATCH", path + "/3/setNote", json={"note": "x"})
    assert mapped.status_code == 404 and "map" in mapped.json()["detail"]
    events = site.api("GET", "/eventLogs", params={"dag_id": "secure_demo"}).json()["event_logs"]
    assert {"set_dag_run_note", "set_task_instance_note"} <= {e["event"] for e in events}


def test_parse_dag_file_asks_the_processor_to_parse_the_file_again(site: SecureSite) -> None:
    processor = DagProcessor(site.settings, site.store)
    assert processor.refresh() is None  # parsed by the fixture and unchanged since: nothing is parsed
    token = site.api("GET", "/dags/secure_demo").json()["file_token"]
    assert site.api("PUT", f"/parseDagFile/{token}", auth=VIEWER).status_code == 403
    asked = site.api("PUT", f"/parseDagFile/{token}", auth=USER)
    assert asked.status_code == 201 and asked.content == b""
    assert site.api("PUT", f"/parseDagFile/{token}").status_code == 201  # a second request before the parse is one
    again = processor.refresh()
    assert again is not None and again.parsed == 1
    assert processor.refresh() is None  # the request was taken
    unknown = site.api("PUT", "/parseDagFile/bm90LWEtZGFnLWZpbGU")
    assert unknown.status_code == 404 and unknown.json()["title"] == "Not Found"
    assert site.api("PUT", "/parseDagFile/%%%").status_code == 404


def test_file_tokens_are_signed_with_the_servers_secret_key(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    DagProcessor(site.settings, site.store).refresh()
    dag = site.api("GET", "/dags/secure_demo").json()
    token, fileloc = dag["file_token"], dag["fileloc"]
    source = site.api("GET", f"/dagSources/{token}", headers={"Accept": "application/json"})
    assert source.status_code == 200 and 'DAG("secure_demo"' in source.json()["content"]

    def refused(made_up: str) -> None:
        for method, path in (("GET", "/dagSources/"), ("PUT", "/parseDagFile/")):
            answer = site.api(method, path + made_up)
            assert answer.status_code == 404, (method, made_up, answer.text)
            assert answer.json()["title"] == "Not Found" and answer.json()["status"] == 404

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    signature = token.rpartition(".")[2]
    refused(b64(fileloc))  # the path alone, as tokens were before they were signed
    refused(f"{b64('/etc/passwd')}.{signature}")  # another path under a real signature
    refused(f"{b64(fileloc)}.{signature[:-2]}AA")  # a changed signature
    refused(f"{token}x")
    detail = site.api("GET", f"/dagSources/{b64('/etc/passwd')}.{signature}").json()["detail"]
    assert "not one this server gave" in detail and "GET /dags gives each DAG's file_token" in detail

    # signed with the right key, but not the file of a stored DAG: still refused
    key = secret_key(site.settings.home, site.settings.secret_key)
    other = Path(fileloc).with_name("not_a_dag.py")
    other.write_text("SECRET = 1\n")
    refused(sign_file(str(other), key))
    assert site.api("GET", f"/dagSources/{sign_file(fileloc, key)}").status_code == 200

    # a server with another key gives other tokens and refuses this one
    elsewhere = make_site(DOCKYARD_SECRET_KEY="another-secret-key-for-this-test")
    assert elsewhere.api("GET", "/dags/secure_demo").json()["file_token"] != token
    assert elsewhere.api("GET", f"/dagSources/{token}").status_code == 404

"""Every /api/v1 route on a real server: payloads after Airflow's REST API, auth (401/403), bad input (4xx)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import wait_for
from tests.web.conftest import VIEWER, Site, wait_for_run

pytestmark = pytest.mark.engine

ROUTES = [
    ("GET", "/dags"),
    ("GET", "/dags/web_demo"),
    ("PATCH", "/dags/web_demo"),
    ("GET", "/dags/web_demo/dagRuns"),
    ("POST", "/dags/web_demo/dagRuns"),
    ("GET", "/dags/web_demo/dagRuns/x"),
    ("DELETE", "/dags/web_demo/dagRuns/x"),
    ("GET", "/dags/web_demo/dagRuns/x/taskInstances"),
    ("GET", "/dags/web_demo/dagRuns/x/taskInstances/first"),
    ("PATCH", "/dags/web_demo/dagRuns/x/taskInstances/first"),
    ("POST", "/dags/web_demo/clearTaskInstances"),
    ("GET", "/dags/web_demo/dagRuns/x/taskInstances/first/logs/1"),
    ("GET", "/dags/web_demo/dagRuns/x/taskInstances/first/xcomEntries"),
    ("GET", "/connections"),
    ("POST", "/connections"),
    ("GET", "/variables"),
    ("POST", "/variables"),
    ("GET", "/version"),
    ("GET", "/importErrors"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_login(site: Site, method: str, path: str) -> None:
    for auth in (None, ("ada", "wrong-password"), ("nobody", "whatever-123")):
        response = site.api(method, path, auth=auth, json={})
        assert response.status_code == 401, (method, path, auth, response.text)
        assert response.json()["title"] == "Unauthorized"
        assert response.headers["WWW-Authenticate"] == 'Basic realm="dockyard"'


def test_health_needs_no_login_and_reports_the_scheduler(site: Site) -> None:
    body = site.api("GET", "/health", auth=None).json()
    assert body["metadatabase"]["status"] == "healthy"
    assert body["scheduler"]["status"] == "healthy" and body["scheduler"]["latest_scheduler_heartbeat"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/dags/web_demo", {"is_paused": True}),
        ("POST", "/dags/web_demo/dagRuns", {}),
        ("POST", "/dags/web_demo/clearTaskInstances", {"dag_run_id": "x", "task_ids": ["first"]}),
        ("GET", "/connections", None),
        ("POST", "/variables", {"key": "k", "value": "v"}),
        ("DELETE", "/dags/web_demo/dagRuns/x", None),
    ],
)
def test_viewers_cannot_change_things_or_see_connections(site: Site, method: str, path: str, body: object) -> None:
    response = site.api(method, path, auth=VIEWER, json=body)
    assert response.status_code == 403
    assert "has the role Viewer; can_" in response.json()["detail"]


def test_dags_and_pausing(site: Site) -> None:
    listed = site.api("GET", "/dags").json()
    assert listed["total_entries"] == 2 and {d["dag_id"] for d in listed["dags"]} == {"web_demo", "web_slow"}
    assert site.api("GET", "/dags?limit=1&offset=1").json()["dags"][0]["dag_id"] == "web_slow"
    assert site.api("PATCH", "/dags/web_slow", json={"is_paused": True}).json()["is_paused"] is True
    assert site.api("GET", "/dags/web_slow", auth=VIEWER).json()["is_paused"] is True
    site.api("PATCH", "/dags/web_slow", json={"is_paused": False})
    bad = site.api("PATCH", "/dags/web_slow", json={"is_paused": "yes"})
    assert bad.status_code == 400 and "is_paused" in bad.json()["detail"]
    missing = site.api("GET", "/dags/nope")
    assert missing.status_code == 404 and "no DAG 'nope'" in missing.json()["detail"]


def test_trigger_run_inspect_logs_xcoms_clear_and_delete(site: Site) -> None:
    response = site.api(
        "POST", "/dags/web_demo/dagRuns", json={"conf": {"greeting": "hi", "count": 5}, "dag_run_id": "api_run"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["dag_run_id"] == "api_run" and response.json()["state"] == "queued"
    assert wait_for_run(site, "web_demo", "api_run") == "success"
    run = site.api("GET", "/dags/web_demo/dagRuns/api_run", auth=VIEWER).json()
    assert run["state"] == "success" and run["conf"] == {"greeting": "hi", "count": 5}
    assert "api_run" in [r["dag_run_id"] for r in site.api("GET", "/dags/web_demo/dagRuns").json()["dag_runs"]]
    tis = site.api("GET", "/dags/web_demo/dagRuns/api_run/taskInstances").json()["task_instances"]
    assert {t["task_id"]: t["state"] for t in tis} == {"first": "success", "second": "success"}
    first = site.api("GET", "/dags/web_demo/dagRuns/api_run/taskInstances/first").json()
    assert first["rendered_fields"]["command"] == "sh -c 'echo hi x5'" and first["exit_code"] == 0
    log = site.api("GET", "/dags/web_demo/dagRuns/api_run/taskInstances/first/logs/1").json()
    assert " hi x5\n" in log["content"] and log["finished"] is True
    rest = site.api(
        "GET", f"/dags/web_demo/dagRuns/api_run/taskInstances/first/logs/1?token={log['continuation_token']}"
    )
    assert rest.json()["content"] == ""
    assert site.api("GET", "/dags/web_demo/dagRuns/api_run/taskInstances/first/logs/7").status_code == 404
    entries = site.api("GET", "/dags/web_demo/dagRuns/api_run/taskInstances/second/xcomEntries").json()
    assert [e["key"] for e in entries["xcom_entries"]] == ["return_value"]
    value = site.api("GET", "/dags/web_demo/dagRuns/api_run/taskInstances/second/xcomEntries/return_value").json()
    assert value["value"] == '"got hi x5"'
    clear = {"dag_run_id": "api_run", "task_ids": ["second"]}
    # Airflow's defaults: a dry run, of failed task instances only
    assert site.api("POST", "/dags/web_demo/clearTaskInstances", json=clear).json()["task_instances"] == []
    cleared = site.api(
        "POST", "/dags/web_demo/clearTaskInstances", json={**clear, "dry_run": False, "only_failed": False}
    )
    [reference] = cleared.json()["task_instances"]
    assert reference["dag_run_id"] == "api_run" and reference["task_id"] == "second" and reference["execution_date"]
    assert wait_for_run(site, "web_demo", "api_run") == "success"
    assert site.api("GET", "/dags/web_demo/dagRuns/api_run/taskInstances/second").json()["try_number"] == 2
    marked = site.api("PATCH", "/dags/web_demo/dagRuns/api_run/taskInstances/second", json={"new_state": "failed"})
    assert marked.json()["state"] == "failed"
    assert site.api("DELETE", "/dags/web_demo/dagRuns/api_run").status_code == 204
    assert site.api("GET", "/dags/web_demo/dagRuns/api_run").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"conf": {"count": 0}}, 400, "param 'count': 0 is less than the minimum of 1"),
        ({"conf": {"greeting": "yo"}}, 400, "param 'greeting': 'yo' is not one of"),
        ({"conf": [1]}, 400, "conf must be a JSON object"),
        ({"logical_date": "yesterday"}, 400, "is not an ISO date-time"),
        ({"dag_run_id": 5}, 400, "dag_run_id must be a string"),
    ],
)
def test_bad_triggers_are_4xx(site: Site, body: dict[str, object], status: int, detail: str) -> None:
    response = site.api("POST", "/dags/web_demo/dagRuns", json=body)
    assert response.status_code == status and detail in response.json()["detail"]


def test_bad_input_never_500(site: Site) -> None:
    assert (
        site.api(
            "POST", "/dags/web_demo/dagRuns", data="not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert site.api("POST", "/dags/web_demo/clearTaskInstances", json={"task_ids": "first"}).status_code == 400
    assert site.api("GET", "/dags/web_demo/dagRuns?limit=0").status_code == 400
    assert (
        site.api("PATCH", "/dags/web_demo/dagRuns/none/taskInstances/first", json={"new_state": "x"}).status_code == 404
    )
    site.api("POST", "/dags/web_demo/dagRuns", json={"dag_run_id": "dup"})
    assert site.api("POST", "/dags/web_demo/dagRuns", json={"dag_run_id": "dup"}).status_code == 409
    assert site.api("GET", "/openapi.json").status_code == 200


def test_connections_passwords_are_write_only(site: Site) -> None:
    secret = "conn-pass-9Xq"
    body = {
        "connection_id": "reg",
        "conn_type": "docker",
        "host": "registry.example.com",
        "login": "robot",
        "password": secret,
        "extra": '{"email": "ci@example.com", "token": "extra-tok-1"}',
    }
    created = site.api("POST", "/connections", json=body)
    assert created.status_code == 200 and "password" not in created.json()
    for response in (created, site.api("GET", "/connections"), site.api("GET", "/connections/reg")):
        assert secret not in response.text and "extra-tok-1" not in response.text
    assert (
        site.api("PATCH", "/connections/reg", json={"host": "other.example.com"}).json()["host"] == "other.example.com"
    )
    assert site.store.get_connection("reg") is not None
    from dockyard.connections import Connections

    assert Connections(site.settings, site.store).get("reg").password == secret  # kept through the PATCH
    assert site.api("POST", "/connections", json=body).status_code == 409
    bad = site.api("POST", "/connections", json={"connection_id": "x", "port": "eighty"})
    assert bad.status_code == 400 and "port 'eighty' is not a number" in bad.json()["detail"]
    assert site.api("DELETE", "/connections/reg").status_code == 204
    assert site.api("GET", "/connections/reg").status_code == 404


def test_variables(site: Site) -> None:
    assert site.api("POST", "/variables", json={"key": "bucket", "value": "s3://b"}).json()["value"] == "s3://b"
    site.api("POST", "/variables", json={"key": "db_password", "value": "var-secret-77"})
    assert site.api("GET", "/variables", auth=VIEWER).status_code == 403  # as in Airflow: Op and Admin read them
    listed = site.api("GET", "/variables")
    assert "var-secret-77" not in listed.text
    assert {v["key"]: v["value"] for v in listed.json()["variables"]}["db_password"] == "***"
    assert site.api("PATCH", "/variables/bucket", json={"value": "s3://c"}).json()["value"] == "s3://c"
    assert site.api("POST", "/variables", json={"key": "x"}).status_code == 400
    assert site.api("DELETE", "/variables/bucket").status_code == 204
    assert site.api("GET", "/variables/bucket").status_code == 404


def test_only_success_or_failed_can_be_set(site: Site) -> None:
    site.api("POST", "/dags/web_demo/dagRuns", json={"dag_run_id": "states"})
    wait_for_run(site, "web_demo", "states")
    bad = site.api("PATCH", "/dags/web_demo/dagRuns/states/taskInstances/first", json={"new_state": "running"})
    assert bad.status_code == 400 and "new_state must be one of success, failed" in bad.json()["detail"]


def test_bearer_tokens(site: Site) -> None:
    from dockyard.users import create_token

    token = create_token(site.store, VIEWER[0], "a script")
    ok = site.api("GET", "/dags", auth=None, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["total_entries"] == 2
    refused = site.api(
        "PATCH", "/dags/web_demo", auth=None, json={"is_paused": True}, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403  # the token acts as its user: a viewer
    wrong = site.api("GET", "/dags", auth=None, headers={"Authorization": "Bearer dky_not-a-token"})
    assert wrong.status_code == 401


def test_import_errors_are_listed_within_a_parse_interval(site: Site) -> None:
    broken = site.settings.dags_folder / "broken_for_api.py"
    broken.write_text("from dockyard import DAG\nimport os\nos._exit(3)\n")
    try:

        def listed() -> list[dict[str, Any]]:
            body = site.api("GET", "/importErrors", auth=VIEWER).json()
            return [e for e in body["import_errors"] if e["filename"] == str(broken.resolve())]

        (error,) = wait_for(listed, 30, "the import error")
        assert "exited with status 3 while being imported" in error["stack_trace"]
        assert site.api("GET", "/dags/web_demo", auth=VIEWER).status_code == 200  # the others still load
    finally:
        broken.unlink()
    wait_for(lambda: not listed(), 30, "the import error to go with its file")

"""``/api/v1`` beyond the official client: Airflow's error bodies, ``/health`` at the root, typed schemas in the
OpenAPI document, secrets kept out of config and DAG source, and the UI's changes in the event log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from dockyard.processor import DagProcessor
from tests.web.conftest import ADMIN, VIEWER, SecureSite, csrf_of

pytestmark = pytest.mark.engine
ERRORS = "https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html#section/Errors/"


def test_errors_are_airflows_problem_bodies(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    missing = site.api("GET", "/dags/nope").json()
    assert missing == {"detail": missing["detail"], "status": 404, "title": "Not Found", "type": ERRORS + "NotFound"}
    assert site.api("GET", "/dags", auth=None).json()["type"] == ERRORS + "Unauthenticated"
    assert site.api("GET", "/connections", auth=VIEWER).json()["type"] == ERRORS + "PermissionDenied"
    bad = site.api("GET", "/dags?order_by=colour").json()
    assert bad["status"] == 400 and bad["type"] == ERRORS + "BadRequest" and "order_by takes one of" in bad["detail"]
    reversed_range = site.api("GET", "/dags/~/dagRuns?start_date_gte=2024-02-01&start_date_lte=2024-01-01")
    assert reversed_range.status_code == 400 and "swap them" in reversed_range.json()["detail"]
    assert (
        site.api("POST", "/pools", json={"name": "default_pool", "slots": 1}).json()["type"] == ERRORS + "AlreadyExists"
    )


def test_health_at_the_root_and_typed_openapi(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    root = requests.get(site.url + "/health", timeout=30).json()
    assert root["metadatabase"]["status"] == "healthy" and "scheduler" in root
    document = site.api("GET", "/openapi.json").json()
    untyped = []
    for path, methods in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in methods.items():
            ok = operation["responses"].get("200")
            if ok is None:
                continue
            schema = next(iter(ok.get("content", {}).values()), {}).get("schema", {})
            if "$ref" not in schema:
                untyped.append(f"{method.upper()} {path}")
    allowed = {"GET /api/v1/connections", "GET /api/v1/permissions"}  # connections: a masked free-form dict
    assert set(untyped) <= allowed, sorted(set(untyped) - allowed)
    operations = sum(len(m) for p, m in document["paths"].items() if p.startswith("/api/v1/"))
    assert operations >= 68


def test_config_and_dag_source_keep_secrets_out(make_site: Callable[..., SecureSite]) -> None:
    site = make_site(DOCKYARD_SECRET_KEY="canary-secret-key-123")
    config = site.api("GET", "/config").json()
    options = {(s["name"], o["key"]): o["value"] for s in config["sections"] for o in s["options"]}
    assert options[("dockyard", "secret_key")] == "< hidden >"
    assert "canary-secret-key-123" not in str(config)
    assert site.api("GET", "/config", auth=VIEWER).status_code == 403
    text = requests.get(site.url + "/api/v1/config", auth=ADMIN, headers={"Accept": "text/plain"}, timeout=30)
    assert text.headers["content-type"].startswith("text/plain") and "[core]\ndags_folder = " in text.text
    DagProcessor(site.settings, site.store).refresh(force=True)
    token = site.api("GET", "/dags").json()["dags"][0]["file_token"]
    source = requests.get(
        site.url + f"/api/v1/dagSources/{token}", auth=ADMIN, headers={"Accept": "application/json"}, timeout=30
    ).json()["content"]
    assert "secure_demo" in source and "canary-7f3a9" not in source and "***" in source


def test_changes_through_the_ui_are_in_the_event_log(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    session = site.login()
    response = session.post(
        site.url + "/variables",
        data={"key": "region", "value": "eu", "description": "", "csrf": csrf_of(session, site.url)},
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code < 400, response.text
    site.api("POST", "/variables", json={"key": "zone", "value": "a"})
    events = site.api("GET", "/eventLogs?order_by=event_log_id").json()["event_logs"]
    assert [(e["event"], e["owner"]) for e in events] == [("ui /variables", ADMIN[0]), ("variable.create", ADMIN[0])]
    assert '"zone"' in events[1]["extra"] and "eu" not in str(events)
    only = site.api("GET", "/eventLogs?included_events=variable.create").json()
    assert only["total_entries"] == 1

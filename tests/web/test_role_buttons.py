"""Each page shows a button only to a role that may use it (Airflow's permission table, dockyard.roles), and
every form the UI posts answers 403 to a role that may not, so hiding a button is never the only guard.
A real server over SQLite and PostgreSQL, driven as a browser would (sessions, CSRF tokens), role by role."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

from tests.web.conftest import ADMIN, OP, USER, VIEWER, SecureSite, csrf_of, with_roles

RUN = "/dags/secure_demo/runs/b1"


@pytest.fixture
def site(make_site: Callable[..., SecureSite]) -> SecureSite:
    """``secure_demo`` with a run ``b1`` (task ``t``), a variable and a connection, and a user of each role."""
    made = with_roles(make_site())
    assert made.api("POST", "/dags/secure_demo/dagRuns", json={"dag_run_id": "b1"}).ok
    made.store.start_run("secure_demo", "b1", [{"task_id": "t", "retries": 0, "pool": "default_pool"}])
    assert made.api("POST", "/variables", json={"key": "v1", "value": "x"}).ok
    assert made.api("POST", "/connections", json={"connection_id": "c1", "conn_type": "http"}).ok
    return made


def shown(site: SecureSite, session: requests.Session) -> set[str]:
    """What the pages offer this session: the main menu's links and the buttons and forms that change things."""
    found: set[str] = set()
    home = session.get(site.url + "/", timeout=30).text
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', home, re.S)
    assert nav, home
    found |= {f"nav:{href}" for href in re.findall(r'href="([^"]+)"', nav.group(1))}
    dag = session.get(site.url + "/dags/secure_demo", timeout=30).text
    switch = re.search(r'<input[^>]*id="dag-on"[^>]*>', dag)
    assert switch, dag
    if "disabled" not in switch.group(0):
        found.add("pause")
    if 'id="trigger-form"' in dag:
        found.add("trigger")
    run = session.get(site.url + RUN, timeout=30).text
    found |= {f"run:{a}" for a in re.findall(r'id="action-(\w+)"', run)}
    task = session.get(site.url + RUN + "/tasks/t", timeout=30).text
    found |= {f"task:{a}" for a in re.findall(r'id="action-(\w+)"', task)}
    for page in ("variables", "connections"):
        response = session.get(site.url + f"/{page}", timeout=30)
        if response.status_code == 200:
            found |= {f"{page}:{b}" for b in re.findall(r'aria-label="(Edit|Delete) ', response.text)}
            found |= {f"{page}:{form}" for form in re.findall(r'<form[^>]*id="(\w+-form)"', response.text)}
        else:
            assert response.status_code == 403, (page, response.status_code)
    return found


NAV = {"nav:/", "nav:/runs", "nav:/engines", "nav:/api/v1/ui"}
RUN_ACTIONS = {"run:clear", "run:success", "run:failed", "run:delete"}
TASK_ACTIONS = {"task:clear", "task:success", "task:failed", "task:stop"}
USER_SEES = NAV | {"nav:/audit", "pause", "trigger"} | RUN_ACTIONS | TASK_ACTIONS
OP_SEES = USER_SEES | {"nav:/pools", "nav:/connections", "nav:/variables"}
OP_SEES |= {f"{page}:{b}" for page in ("variables", "connections") for b in ("Edit", "Delete")}
OP_SEES |= {"variables:variable-form", "variables:import-form", "connections:connection-form"}
EXPECTED = {
    "admin": (ADMIN, OP_SEES | {"nav:/users"}),
    "op": (OP, OP_SEES),
    "user": (USER, USER_SEES),
    "viewer": (VIEWER, NAV | {"nav:/audit"}),
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_sees_the_buttons_its_permissions_allow(site: SecureSite, role: str) -> None:
    who, expected = EXPECTED[role]
    assert shown(site, site.login(who)) == expected


def post(site: SecureSite, who: tuple[str, str], path: str, form: dict[str, str]) -> requests.Response:
    session = site.login(who)
    sent = {"csrf": csrf_of(session, site.url), **form}
    return session.post(site.url + path, data=sent, timeout=30, allow_redirects=False)


FORBIDDEN = [
    (VIEWER, "/dags/secure_demo/pause", {"paused": "true"}, "can_edit on DAGs"),
    (VIEWER, "/dags/secure_demo/trigger", {}, "can_create on DAG Runs"),
    (VIEWER, RUN + "/act", {"action": "clear"}, "can_edit on DAG Runs"),
    (VIEWER, RUN + "/act", {"action": "delete"}, "can_delete on DAG Runs"),
    (VIEWER, RUN + "/act", {"action": "stop", "task_id": "t"}, "can_edit on Task Instances"),
    (USER, "/variables", {"key": "v2", "value": "y"}, "can_create on Variables"),
    (USER, "/variables", {"key": "v1", "value": "y", "mode": "edit"}, "can_edit on Variables"),
    (USER, "/variables/import", {}, "can_create on Variables"),
    (USER, "/variables/v1/delete", {}, "can_delete on Variables"),
    (USER, "/connections", {"conn_id": "c2", "conn_type": "http", "mode": "add"}, "can_create on Connections"),
    (USER, "/connections/check", {"conn_id": "c2", "conn_type": "http"}, "can_create on Connections"),
    (USER, "/connections/c1/delete", {}, "can_delete on Connections"),
]


def test_every_form_the_ui_posts_refuses_a_role_without_the_right(site: SecureSite) -> None:
    for who, path, form, needs in FORBIDDEN:
        response = post(site, who, path, form)
        assert response.status_code == 403, (who[0], path, form, response.status_code)
        assert needs in response.text, (path, response.text)
    assert site.store.get_variable_row("v1") is not None and not site.store.get_dag("secure_demo").is_paused
    assert site.login(OP).get(site.url + "/users", timeout=30).status_code == 403
    for who, page in ((VIEWER, "/pools"), (USER, "/connections"), (VIEWER, "/variables")):
        assert site.login(who).get(site.url + page, timeout=30).status_code == 403, (who[0], page)

    # what the buttons offer works for the roles that see them
    assert post(site, USER, RUN + "/act", {"action": "clear", "task_id": "t"}).status_code == 303
    assert post(site, OP, "/variables/v1/delete", {}).status_code == 303
    assert site.store.get_variable_row("v1") is None
    assert post(site, OP, "/connections/c1/delete", {}).status_code == 303

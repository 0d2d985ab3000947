"""The audit log page over HTTP on a real store (SQLite and PostgreSQL): newest first, filtered by DAG and
event, paged in the database, readable by viewers, linked from every page, and closed to strangers."""

from __future__ import annotations

import re
from collections.abc import Callable

from dockyard.store.changes import Changes
from tests.web.conftest import VIEWER, SecureSite


def rows(html: str) -> list[str]:
    """The Event column of each row of the audit table, top to bottom."""
    return re.findall(r'<td data-label="Event">([^<]*)</td>', html)


def test_the_audit_log_lists_newest_first_filters_and_pages(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    changes = Changes(site.store)
    for n in range(55):
        changes.record_event(f"cli_step_{n:02d}", owner="ops", dag_id="etl" if n % 2 else "other", run_id=f"r{n}")
    made = site.api("POST", "/pools", json={"name": "audit_pool", "slots": 2})
    assert made.status_code == 200, made.text
    viewer = site.login(VIEWER)
    page = viewer.get(site.url + "/audit", timeout=30)
    assert page.status_code == 200
    assert '<a href="/audit">Audit log</a>' in page.text
    shown = rows(page.text)
    assert len(shown) == 50 and shown[:3] == ["pool.create", "cli_step_54", "cli_step_53"]
    assert "1–50 of 56" in page.text and 'offset=50">Next</a>' in page.text
    older = rows(viewer.get(site.url + "/audit", params={"offset": 50}, timeout=30).text)
    assert older == [f"cli_step_{n:02d}" for n in range(5, -1, -1)]
    etl = rows(viewer.get(site.url + "/audit", params={"dag_id": "etl"}, timeout=30).text)
    assert len(etl) == 27 and all(int(e[-2:]) % 2 for e in etl)
    one = viewer.get(site.url + "/audit", params={"event": "cli_step_07", "dag_id": "etl"}, timeout=30).text
    assert rows(one) == ["cli_step_07"] and "/dags/etl/runs/r7" in one
    assert rows(viewer.get(site.url + "/audit", params={"event": "nothing"}, timeout=30).text) == []


def test_the_audit_log_needs_a_sign_in(make_site: Callable[..., SecureSite]) -> None:
    import requests

    site = make_site()
    response = requests.get(site.url + "/audit", timeout=30, allow_redirects=False)
    assert response.status_code in (302, 303, 307) and "/login" in response.headers["location"]

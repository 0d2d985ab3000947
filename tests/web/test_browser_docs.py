"""The interactive API docs in a real browser (Debian's Chromium via Playwright): served from the package
under the app's Content-Security-Policy, behind the login, listing the API's operations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.web.conftest import VIEWER, SecureSite, artifacts

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_docs_load_and_list_the_operations(browser: Browser, make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if _is_problem(m) else None)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site.url) else None)
    page.goto(site.url + "/api/v1/ui")
    expect(page).to_have_url(f"{site.url}/login?next=/api/v1/ui")
    page.fill("#username", VIEWER[0])
    page.fill("#password", VIEWER[1])
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{site.url}/api/v1/ui")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=30_000)  # the typed document of 70 operations takes a moment
    assert operations.count() >= 20
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/dags/{dag_id}/dagRuns").first).to_be_visible()
    page.screenshot(path=str(artifacts() / "api-docs.png"), full_page=False)
    context.close()
    assert outside == [], outside
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems


def _is_problem(message: ConsoleMessage) -> bool:
    return message.type in ("error", "warning")

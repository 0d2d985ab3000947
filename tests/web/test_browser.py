"""The UI in a real browser (Debian's Chromium, driven by Playwright): log in, trigger with params, watch
the graph turn green, read a live log, stop a running task, add a connection. Screenshots of each main
page go to test-artifacts/screenshots/."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers import labelled
from tests.web.conftest import ADMIN, VIEWER, Site, artifacts, log_in, wait_for_run

pytestmark = pytest.mark.engine


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


def test_login_is_required_and_a_wrong_password_is_refused(page: Page, site: Site) -> None:
    page.goto(site.url + "/dags/web_demo")
    expect(page).to_have_url(f"{site.url}/login?next=/dags/web_demo")
    page.fill("#username", ADMIN[0])
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_have_text("Wrong username or password.")
    page.screenshot(path=str(artifacts() / "login.png"))


def test_trigger_with_params_and_watch_the_graph_turn_green(page: Page, site: Site) -> None:
    log_in(page, site)
    page.screenshot(path=str(artifacts() / "dags.png"), full_page=True)
    page.click("a[href='/dags/web_demo']")
    page.fill("#param_count", "0")
    page.click("#trigger-button")
    expect(page.locator("[data-error-for=count]")).to_contain_text("less than the minimum of 1")
    page.fill("#param_count", "7")
    page.select_option("#param_greeting", "hi")
    page.click("#trigger-button")
    for task in ("first", "second"):  # the graph's states refresh in place while the run is going
        expect(page.locator(f"g.node[data-task={task}]")).to_have_attribute("data-state", "success", timeout=60_000)
    page.screenshot(path=str(artifacts() / "dag.png"), full_page=True)
    run_id = site.store.list_runs("web_demo", limit=1)[0].run_id
    assert site.store.get_xcom("web_demo", run_id, "second") == "got hi x7"


def test_a_live_log_and_stopping_a_running_task(page: Page, site: Site, engine: docker.APIClient) -> None:
    log_in(page, site)
    run = site.api("POST", "/dags/web_slow/dagRuns", json={"dag_run_id": "browser_slow"}).json()

    def ticker_state() -> str | None:
        found = [t for t in site.store.list_task_instances("web_slow", run["dag_run_id"]) if t.task_id == "ticker"]
        if not found or not found[0].rendered:  # no task instance until the run starts, no fields until rendered
            return None
        return found[0].state

    deadline = time.monotonic() + 60
    while ticker_state() != "running":
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.2)
    page.goto(f"{site.url}/dags/web_slow/runs/browser_slow/tasks/ticker")
    expect(page.locator("#log")).to_contain_text("tick 2", timeout=30_000)
    expect(page.locator("#log-status")).to_have_text("live")
    expect(page.locator("#log")).to_contain_text("tick 4", timeout=30_000)  # it keeps coming while the container prints
    assert "for i in $(seq 1 60)" in page.locator("#rendered").inner_text()  # rendered fields while it runs
    page.fill("#log-search", "tick 3")
    assert all("tick 3" in line for line in page.locator("#log").inner_text().splitlines() if line)
    page.screenshot(path=str(artifacts() / "task-live-log.png"), full_page=True)
    page.click("#action-stop")  # a dialog lists the change first; nothing happens until it is confirmed
    expect(page.locator("#confirm-body")).to_contain_text("ticker")
    page.click("#confirm-button")
    expect(page.locator("#ti-state")).to_have_text("failed")
    assert wait_for_run(site, "web_slow", "browser_slow") == "failed"
    deadline = time.monotonic() + 30
    while [c for c in labelled(engine, dag_id="web_slow") if c["State"] == "running"]:
        assert time.monotonic() < deadline, "the container kept running after Stop"
        time.sleep(0.2)


def test_add_a_connection_without_the_password_reaching_the_page(page: Page, site: Site) -> None:
    log_in(page, site)
    page.click("a[href='/connections']")
    page.fill("#conn_id", "browser_registry")
    page.fill("#host", "registry.example.com")
    page.fill("#login", "robot")
    page.fill("#password", "browser-secret-4242")
    page.click("#conn-save")
    expect(page.locator("td", has_text="browser_registry")).to_be_visible()
    assert "browser-secret-4242" not in page.content()
    page.screenshot(path=str(artifacts() / "connections.png"), full_page=True)
    page.click("a[href='/variables']")
    page.screenshot(path=str(artifacts() / "variables.png"), full_page=True)


def test_a_viewer_sees_but_cannot_steer(page: Page, site: Site) -> None:
    log_in(page, site, VIEWER)
    expect(page.locator("a[href='/connections']")).to_have_count(0)
    page.goto(site.url + "/connections")
    expect(page.locator("h1")).to_contain_text("403")
    page.goto(site.url + "/dags/web_demo")
    expect(page.locator("#trigger")).to_have_count(0)


def test_pages_fit_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, site)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the DAG list is {width}px wide on a 390px screen"
    page.screenshot(path=str(artifacts() / "dags-phone.png"), full_page=True)
    context.close()

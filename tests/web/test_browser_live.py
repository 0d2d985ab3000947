"""Live pages in a real browser (Debian's Chromium via Playwright): regions refresh in place without a
reload, so a half-typed form and a scrolled log stay as the person left them; missing things are 404 pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from dockyard.web.service import Service
from tests.helpers import wait_for
from tests.web.conftest import Site, artifacts, signed_in_page, site_with_dags, wait_for_run

pytestmark = pytest.mark.engine

LIVE_DAG = """
with DAG("ui_live", start_date=START, schedule=None, default_args=ARGS,
         params={"count": Param(3, type="integer", minimum=1), "note": Param("", type="string")}) as dag:
    DockerOperator(task_id="wait", command="sleep 4") >> DockerOperator(task_id="done", command="echo done")
"""

TALKER_DAG = """
with DAG("ui_talker", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="talk", command=["sh", "-c",
        "for i in $(seq 1 40); do echo line $i; [ $i = 5 ] && echo ER''ROR disk full; sleep 0.5; done"])
"""


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory, engine: object) -> Iterator[Site]:
    with site_with_dags(tmp_path_factory.mktemp("live"), {"ui_live": LIVE_DAG, "ui_talker": TALKER_DAG}) as site:
        wait_for(lambda: len(site.store.list_dags()) == 2, what="both DAGs parsed")
        yield site


@pytest.fixture
def page(browser: Browser, live_site: Site) -> Iterator[Page]:
    with signed_in_page(browser, live_site) as opened:
        yield opened


def swaps(page: Page) -> int:
    return int(page.evaluate("window.__swaps || 0"))


def count_swaps(page: Page) -> None:
    page.evaluate(
        "document.body.addEventListener('htmx:afterSwap', () => { window.__swaps = (window.__swaps || 0) + 1 })"
    )


def test_a_half_typed_trigger_form_survives_live_updates(page: Page, live_site: Site) -> None:
    run = Service(live_site.settings, live_site.store).trigger("ui_live", {})
    problems: list[str] = []  # a script the CSP blocks, or any other error in the page, shows here
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_site.url}/dags/ui_live?run_id={quote(run.run_id, safe='')}")
    page.evaluate("window.__notReloaded = true")
    count_swaps(page)
    page.fill("#param_count", "77")
    page.fill("#param_note", "half-typed")
    page.focus("#param_note")
    assert wait_for_run(live_site, "ui_live", run.run_id) == "success"
    # the grid and the graph catch up with the finished run in place ...
    expect(page.locator("g.node[data-task=done]")).to_have_attribute("data-state", "success", timeout=30_000)
    expect(page.locator("#grid a[aria-label='done in " + run.run_id + ": success']")).to_have_count(1, timeout=30_000)
    assert swaps(page) >= 2, "the grid was not refreshed in place"
    # ... and what was typed is still there, in the same page (no reload)
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator("#param_count")).to_have_value("77")
    expect(page.locator("#param_note")).to_have_value("half-typed")
    assert page.evaluate("document.activeElement.id") == "param_note"
    assert problems == []
    page.screenshot(path=str(artifacts() / "dag-live.png"), full_page=True)


def test_the_log_follows_only_while_scrolled_to_the_bottom(page: Page, live_site: Site) -> None:
    run = Service(live_site.settings, live_site.store).trigger("ui_talker", {})
    wait_for(
        lambda: any(t.state == "running" for t in live_site.store.list_task_instances("ui_talker", run.run_id)),
        what="the task to run",
    )
    page.goto(f"{live_site.url}/dags/ui_talker/runs/{run.run_id}/tasks/talk")
    page.evaluate("document.getElementById('log').style.maxHeight = '120px'")
    expect(page.locator("#log")).to_contain_text("line 8", timeout=30_000)
    at_bottom = "(() => { const b = document.getElementById('log');" + (
        " return b.scrollHeight - b.scrollTop - b.clientHeight < 24 })()"
    )
    assert page.evaluate(at_bottom), "the log does not follow its end at first"
    page.evaluate("document.getElementById('log').scrollTop = 0")  # the reader scrolls up to read
    seen = page.locator("#log").inner_text().count("\n")
    expect(page.locator("#log")).to_contain_text(f"line {seen + 4}", timeout=30_000)
    assert page.evaluate("document.getElementById('log').scrollTop") == 0, "new lines moved the reader"
    page.evaluate("const b = document.getElementById('log'); b.scrollTop = b.scrollHeight")  # back to the end
    seen = page.locator("#log").inner_text().count("\n")
    expect(page.locator("#log")).to_contain_text(f"line {seen + 3}", timeout=30_000)
    time.sleep(0.3)
    assert page.evaluate(at_bottom), "the log stopped following at the bottom"
    page.select_option("#log-level", "error")  # only the lines that name an error
    expect(page.locator("#log")).to_have_text(re.compile(r"^\S+ ERROR disk full$"))
    page.select_option("#log-level", "")
    expect(page.locator("#log")).to_contain_text("line 1\n")
    wait_for_run(live_site, "ui_talker", run.run_id)


@pytest.mark.parametrize(
    "path",
    ["/dags/nope", "/dags/ui_live?run_id=no_such_run", "/dags/ui_live/runs/no_such_run", "/no/such/page"],
)
def test_missing_things_are_404_pages(page: Page, live_site: Site, path: str) -> None:
    response = page.goto(live_site.url + path)
    assert response is not None and response.status == 404
    assert "text/html" in response.headers["content-type"]
    expect(page.locator("h1")).to_contain_text("404")
    expect(page.locator("header a.brand")).to_be_visible()  # the site's own page, with its navigation


def test_pools_and_users_are_pages(page: Page, live_site: Site) -> None:
    for path, heading in (("/pools", "Pools"), ("/users", "Users")):
        response = page.goto(live_site.url + path)
        assert response is not None and response.status == 200
        expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("td", has_text="ada")).to_be_visible()

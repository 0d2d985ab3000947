"""A DAG's Duration and Calendar views, the typed connection form (add, edit, check, delete), variables
(edit, import, export), why a task instance is not running yet, and Labels and mapped tasks in the graph,
in a real browser (Debian's Chromium via Playwright) over a real scheduler and store. Every page is checked
by axe-core and at a phone's width; screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from dockyard.connections import Connection, Connections
from dockyard.states import RunState, TaskState
from dockyard.store.models import TaskInstanceModel
from dockyard.variables import Variables
from dockyard.web.service import Service
from tests.helpers import wait_for
from tests.web.conftest import Site, artifacts, signed_in_page, site_with_dags, wait_for_run
from tests.web.test_browser_ui import axe_violations

pytestmark = pytest.mark.engine

HISTORY = """
with DAG("views_history", start_date=START, schedule=None, default_args=ARGS, is_paused_upon_creation=True) as dag:
    EmptyOperator(task_id="extract") >> EmptyOperator(task_id="load")
"""

LABELLED = """
from dockyard.operators import Label

with DAG("views_graph", start_date=START, schedule=None, default_args=ARGS) as dag:
    check = EmptyOperator(task_id="check")
    load = EmptyOperator(task_id="load")
    check >> Label("rows found") >> load
    fan = DockerOperator.partial(task_id="fan").expand(command=["echo a", "echo b", "echo c"])
    load >> fan
"""

WAITING = """
with DAG("views_waiting", start_date=START, schedule=None, default_args=ARGS) as dag:
    held = DockerOperator(task_id="held", command="echo never", pool="tiny")
    after = EmptyOperator(task_id="after")
    held >> after
"""

DAYS = 20
"""Runs of views_history: one a day from 2024-03-01, every fifth failed, with task durations growing."""


def _write_history(site: Site) -> None:
    """Runs and task instances as the scheduler leaves them, with known durations (``load`` takes n+1 s)."""
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    for n in range(DAYS):
        run_id = f"day_{n:02d}"
        when = start + dt.timedelta(days=n)
        site.store.create_run("views_history", run_id, logical_date=when, run_type="scheduled")
        site.store.finish_run("views_history", run_id, RunState.FAILED if n % 5 == 0 else RunState.SUCCESS)
        with site.store.session() as s:
            for task_id, seconds in (("extract", 2.0), ("load", float(n + 1))):
                s.add(
                    TaskInstanceModel(
                        dag_id="views_history",
                        run_id=run_id,
                        task_id=task_id,
                        map_index=-1,
                        state=TaskState.SUCCESS,
                        try_number=1,
                        start_date=when,
                        end_date=when + dt.timedelta(seconds=seconds),
                        duration=seconds,
                    )
                )


@pytest.fixture(scope="module")
def views_site(tmp_path_factory: pytest.TempPathFactory, engine: object) -> Iterator[Site]:
    dags = {"views_history": HISTORY, "views_graph": LABELLED, "views_waiting": WAITING}
    with site_with_dags(tmp_path_factory.mktemp("views"), dags) as site:
        wait_for(lambda: len(site.store.list_dags()) == 3, timeout=120, what="every DAG parsed")
        site.store.set_pool("tiny", 0, "a pool with no room")
        _write_history(site)
        yield site


@pytest.fixture
def page(browser: Browser, views_site: Site) -> Iterator[Page]:
    with signed_in_page(browser, views_site) as opened:
        yield opened


def test_the_duration_view_charts_each_task_over_the_latest_runs(page: Page, views_site: Site) -> None:
    page.goto(views_site.url + "/dags/views_history/duration?runs=10")
    chart = page.locator("#duration-chart")
    expect(chart).to_be_visible()
    load = chart.locator("g.series[data-task=load] circle")
    expect(load).to_have_count(10)  # the latest 10 of 20 runs
    seconds = [float(s) for s in load.evaluate_all("cs => cs.map(c => c.dataset.seconds)")]
    assert seconds == [float(n + 1) for n in range(10, 20)]  # oldest first
    ys = [float(y) for y in load.evaluate_all("cs => cs.map(c => c.getAttribute('cy'))")]
    assert ys == sorted(ys, reverse=True), "a longer duration is drawn higher"
    row = page.locator("#duration-table tr[data-task=load]")
    expect(row.locator("td").nth(1)).to_have_text("20.0 s")
    expect(row.locator("td").nth(3)).to_have_text("20.0 s")
    expect(page.locator("#duration-table tr[data-task=extract] td").nth(2)).to_have_text("2.0 s")
    page.screenshot(path=str(artifacts() / "dag-duration.png"), full_page=True)
    page.select_option("#runs", "25")
    page.click("#duration-form button")
    expect(load).to_have_count(DAYS)
    assert page.goto(views_site.url + "/dags/views_history/duration?runs=7").status == 400  # type: ignore[union-attr]


def test_the_calendar_colours_each_day_by_its_runs(page: Page, views_site: Site) -> None:
    page.goto(views_site.url + "/dags/views_history/calendar")
    expect(page.locator("#calendar-summary")).to_have_text("0 run(s) on 0 day(s).")  # none in the past year
    expect(page.locator("#calendar rect.day")).to_have_count(365)
    page.click("nav[aria-label=Years] a:text-is('2024')")
    expect(page).to_have_url(views_site.url + "/dags/views_history/calendar?year=2024")
    expect(page.locator("#calendar rect.day")).to_have_count(366)  # a leap year
    expect(page.locator("#calendar-summary")).to_have_text(f"{DAYS} run(s) on {DAYS} day(s): 4 failed, 16 success.")
    expect(page.locator("#calendar rect[data-date='2024-03-01']")).to_have_attribute("data-state", "failed")
    expect(page.locator("#calendar rect[data-date='2024-03-02']")).to_have_attribute("data-state", "success")
    expect(page.locator("#calendar rect[data-date='2024-03-02'] title")).to_have_text("2024-03-02: 1 success")
    expect(page.locator("#calendar rect[data-date='2024-02-29']")).to_have_attribute("data-state", "none")
    expect(page.locator("#calendar rect[data-state=failed]")).to_have_count(4)
    page.screenshot(path=str(artifacts() / "dag-calendar.png"), full_page=True)
    page.goto(views_site.url + "/dags/views_history")
    page.click("nav[aria-label^='Views of'] a:text-is('Calendar')")
    expect(page.locator("h1")).to_contain_text("Calendar")


def test_the_graph_shows_labels_on_edges_and_mapped_tasks_with_their_count(page: Page, views_site: Site) -> None:
    run = Service(views_site.settings, views_site.store).trigger("views_graph", {})
    assert wait_for_run(views_site, "views_graph", run.run_id) == "success"
    page.goto(views_site.url + f"/dags/views_graph?run_id={quote(run.run_id, safe='')}")
    label = page.locator("#graph g.edge-label[data-from=check][data-to=load]")
    expect(label).to_have_text("rows found")
    expect(page.locator("#graph g.edge-label")).to_have_count(1)  # only the labelled edge
    fan = page.locator("#graph g.node[data-task=fan]")
    expect(fan.locator("text.mapped-count")).to_have_text("[3 instances]")
    expect(fan.locator("rect.stack")).to_have_count(1)
    expect(fan).to_have_attribute("data-state", "success")
    page.locator("#graph").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts() / "graph-labels-mapped.png"), full_page=True)


def _waiting_run(site: Site) -> str:
    """A new run of views_waiting whose ``held`` waits for the empty pool ``tiny``."""
    site.store.set_pool("tiny", 0)
    run = Service(site.settings, site.store).trigger("views_waiting", {})
    wait_for(
        lambda: (
            site.store.get_run("views_waiting", run.run_id).state == RunState.RUNNING.value
            and site.store.list_task_instances("views_waiting", run.run_id)
        ),
        what="the run to start",
    )
    return run.run_id


def test_a_waiting_task_instance_says_why_it_is_not_running(page: Page, views_site: Site) -> None:
    run_id = _waiting_run(views_site)
    base = f"/dags/views_waiting/runs/{quote(run_id, safe='')}/tasks/"
    page.goto(views_site.url + base + "held")
    why = page.locator("#ti-why")
    expect(why.locator(".why-reasons")).to_contain_text("Pool tiny is full: 0 of 0 slot(s) taken, the task needs 1.")
    expect(why.locator(".why-pool")).to_have_text("Pool tiny: 0 of 0 slot(s) taken, 0 free; this task needs 1.")
    expect(why).to_contain_text("trigger rule all_success, met")
    page.screenshot(path=str(artifacts() / "task-waiting-pool.png"), full_page=True)
    page.goto(views_site.url + base + "after")
    expect(page.locator("#ti-why .why-reasons")).to_contain_text(
        "Trigger rule all_success is not met yet: waiting for held"
    )
    expect(page.locator("#ti-why .why-upstream[data-task=held]")).to_contain_text("held")
    # the panel beside the grid says the same
    page.goto(views_site.url + f"/dags/views_waiting?run_id={quote(run_id, safe='')}")
    page.locator("#grid a[href*='/tasks/held']").first.click()
    expect(page.locator("#panel-why")).to_contain_text("Pool tiny is full")
    views_site.store.set_pool("tiny", 1)  # room now: it runs, and the box goes
    wait_for_run(views_site, "views_waiting", run_id)
    page.goto(views_site.url + base + "held")
    expect(page.locator("#ti-state")).to_have_text("success")
    expect(page.locator("#ti-why")).to_have_count(0)
    expect(page.locator("#ti-image")).not_to_be_empty()
    expect(page.locator("#ti-exit-code")).to_have_text("0")
    expect(page.locator("#ti-container")).not_to_be_empty()


def test_a_docker_connection_is_added_edited_checked_and_deleted(page: Page, views_site: Site) -> None:
    page.goto(views_site.url + "/connections")
    expect(page.locator("[data-field=schema]")).to_be_hidden()  # a docker connection has no schema
    expect(page.locator("label[for=host]")).to_have_text("Registry host (e.g. registry.example.com)")
    page.fill("#conn_id", "ui_registry")
    page.fill("#host", "registry.example.com")
    page.fill("#port", "5000")
    page.fill("#login", "robot")
    page.fill("#password", "canary-registry-pass")
    page.fill("#x_docker_email", "ci@example.com")
    page.fill("#extra", '{"api_token": "canary-extra-token", "note": 1')
    expect(page.locator("#extra-status")).to_contain_text("Not valid JSON")
    page.click("#conn-check")
    expect(page.locator("#check-result")).to_have_attribute("data-ok", "false")
    expect(page.locator("#check-result")).to_contain_text("extra is not valid JSON")
    page.fill("#extra", '{"api_token": "canary-extra-token", "note": 1}')
    expect(page.locator("#extra-status")).to_have_text("Valid JSON object.")
    page.click("#conn-check")
    expect(page.locator("#check-result")).to_contain_text("is well-formed")
    # the site's scheduler tries the login: registry.example.com is not reachable from here
    expect(page.locator("#login-result")).to_have_attribute("data-ok", "false", timeout=30_000)
    expect(page.locator("#login-result")).to_contain_text("could not reach registry registry.example.com:5000")
    assert "canary-registry-pass" not in page.content()
    page.click("#conn-save")
    expect(page.locator("tr[data-conn=ui_registry]")).to_be_visible()
    stored = Connections(views_site.settings, views_site.store).get("ui_registry")
    assert (stored.host, stored.port, stored.login, stored.password) == (
        "registry.example.com",
        5000,
        "robot",
        "canary-registry-pass",
    )
    assert stored.extra_dejson == {
        "api_token": "canary-extra-token",
        "note": 1,
        "email": "ci@example.com",
        "reauth": True,
    }
    # edit: no secret comes back to the browser; empty password and *** keep the stored ones
    page.click("a[aria-label='Edit ui_registry']")
    html = page.content()
    assert "canary-registry-pass" not in html and "canary-extra-token" not in html
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator("#conn_id")).to_have_attribute("readonly", "")
    expect(page.locator("#x_docker_email")).to_have_value("ci@example.com")
    assert json.loads(page.input_value("#extra")) == {"api_token": "***", "note": 1}
    page.fill("#login", "robot2")
    page.uncheck("#x_docker_reauth")
    page.screenshot(path=str(artifacts() / "connection-edit.png"), full_page=True)
    page.click("#conn-save")
    expect(page.locator("tr[data-conn=ui_registry] td[data-label=login]")).to_have_text("robot2")
    changed = Connections(views_site.settings, views_site.store).get("ui_registry")
    assert changed.password == "canary-registry-pass"
    assert changed.extra_dejson == {
        "api_token": "canary-extra-token",
        "note": 1,
        "email": "ci@example.com",
        "reauth": False,
    }
    # adding under an id that exists is refused, with the values kept
    page.fill("#conn_id", "ui_registry")
    page.select_option("#conn_type", "postgres")
    expect(page.locator("label[for=schema]")).to_have_text("Database")
    page.fill("#schema", "warehouse")
    page.click("#conn-save")
    expect(page.locator("#conn-error")).to_contain_text("ui_registry")
    expect(page.locator("#schema")).to_have_value("warehouse")
    # delete asks first
    page.goto(views_site.url + "/connections")
    page.click("button[aria-label='Delete ui_registry']")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-button")
    expect(page.locator("tr[data-conn=ui_registry]")).to_have_count(0)


def test_variables_are_edited_imported_and_exported(page: Page, views_site: Site, tmp_path: Path) -> None:
    variables = Variables(views_site.settings, views_site.store)
    variables.set("ui_plain", "one", "a plain one")
    variables.set("ui_password", "canary-var-secret")
    page.goto(views_site.url + "/variables")
    page.click("a[aria-label='Edit ui_plain']")
    expect(page.locator("#value")).to_have_value("one")
    page.fill("#value", "two")
    page.click("#variable-save")
    expect(page.locator("tr[data-key=ui_plain] td[data-label=value]")).to_have_text("two")
    page.click("a[aria-label='Edit ui_password']")
    expect(page.locator("#value")).to_have_value("")
    assert "canary-var-secret" not in page.content()
    page.fill("#vdesc", "the API password")
    page.click("#variable-save")
    assert variables.get("ui_password") == "canary-var-secret"
    expect(page.locator("tr[data-key=ui_password] td[data-label=value]")).to_have_text("***")
    # export: Airflow's format, the secret masked
    with page.expect_download() as download:
        page.click("#variables-export")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["ui_plain"] == "two" and exported["ui_password"] == "***"
    # import it back, with a new key and a changed one: *** keeps the stored secret
    exported.update({"ui_new": "fresh", "ui_plain": "three", "ui_json": {"a": [1, 2]}})
    upload = tmp_path / "variables.json"
    upload.write_text(json.dumps(exported))
    page.set_input_files("#import-file", str(upload))
    page.click("#import-button")
    expect(page.locator("#confirm-button")).to_have_text("Import")
    page.click("#confirm-button")
    expect(page.locator(".flash")).to_contain_text("variable(s) imported")
    assert variables.get("ui_password") == "canary-var-secret"
    assert variables.get("ui_plain") == "three" and variables.get("ui_new") == "fresh"
    assert json.loads(variables.get("ui_json")) == {"a": [1, 2]}
    # a file that is not a JSON object is refused, and nothing changes
    upload.write_text('["not", "an", "object"]')
    page.set_input_files("#import-file", str(upload))
    page.click("#import-button")
    page.click("#confirm-button")
    expect(page.locator(".flash")).to_contain_text(
        'Import failed: the file holds a JSON list; import a JSON object such as {"key": "value"}'
    )
    page.screenshot(path=str(artifacts() / "variables-import.png"), full_page=True)
    # a key already stored: kept with "skip", the whole file refused with "fail"
    upload.write_text(json.dumps({"ui_plain": "four", "ui_other": "x"}))
    for choice, words in (
        ("fail", "nothing was imported: these keys are already stored: ui_plain"),
        ("skip", "1 variable(s) imported, 1 kept as stored."),
    ):
        page.set_input_files("#import-file", str(upload))
        page.select_option("#if-exists", choice)
        page.click("#import-button")
        page.click("#confirm-button")
        expect(page.locator(".flash")).to_contain_text(words)
        assert variables.get("ui_plain") == "three"
    assert variables.get("ui_other") == "x"
    page.click("button[aria-label='Delete ui_new']")
    page.click("#confirm-button")
    expect(page.locator("tr[data-key=ui_new]")).to_have_count(0)


def _pages(site: Site) -> dict[str, str]:
    variables = Variables(site.settings, site.store)
    variables.set("ui_axe", "value")
    conn = Connection("ui_axe_conn", conn_type="smtp", host="mail.example.com", password="canary-smtp")
    Connections(site.settings, site.store).add(conn, replace=True)
    waiting = _waiting_run(site)
    pages = {
        "duration": "/dags/views_history/duration",
        "calendar": "/dags/views_history/calendar?year=2024",
        "calendar-past-year": "/dags/views_history/calendar",
        "graph-labels": "/dags/views_graph",
        "connections": "/connections",
        "connection-edit": "/connections/ui_axe_conn/edit",
        "variables": "/variables",
        "variable-edit": "/variables/ui_axe/edit",
    }
    for task_id in ("held", "after"):
        pages[f"task-waiting-{task_id}"] = f"/dags/views_waiting/runs/{quote(waiting, safe='')}/tasks/{task_id}"
    pages["grid-waiting"] = f"/dags/views_waiting?run_id={quote(waiting, safe='')}"
    return pages


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_on_the_new_pages(browser: Browser, views_site: Site, scheme: str) -> None:
    with signed_in_page(browser, views_site, color_scheme=scheme) as page:
        problems = {}
        for name, path in _pages(views_site).items():
            page.goto(views_site.url + path)
            page.wait_for_load_state("networkidle")
            problems[name] = axe_violations(page)
            page.screenshot(path=str(artifacts() / f"page-{name}-{scheme}.png"), full_page=True)
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_new_pages_fit_a_phone(browser: Browser, views_site: Site) -> None:
    wide = {}
    with signed_in_page(
        browser, views_site, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ) as page:
        for name, path in _pages(views_site).items():
            page.goto(views_site.url + path)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide[name] = width
            page.screenshot(path=str(artifacts() / f"phone-{name}.png"), full_page=True)
    assert wide == {}, f"pages wider than a 390px phone: {wide}"

"""The container a try ran in (image digest, peak memory, CPU time) on the task page and in the API, and mapped
tasks counted by state in the grid: in a real browser (Debian's Chromium via Playwright) over a real scheduler,
engine and store, with axe-core on the pages. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import docker
import pytest
from playwright.sync_api import Browser, Page, expect

from dockyard.web.service import Service
from tests.helpers import wait_for
from tests.web.conftest import Site, artifacts, signed_in_page, site_with_dags, wait_for_run
from tests.web.test_browser_ui import axe_violations

pytestmark = pytest.mark.engine

PYTHON_IMAGE = "dockyard/python:latest"
MIB = 1024 * 1024

SPIN = f'''
PROGRAM = """
import time
block = bytearray(64 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
until = time.time() + 3
while time.time() < until:
    pass
print("spun")
"""

with DAG("usage_spin", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="spin", image="{PYTHON_IMAGE}", command=["python3", "-c", PROGRAM])
'''

MAPPED = """
with DAG("usage_mapped", start_date=START, schedule=None, default_args=ARGS) as dag:
    first = DockerOperator(task_id="first", command="echo go")
    fan = DockerOperator.partial(task_id="fan", retries=0).expand(command=["true", "true", "true", "false", "false"])
    first >> fan
"""


@pytest.fixture(scope="module")
def usage_site(tmp_path_factory: pytest.TempPathFactory, engine: object) -> Iterator[Site]:
    with site_with_dags(tmp_path_factory.mktemp("usage"), {"usage_spin": SPIN, "usage_mapped": MAPPED}) as site:
        wait_for(lambda: len(site.store.list_dags()) == 2, timeout=120, what="every DAG parsed")
        yield site


@pytest.fixture(scope="module")
def spun(usage_site: Site) -> str:
    """The run of usage_spin, finished."""
    run = Service(usage_site.settings, usage_site.store).trigger("usage_spin", {})
    assert wait_for_run(usage_site, "usage_spin", run.run_id, timeout=120) == "success"
    return run.run_id


@pytest.fixture(scope="module")
def fanned(usage_site: Site) -> str:
    """The run of usage_mapped, finished (three instances succeeded, two failed)."""
    run = Service(usage_site.settings, usage_site.store).trigger("usage_mapped", {})
    assert wait_for_run(usage_site, "usage_mapped", run.run_id, timeout=120) == "failed"
    return run.run_id


@pytest.fixture
def page(browser: Browser, usage_site: Site) -> Iterator[Page]:
    with signed_in_page(browser, usage_site) as opened:
        yield opened


def _megabytes(text: str) -> float:
    found = re.fullmatch(r"([\d.]+) (MB|GB)", text.strip())
    assert found, f"not a size with its unit: {text!r}"
    return float(found[1]) * (1000 if found[2] == "GB" else 1)


def _seconds(text: str) -> float:
    found = re.fullmatch(r"([\d.]+) s", text.strip())
    assert found, f"not seconds with their unit: {text!r}"
    return float(found[1])


def test_the_task_page_shows_the_containers_image_digest_peak_memory_and_cpu_time(
    page: Page, usage_site: Site, spun: str, engine: docker.APIClient
) -> None:
    image_id = str(engine.inspect_image(PYTHON_IMAGE)["Id"])  # built locally: no RepoDigests, so its ID
    page.goto(usage_site.url + f"/dags/usage_spin/runs/{quote(spun, safe='')}/tasks/spin")
    expect(page.locator("#ti-image-digest")).to_have_text(image_id)
    assert _megabytes(page.locator("#ti-peak-memory").inner_text()) >= 64 * MIB / 1e6
    assert _seconds(page.locator("#ti-cpu-time").inner_text()) > 0
    row = page.locator("#tries-usage tbody tr[data-try='1']")
    expect(row.locator(".image-digest")).to_have_text(image_id)
    assert _megabytes(row.locator(".peak-memory").inner_text()) >= 64 * MIB / 1e6
    page.screenshot(path=str(artifacts() / "task-usage.png"), full_page=True)

    # the API's try payload carries the same figures as dockyard's extras, in bytes and seconds
    tries = usage_site.api("GET", f"/dags/usage_spin/dagRuns/{quote(spun, safe='')}/taskInstances/spin/tries")
    assert tries.status_code == 200, tries.text
    (first,) = tries.json()["task_instances"]
    assert first["image_digest"] == image_id
    assert first["peak_memory_bytes"] >= 64 * MIB
    assert first["cpu_time_seconds"] > 0


def test_the_grid_shows_a_mapped_task_as_one_row_counting_its_instances(
    page: Page, usage_site: Site, fanned: str
) -> None:
    page.goto(usage_site.url + f"/dags/usage_mapped?run_id={quote(fanned, safe='')}")
    fan_row = page.locator("#grid tbody th.task-col", has_text="fan")
    expect(fan_row).to_have_count(1)
    expect(fan_row.locator(".mapped-mark")).to_have_text("[ ]")
    cell = page.locator("#grid a.mapped-cell")
    expect(cell).to_have_count(1)
    expect(cell.locator(".mapped-count")).to_have_text("3/5")
    expect(cell).to_have_attribute("data-total", "5")
    expect(cell).to_have_attribute("title", "fan: 5 mapped instances: 2 failed, 3 success")
    expect(cell.locator(".stack > span.state-failed")).to_have_attribute("style", "width: 40.0%")
    expect(cell.locator(".stack > span.state-success")).to_have_attribute("style", "width: 60.0%")
    expect(page.locator("#grid a.mapped-cell .stack > span")).to_have_count(2)
    page.screenshot(path=str(artifacts() / "grid-mapped-counts.png"), full_page=True)
    cell.click()  # the mapped instances
    expect(page.locator("#mapped-count")).to_have_text("5")
    expect(page.locator("#mapped tbody tr")).to_have_count(5)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_on_the_usage_and_mapped_pages(
    browser: Browser, usage_site: Site, spun: str, fanned: str, scheme: str
) -> None:
    pages = {
        "task-usage": f"/dags/usage_spin/runs/{quote(spun, safe='')}/tasks/spin",
        "grid-mapped": f"/dags/usage_mapped?run_id={quote(fanned, safe='')}",
    }
    with signed_in_page(browser, usage_site, color_scheme=scheme) as page:
        problems = {}
        for name, path in pages.items():
            page.goto(usage_site.url + path)
            page.wait_for_load_state("networkidle")
            problems[name] = axe_violations(page)
    assert {name: found for name, found in problems.items() if found} == {}

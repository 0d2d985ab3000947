"""A real web server (uvicorn on a free loopback port) over a real store, with a scheduler running the
DAGs of a test folder on the real engine, and two users: an admin and a viewer."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from dockyard.processor import DagProcessor
from dockyard.scheduler import Scheduler
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.users import create_user
from dockyard.web import create_app
from tests.helpers import write_dag

ADMIN = ("ada", "admin-pass-1234")
VIEWER = ("vic", "viewer-pass-1234")
OP = ("otto", "op-pass-12345")
USER = ("ulla", "user-pass-12345")


@dataclass
class Site:
    url: str
    settings: Settings
    store: Store
    scheduler: Scheduler

    def api(
        self, method: str, path: str, *, auth: tuple[str, str] | None = ADMIN, **kwargs: object
    ) -> requests.Response:
        return requests.request(method, self.url + "/api/v1" + path, auth=auth, timeout=30, **kwargs)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(settings: Settings, store: Store) -> tuple[uvicorn.Server, str]:
    """The web app on a free loopback port in a thread; returns the server (for :func:`stop_server`) and its URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    server.thread = thread  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the web server did not start"
        assert thread.is_alive(), "the web server stopped at start"
        time.sleep(0.05)
    return server, url


def stop_server(server: uvicorn.Server) -> None:
    server.should_exit = True
    server.thread.join(timeout=30)  # type: ignore[attr-defined]


@contextmanager
def site_with_dags(root: Path, dags: dict[str, str]) -> Iterator[Site]:
    """A scheduler and a web server over a new store, for the DAG files ``dags`` (name -> body)."""
    folder = root / "dags"
    for name, body in dags.items():
        write_dag(folder, name, body)
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(root / "home"),
            "DOCKYARD_DAGS_FOLDER": str(folder),
            "DOCKYARD_STOP_GRACE_SECONDS": "1",
            "DOCKYARD_PARALLELISM": "4",
            # the tests here send many wrong passwords on purpose; test_security.py tests the throttle
            "DOCKYARD_LOGIN_MAX_FAILURES": "0",
            "DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS": "0",
        }
    )
    with running_site(settings) as started:
        yield started


@contextlib.contextmanager
def running_site(settings: Settings) -> Iterator[Site]:
    """A store with the two users, a scheduler on the real engine and the web server, all stopped at the end."""
    store = Store.open(settings)
    create_user(store, *ADMIN, "admin")
    create_user(store, *VIEWER, "viewer")
    scheduler = Scheduler(settings, store)
    scheduler.start()
    scheduler_thread = threading.Thread(target=scheduler.serve_forever, daemon=True)
    scheduler_thread.start()
    server, url = start_server(settings, store)
    try:
        yield Site(url=url, settings=settings, store=store, scheduler=scheduler)
    finally:
        stop_server(server)
        scheduler.stop()
        scheduler_thread.join(timeout=30)
        scheduler.shutdown(stop_running=True)
        store.close()


WEB_DEMO = """
with DAG("web_demo", start_date=START, schedule=None, default_args=ARGS,
         params={"greeting": Param("hello", type="string", enum=["hello", "hi"]),
                 "count": Param(3, type="integer", minimum=1)}) as dag:
    first = DockerOperator(task_id="first", command="sh -c 'echo {{ params.greeting }} x{{ params.count }}'")
    second = DockerOperator(task_id="second", command="echo got {{ ti.xcom_pull(task_ids='first') }}")
    first >> second
"""

WEB_SLOW = """
with DAG("web_slow", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="ticker", command=["sh", "-c", "for i in $(seq 1 60); do echo tick $i; sleep 1; done"])
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, engine: docker.APIClient) -> Iterator[Site]:
    with site_with_dags(tmp_path_factory.mktemp("web"), {"web_demo": WEB_DEMO, "web_slow": WEB_SLOW}) as running:
        yield running


def wait_for_run(site: Site, dag_id: str, run_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = site.store.get_run(dag_id, run_id).state
        if state in ("success", "failed"):
            return state
        assert time.monotonic() < deadline, f"run {run_id} did not finish"
        time.sleep(0.2)


def artifacts() -> Path:
    folder = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class SecureSite:
    """A web server over a real store (SQLite or PostgreSQL) without a scheduler, for the security tests."""

    url: str
    settings: Settings
    store: Store
    env: dict[str, str]
    """The environment the settings came from (for CLI subprocesses on the same installation)."""

    def api(
        self, method: str, path: str, *, auth: tuple[str, str] | None = ADMIN, **kwargs: object
    ) -> requests.Response:
        return requests.request(method, self.url + "/api/v1" + path, auth=auth, timeout=60, **kwargs)  # type: ignore[arg-type]

    def login(self, who: tuple[str, str] = ADMIN) -> requests.Session:
        """A browser-like session logged in through the login form (CSRF token and all)."""
        session = requests.Session()
        session.get(self.url + "/login", timeout=30)
        response = session.post(
            self.url + "/login",
            data={"username": who[0], "password": who[1], "csrf": csrf_of(session, self.url), "next": "/"},
            timeout=60,
            allow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return session


def csrf_of(session: requests.Session, url: str) -> str:
    """The CSRF token a page of ``url`` carries for this session."""
    import re

    page = session.get(url + "/login", timeout=30).text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


SECURE_DAG = """
with DAG("secure_demo", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="t", command="echo hi", private_environment={"MY_TOKEN": "canary-7f3a9"},
                   environment={"PLAIN": "visible-value", "API_KEY": "canary-key-1"})
"""


def with_roles(site: SecureSite) -> SecureSite:
    """``site`` with ``secure_demo`` parsed once and an Op and a User beside its Admin and Viewer."""
    DagProcessor(site.settings, site.store).refresh()
    create_user(site.store, *OP, "op")
    create_user(site.store, *USER, "user")
    return site


@pytest.fixture
def make_site(tmp_path: Path, database_url: str) -> Iterator[Callable[..., SecureSite]]:
    """Start a server with extra settings (``make_site(DOCKYARD_X="1")``) on a new database of each kind."""
    started: list[tuple[uvicorn.Server, Store]] = []

    def make(**env: str) -> SecureSite:
        home = tmp_path / f"home{len(started)}"
        write_dag(tmp_path / "dags", "secure_demo", SECURE_DAG)
        environment = {
            "DOCKYARD_HOME": str(home),
            "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags"),
            "DOCKYARD_DATABASE_URL": database_url,
            **env,
        }
        settings = Settings.from_env(environment)
        store = Store.open(settings)
        if store.get_user(ADMIN[0]) is None:
            create_user(store, *ADMIN, "admin")
            create_user(store, *VIEWER, "viewer")
        server, url = start_server(settings, store)
        started.append((server, store))
        return SecureSite(url=url, settings=settings, store=store, env=environment)

    yield make
    for server, store in started:
        stop_server(server)
        store.close()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (never a browser that Playwright downloads)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def log_in(page: Page, site: Site, who: tuple[str, str] = ADMIN) -> None:
    page.goto(site.url + "/")
    expect(page).to_have_url(f"{site.url}/login?next=/")
    page.fill("#username", who[0])
    page.fill("#password", who[1])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("DAGs")


@contextmanager
def signed_in_page(browser: Browser, site: Site, who: tuple[str, str] = ADMIN, **options: Any) -> Iterator[Page]:
    """A new browser context (1280x900 unless ``options`` say otherwise) with a page signed in as ``who``."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
    page = context.new_page()
    page.set_default_timeout(30_000)
    log_in(page, site, who)
    try:
        yield page
    finally:
        context.close()

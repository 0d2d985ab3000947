"""A real web server (uvicorn on a free loopback port) over a real store, with a scheduler running the
DAGs of a test folder on the real engine, and two users: an admin and a viewer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests
import uvicorn

from dockyard.scheduler import Scheduler
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.users import create_user
from dockyard.web import create_app
from tests.helpers import write_dag

ADMIN = ("ada", "admin-pass-1234")
VIEWER = ("vic", "viewer-pass-1234")


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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, engine: docker.APIClient) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    dags = root / "dags"
    write_dag(
        dags,
        "web_demo",
        """
with DAG("web_demo", start_date=START, schedule=None, default_args=ARGS,
         params={"greeting": Param("hello", type="string", enum=["hello", "hi"]),
                 "count": Param(3, type="integer", minimum=1)}) as dag:
    first = DockerOperator(task_id="first", command="sh -c 'echo {{ params.greeting }} x{{ params.count }}'")
    second = DockerOperator(task_id="second", command="echo got {{ ti.xcom_pull(task_ids='first') }}")
    first >> second
""",
    )
    write_dag(
        dags,
        "web_slow",
        """
with DAG("web_slow", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="ticker", command=["sh", "-c", "for i in $(seq 1 60); do echo tick $i; sleep 1; done"])
""",
    )
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(root / "home"),
            "DOCKYARD_DAGS_FOLDER": str(dags),
            "DOCKYARD_STOP_GRACE_SECONDS": "1",
            "DOCKYARD_PARALLELISM": "4",
        }
    )
    store = Store.open(settings)
    create_user(store, *ADMIN, "admin")
    create_user(store, *VIEWER, "viewer")
    scheduler = Scheduler(settings, store)
    scheduler.start()
    scheduler_thread = threading.Thread(target=scheduler.serve_forever, daemon=True)
    scheduler_thread.start()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=port, log_level="warning")
    )
    web_thread = threading.Thread(target=server.run, daemon=True)
    web_thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/api/v1/health", timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.1)
    yield Site(url=url, settings=settings, store=store, scheduler=scheduler)
    server.should_exit = True
    web_thread.join(timeout=30)
    scheduler.stop()
    scheduler_thread.join(timeout=30)
    scheduler.shutdown(stop_running=True)
    store.close()


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

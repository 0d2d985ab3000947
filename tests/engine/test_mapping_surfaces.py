"""A mapped task's instances where people look: the CLI (``tasks test/state/clear/logs --map-index``), the
REST API (``map_index`` on task instances, Airflow's ``listMapped`` and ``/taskInstances/{task_id}/{map_index}``)
and the task page of the UI (how many instances, and each one)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.users import create_user
from tests.engine.test_scheduler import env, run_once  # noqa: F401 - env is a fixture
from tests.helpers import write_dag
from tests.web.conftest import ADMIN, csrf_of, start_server, stop_server

pytestmark = pytest.mark.engine

DAG_BODY = """
with DAG("mapped_ui", start_date=START, schedule=None, default_args=ARGS) as dag:
    plain = DockerOperator(task_id="plain", command="echo plain")
    each = DockerOperator.partial(task_id="each", map_index_template="{{ task.command }}").expand(
        command=["echo a", "echo b", "echo c"]
    )
    plain >> each
"""


def dockyard(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DOCKYARD_HOME": str(settings.home),
        "DOCKYARD_DAGS_FOLDER": str(settings.dags_folder),
        "DOCKYARD_DATABASE_URL": settings.database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, timeout=120, env=environment
    )


def test_mapped_instances_in_the_api_the_ui_and_the_cli(env: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, store = env
    write_dag(settings.dags_folder, "mapped_ui", DAG_BODY)
    run_id = run_once(settings, store, "mapped_ui", timeout=120)
    create_user(store, *ADMIN, "admin")
    server, url = start_server(settings, store)
    base = f"{url}/api/v1/dags/mapped_ui/dagRuns/{run_id}/taskInstances"
    try:
        listed = requests.get(f"{base}/each/listMapped", auth=ADMIN, timeout=30).json()
        assert listed["total_entries"] == 3
        assert [(t["map_index"], t["rendered_map_index"], t["state"]) for t in listed["task_instances"]] == [
            (0, "echo a", "success"),
            (1, "echo b", "success"),
            (2, "echo c", "success"),
        ]
        page = requests.get(f"{base}/each/listMapped?limit=1&offset=2", auth=ADMIN, timeout=30).json()
        assert [t["map_index"] for t in page["task_instances"]] == [2] and page["total_entries"] == 3
        one = requests.get(f"{base}/each/1", auth=ADMIN, timeout=30).json()
        assert (one["task_id"], one["map_index"], one["state"]) == ("each", 1, "success")
        assert requests.get(f"{base}/plain", auth=ADMIN, timeout=30).json()["map_index"] == -1
        missing = requests.get(f"{base}/each/7", auth=ADMIN, timeout=30)
        assert missing.status_code == 404 and "its instances are 0..2" in missing.text
        not_mapped = requests.get(f"{base}/plain/listMapped", auth=ADMIN, timeout=30)
        assert not_mapped.status_code == 404 and "is not mapped" in not_mapped.text
        log = requests.get(f"{base}/each/logs/1?map_index=2", auth=ADMIN, timeout=30).json()
        assert "map_index 2" in log["content"] and 'XCom: "c"' in log["content"]
        entry = requests.get(f"{base}/each/xcomEntries/return_value?map_index=1", auth=ADMIN, timeout=30).json()
        assert entry["value"] == '"b"'
        browser = requests.Session()
        browser.get(url + "/login", timeout=30)
        form = {"username": ADMIN[0], "password": ADMIN[1], "csrf": csrf_of(browser, url), "next": "/"}
        assert browser.post(url + "/login", data=form, timeout=60, allow_redirects=False).status_code == 303
        summary = browser.get(f"{url}/dags/mapped_ui/runs/{run_id}/tasks/each", timeout=30).text
        assert '<strong id="mapped-count">3</strong> instances' in summary and "?map_index=2" in summary
        instance = browser.get(f"{url}/dags/mapped_ui/runs/{run_id}/tasks/each?map_index=2", timeout=30).text
        assert '<strong id="map-index">2</strong> of 3' in instance and "logs/1?map_index=2" in instance
        assert 'id="action-success"' not in instance and 'name="map_index" value="2"' in instance
        action = f"{url}/dags/mapped_ui/runs/{run_id}/tasks/each/action"
        form = {"csrf": csrf_of(browser, url), "action": "clear", "map_index": "0"}
        assert browser.post(action, data=form, timeout=30, allow_redirects=False).status_code == 303
        assert [ti.state for ti in store.list_mapped("mapped_ui", run_id, "each")[0]] == [None, "success", "success"]
    finally:
        stop_server(server)

    state = dockyard(settings, "tasks", "state", "mapped_ui", "each", run_id, "--map-index", "1")
    assert state.stdout.strip() == "success", state.stderr
    summed = dockyard(settings, "tasks", "state", "mapped_ui", "each", run_id)
    assert "mapped into 3 instances (None: 1, success: 2)" in summed.stdout, summed.stderr
    cleared = dockyard(
        settings, "tasks", "clear", "mapped_ui", "-t", "^each$", "--run-id", run_id, "--map-index", "1", "-y"
    )
    assert "Cleared 1 task instance(s)" in cleared.stdout, cleared.stderr
    assert [ti.state for ti in store.list_mapped("mapped_ui", run_id, "each")[0]] == [None, None, "success"]
    logs = dockyard(settings, "tasks", "logs", "mapped_ui", run_id, "each", "--map-index", "0")
    assert "echo a" in logs.stdout, logs.stderr
    tested = dockyard(settings, "tasks", "test", "mapped_ui", "each", "--map-index", "2", "-q")
    assert tested.returncode == 0 and 'XCom: "c"' in tested.stdout, tested.stderr
    unnamed = dockyard(settings, "tasks", "test", "mapped_ui", "each", "-q")
    assert unnamed.returncode == 1 and "is mapped: name one of its instances with a map_index" in unnamed.stderr

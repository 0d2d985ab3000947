"""``ti.xcom_push`` inside Python tasks, ``BaseBranchOperator`` subclasses, ``@task.override`` and mapped sensors,
run from the corpus's DAG files under a real scheduler against the real engine."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from dockyard.cli.main import cli
from dockyard.scheduler import scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import wait_for

pytestmark = pytest.mark.engine

CORPUS = Path(__file__).parent.parent / "compat" / "dags"
FILES = ("af2_xcom_push_branch.py", "af2_mapped_sensors.py")
WHEN = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def runs(tmp_path: Path, engine: docker.APIClient, database_url: str) -> Iterator[tuple[Store, dict[str, str]]]:
    """Both DAG files run once, to the end; the store and each DAG's run id."""
    dags = tmp_path / "dags"
    dags.mkdir()
    for name in FILES:
        shutil.copy(CORPUS / name, dags / name)
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path / "home"),
            "DOCKYARD_DAGS_FOLDER": str(dags),
            "DOCKYARD_DATABASE_URL": database_url,
            "DOCKYARD_PARALLELISM": "4",
            "DOCKYARD_TASK_IMAGE": "dockyard/python:latest",
        }
    )
    store = Store.open(settings)
    try:
        with scheduler_running(settings, store, create_scheduled_runs=False) as scheduler:
            assert store.list_import_errors() == []
            found = {
                d: trigger_run(settings, store, scheduler.dags[d], logical_date=WHEN).run_id for d in scheduler.dags
            }
            for dag_id, run_id in found.items():
                wait_for(lambda d=dag_id, r=run_id: store.get_run(d, r).state in ("success", "failed"), 180, dag_id)  # type: ignore[misc]
        yield store, found
    finally:
        instance = store.instance_id()
        for container in engine.containers(all=True, filters={"label": f"dockyard.instance={instance}"}):
            engine.remove_container(container["Id"], force=True, v=True)
        store.close()


def _states(store: Store, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
    return {(ti.task_id, ti.map_index): ti.state for ti in store.list_task_instances(dag_id, run_id)}


def test_pushes_branch_classes_overrides_and_mapped_sensors(runs: tuple[Store, dict[str, str]]) -> None:
    """One run of each file (on SQLite and on PostgreSQL), checked part by part."""
    store, found = runs
    _check_pushes(store, found)
    _check_branch_and_overrides(store, found)
    _check_mapped_sensors(store, found)


def _check_pushes(store: Store, found: dict[str, str]) -> None:
    dag_id, run_id = "af2_xcom_push_branch", found["af2_xcom_push_branch"]
    assert store.get_run(dag_id, run_id).state == "success"
    assert store.get_xcom(dag_id, run_id, "extract") == [3, 1, 2]
    assert store.get_xcom(dag_id, run_id, "extract", key="row_count") == 3
    assert store.get_xcom(dag_id, run_id, "extract", key="partition") == "dt=2024-03-01"
    # do_xcom_push=False keeps the return value out, not what the callable pushed (as in Airflow)
    assert store.get_xcom(dag_id, run_id, "audit") is None
    assert store.get_xcom(dag_id, run_id, "audit", key="audited") == {"ok": True, "day": "2024-03-01"}
    assert store.get_xcom(dag_id, run_id, "show_count") == "rows=3"  # a template pulls a pushed key
    assert store.get_xcom(dag_id, run_id, "full_load") == "full dt=2024-03-01"
    assert store.get_xcom(dag_id, run_id, "double", key="factor") == 2
    assert store.get_xcom(dag_id, run_id, "summary") == "42 [3, 6] factor=2 ok=True"


def _check_branch_and_overrides(store: Store, found: dict[str, str]) -> None:
    dag_id, run_id = "af2_xcom_push_branch", found["af2_xcom_push_branch"]
    states = _states(store, dag_id, run_id)
    assert states[("choose_load", -1)] == "success" and store.get_xcom(dag_id, run_id, "choose_load") == "full_load"
    assert states[("full_load", -1)] == "success" and states[("incremental", -1)] == "skipped"
    assert states[("done", -1)] == "success"
    # .override(task_id=..., retries=...) renames the task and changes its retries; mapped ones too
    tis = {(ti.task_id, ti.map_index): ti for ti in store.list_task_instances(dag_id, run_id)}
    assert tis[("double", -1)].max_tries == 1 and tis[("double", -1)].state == "success"
    assert [tis[("triple", i)].max_tries for i in (0, 1)] == [2, 2]
    assert store.mapped_xcoms(dag_id, run_id, "triple") == [3, 6]
    assert not any(task_id == "scale" for task_id, _ in tis)


def _check_mapped_sensors(store: Store, found: dict[str, str]) -> None:
    """Each instance pokes and finishes on its own."""
    dag_id, run_id = "af2_mapped_sensors", found["af2_mapped_sensors"]
    assert store.get_run(dag_id, run_id).state == "success"
    assert _states(store, dag_id, run_id) == {
        ("wait_partition", 0): "success",
        ("wait_partition", 1): "success",
        ("wait_late", 0): "skipped",  # its own timeout with soft_fail
        ("wait_for_file", 0): "success",
        ("wait_for_file", 1): "success",
        ("load", -1): "success",
    }
    assert store.get_xcom(dag_id, run_id, "load") == ["customers.csv", "orders.csv"]
    assert store.mapped_xcoms(dag_id, run_id, "wait_for_file") == ["orders.csv", "customers.csv"]
    assert store.get_xcom(dag_id, run_id, "wait_partition", map_index=0) is None  # a plain True pushes nothing
    checked = [store.get_xcom(dag_id, run_id, "wait_for_file", key="checked", map_index=i) for i in (0, 1)]
    assert checked == ["orders", "customers"]  # ti.xcom_push inside poke(), per instance


def test_tasks_test_prints_what_the_callable_pushed(tmp_path: Path, engine: docker.APIClient) -> None:
    env = {"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_TASK_IMAGE": "dockyard/python:latest"}
    result = CliRunner().invoke(
        cli, ["tasks", "test", str(CORPUS / FILES[0]), "extract", "2024-03-01", "-q"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "XCom: [3, 1, 2]" in result.stdout
    assert "XCom row_count: 3" in result.stdout and 'XCom partition: "dt=2024-03-01"' in result.stdout

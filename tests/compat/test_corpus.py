"""Airflow DAG files, written the way Airflow projects write them (1.10, 2.x and 3.x imports), run
unchanged against the real engine: every run's task states, rendered commands and XComs are checked."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dockyard.scheduler import scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.filterwarnings("default::DeprecationWarning")]

HERE = Path(__file__).parent
WHEN = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)

EXPECTED: dict[str, dict[str, object]] = {
    "af1_docker_operator": {"start": None, "export": "exporting 2024-03-01 for af1_docker_operator"},
    "af2_provider_basic": {"hello": "hello from 20240301T000000", "bye": "bye 20240301"},
    "af2_xcom_chain": {"count": "42", "listing": ["a", "b", "c"], "double": "84", "summary": "a-b-c 84", "quiet": None},
    "af2_retrieve_output": {"produce": {"files": 3, "day": "2024-03-01"}, "consume": "got 3 files"},
    "af2_mounts": {"write": "stored", "read": "2024-03-01"},
    "af2_trigger_rules": {"alert": "alerting on failure", "cleanup": "cleaning up", "end": None},
    "af2_task_group": {
        "transform.clean": "clean",
        "transform.enrich": "enrich clean",
        "publish": "publish enrich clean",
    },
    "af2_chain_helpers": {name: name for name in ["a", "b1", "b2", "c1", "c2", "d"]},
    "af2_params": {"run_batch": "region=us-east-1 batch=500 conf=hello"},
    "af2_variables": {"upload": "upload to s3://bucket-x with 8 threads as uploader-bot"},
    "af2_docker_conn": {"pull_and_run": "registry registry.example.com user robot parsed registry.example.com"},
    "af2_environment": {"show_env": "2024-03-01 4 0.5 [] yes 2024-03-01 key=***"},
    "af2_unused_imports": {"only_docker": "fine"},
    "af2_decorator_docker": {
        "extract": {"day": "2024-03-01", "values": [3, 1, 2]},
        "total": {"day": "2024-03-01", "total": 60},
    },
    "af3_sdk": {"stats": {"when": "2024-01-02", "rows": [1, 2]}, "report": "rows 2"},
    "af3_sdk_dag_decorator": {"first": "2024-03-01", "second": "after 2024-03-01"},
    "af2_bash_operator": {"hello": "hello"},
    "af2_python_operator": {"transform": 1},
    "af2_branch_python": {
        "choose_load": "weekday_load",
        "weekday_load": "full load 2024-03-01",
        "weekend_load": None,
        "report": "report after weekday_load",
    },
    "af2_task_branch_groups": {"route": "bulk", "bulk.merge": "merged", "small.direct": None},
    "af2_short_circuit": {"has_new_files": [], "ingest": None, "notify": None},
    "af2_short_circuit_soft": {"quality_ok": False, "publish": None, "audit": "audit done"},
    "af2_task_bash": {"archive": "archived-2024-03-01", "maybe_skip": None},
    "af2_virtualenv": {"summarize": {"mean": 4, "n": 3}, "label": "mean 4 over 3"},
    "af2_external_python": {"tag": "py3", "shout": "PY3", "show": "PY3"},
    "af2_latest_only": {"compute": "computed 2024-03-01", "latest_only": [], "publish": None},
    "af2_trigger_target": {"echo_conf": "table=none"},
    "af2_trigger_dag_run": {"prepare": "orders", "report": "triggered from_controller_20240301"},
    "af2_setup_teardown": {"create_cluster": "cluster-17", "run_query": None, "delete_cluster": "deleting cluster-17"},
    "af2_teardown_failure": {"work": "worked", "unmount_scratch": None},
    "af2_setup_teardown_taskflow": {"upload": "uploading to tmp-bucket-1", "delete_bucket": "deleted tmp-bucket-1"},
    "af2_task_group_decorator": {"per_region.double": 6, "per_region__1.double": 10, "total": "total 16"},
    "af2_labels": {"decide": "quarantine", "quarantine": "quarantined", "publish": None},
    "af2_trigger_rules_more": {"first_done": "one done", "only_skips": "all skipped", "all_failed": "all failed"},
    "af1_branch_operators": {"pick_format": "to_csv", "count_rows": 10, "to_csv": "csv", "quiet": None},
    "af2_mount_from_env": {"without": "fine", "cleanup": "cleanup", "with_data": None},
    "af3_sdk_branching": {"by_size": ["train_small"], "train_small": "small model", "evaluate": "small model"},
    "af2_setup_teardown_context": {"score": "scored on env-5", "destroy_env": "destroyed env-5"},
    "af2_branch_external": {"route": "modern", "modern": "modern", "pick": ["second"], "second": "second"},
    "af2_sensors": {"wait_table": "rows for 2024-03-01", "wait_file": None, "load": "loading rows for 2024-03-01"},
}
STATES = {
    "af2_trigger_rules": {
        "check_source": "skipped",
        "process": "skipped",
        "validate": "failed",
        "alert": "success",
        "cleanup": "success",
        "end": "success",
    },
}
STATES.update(
    {
        "af2_branch_python": {
            "start": "success",
            "choose_load": "success",
            "weekday_load": "success",
            "weekend_load": "skipped",
            "join": "success",
            "report": "success",
        },
        "af2_task_branch_groups": {
            "route": "success",
            "bulk.split": "success",
            "bulk.merge": "success",
            "small.direct": "skipped",
            "done": "success",
        },
        "af2_short_circuit": {
            "list_files": "success",
            "has_new_files": "success",
            "ingest": "skipped",
            "notify": "skipped",
        },
        "af2_short_circuit_soft": {
            "count": "success",
            "quality_ok": "success",
            "publish": "skipped",
            "audit": "success",
        },
        "af2_task_bash": {"size": "success", "archive": "success", "maybe_skip": "skipped"},
        "af2_latest_only": {"compute": "success", "latest_only": "success", "publish": "skipped"},
        "af2_setup_teardown": {"create_cluster": "success", "run_query": "failed", "delete_cluster": "success"},
        "af2_teardown_failure": {"mount_scratch": "success", "work": "success", "unmount_scratch": "failed"},
        "af2_labels": {"validate": "success", "decide": "success", "publish": "skipped", "quarantine": "success"},
        "af2_trigger_rules_more": {
            "fails": "failed",
            "skips": "skipped",
            "first_done": "success",
            "only_skips": "success",
            "no_skips": "skipped",
            "all_failed": "success",
            "always": "success",
        },
        "af1_branch_operators": {
            "count_rows": "success",
            "pick_format": "success",
            "to_csv": "success",
            "to_parquet": "skipped",
            "quiet": "success",
            "end": "success",
        },
        "af2_mount_from_env": {"with_data": "failed", "without": "success", "cleanup": "success"},
        "af2_branch_external": {
            "route": "success",
            "modern": "success",
            "legacy": "skipped",
            "pick": "success",
            "first": "skipped",
            "second": "success",
        },
        "af3_sdk_branching": {
            "sample_size": "success",
            "by_size": "success",
            "train_small": "success",
            "train_large": "skipped",
            "evaluate": "success",
        },
    }
)
EXPECTED.update(
    {
        "af2_xcom_push_branch": {
            "extract": [3, 1, 2],
            "audit": None,
            "choose_load": "full_load",
            "full_load": "full dt=2024-03-01",
            "incremental": None,
            "show_count": "rows=3",
            "double": 42,
            "summary": "42 [3, 6] factor=2 ok=True",
        },
        "af2_mapped_sensors": {"load": ["customers.csv", "orders.csv"]},
    }
)
STATES.update(
    {
        "af2_xcom_push_branch": {
            **dict.fromkeys(["extract", "audit", "choose_load", "full_load", "show_count", "done"], "success"),
            **dict.fromkeys(["double", "triple", "summary"], "success"),
            "incremental": "skipped",
        },
        "af2_mapped_sensors": {  # one state per task id: the mapped instances all end alike here
            "wait_partition": "success",
            "wait_late": "skipped",
            "wait_for_file": "success",
            "load": "success",
        },
    }
)
RUN_STATES = {"af2_trigger_rules": "success", "af2_setup_teardown": "failed"}
"""A run's state comes from its leaves, teardowns left out (the others succeed)."""
RUN_TYPES = {"af2_latest_only": "scheduled"}
"""Runs started as the scheduler starts them (an old scheduled run: LatestOnlyOperator skips what follows)."""
CONF = {"af2_params": {"region": "us-east-1", "note": "hello"}}


@pytest.fixture
def corpus(tmp_path: Path, engine: docker.APIClient) -> Iterator[tuple[Settings, Store]]:
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path),
            "DOCKYARD_DAGS_FOLDER": str(HERE / "dags"),
            "DOCKYARD_PARALLELISM": "6",
            "DOCKYARD_TASK_IMAGE": "dockyard/python:latest",
            "AIRFLOW_CONN_MY_REGISTRY": "docker://robot:corpus-pass@registry.example.com",
            "AIRFLOW_VAR_UPLOADER": "uploader-bot",
        }
    )
    store = Store.open(settings)
    store.set_variable("target_bucket", "s3://bucket-x")
    store.set_variable("pipeline_settings", '{"threads": 8}')
    yield settings, store
    instance = store.instance_id()
    for container in engine.containers(all=True, filters={"label": f"dockyard.instance={instance}"}):
        engine.remove_container(container["Id"], force=True, v=True)
    for volume in engine.volumes(filters={"name": "af2-mounts-data"}).get("Volumes") or []:
        engine.remove_volume(volume["Name"], force=True)
    store.close()


def test_the_corpus_runs_unchanged(corpus: tuple[Settings, Store]) -> None:
    settings, store = corpus
    assert len(list((HERE / "dags").glob("*.py"))) >= 35
    with scheduler_running(settings, store, create_scheduled_runs=False) as scheduler:  # only triggered runs
        assert store.list_import_errors() == []
        assert sorted(scheduler.dags) == sorted(EXPECTED)
        runs = {
            d: trigger_run(
                settings, store, dag, logical_date=WHEN, conf=CONF.get(d), run_type=RUN_TYPES.get(d, "manual")
            ).run_id
            for d, dag in scheduler.dags.items()
        }
        for dag_id, run_id in runs.items():
            wait_for(lambda d=dag_id, r=run_id: store.get_run(d, r).state in ("success", "failed"), 180, dag_id)  # type: ignore[misc]
    problems = []
    for dag_id, expected in EXPECTED.items():
        run_id = runs[dag_id]
        run_state = store.get_run(dag_id, run_id).state
        if run_state != RUN_STATES.get(dag_id, "success"):
            problems.append(f"{dag_id}: run {run_state}")
        states = {ti.task_id: ti.state for ti in store.list_task_instances(dag_id, run_id)}
        wanted_states = STATES.get(dag_id, dict.fromkeys(states, "success"))
        if states != wanted_states:
            problems.append(f"{dag_id}: states {states}")
        for task_id, value in expected.items():
            got = store.get_xcom(dag_id, run_id, task_id)
            if got != value:
                problems.append(f"{dag_id}.{task_id}: XCom {got!r}, expected {value!r}")
    assert problems == [], "\n".join(problems)
    rendered = store.get_task_instance("af1_docker_operator", runs["af1_docker_operator"], "export").rendered
    assert rendered is not None and rendered["command"] == "echo exporting 2024-03-01 for af1_docker_operator"
    env = store.get_task_instance("af2_environment", runs["af2_environment"], "show_env").rendered
    assert env is not None and env["environment"]["RUN_DATE"] == "2024-03-01"
    edges = store.get_dag("af2_labels").structure["edge_info"]
    assert edges == {"decide": {"publish": {"label": "no errors"}, "quarantine": {"label": "errors found"}}}
    triggered = store.get_run("af2_trigger_target", "from_controller_20240301")
    assert triggered.state == "success" and triggered.conf == {"table": "orders"}
    assert store.get_xcom("af2_trigger_target", "from_controller_20240301", "echo_conf") == "table=orders"
    inside = {t["task_id"]: t["upstream"] for t in store.get_dag("af2_setup_teardown_context").structure["tasks"]}
    assert inside["train"] == ["create_env"] and inside["destroy_env"] == ["create_env", "score"]
    tg = store.get_dag("af2_task_group").structure["tasks"]
    assert {t["task_id"]: t["upstream"] for t in tg}["publish"] == ["transform.enrich"]


def test_compat_check_reports_each_file(tmp_path: Path) -> None:
    env = {
        "DOCKYARD_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_CONN_MY_REGISTRY": "docker://robot:x@registry.example.com",
    }
    good = subprocess.run(
        [sys.executable, "-m", "dockyard", "compat", "check", str(HERE / "dags"), "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count('"runs_unchanged": true') == len(list((HERE / "dags").glob("*.py")))
    bad = subprocess.run(
        [sys.executable, "-m", "dockyard", "compat", "check", str(HERE / "unsupported"), "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "GenericTransfer is not supported by dockyard" in bad.stdout
    assert "uses_generic_transfer.py:7" in bad.stdout and "use DockerOperator" in bad.stdout
    assert "SqlSensor is not supported by dockyard" in bad.stdout and "uses_sql_sensor.py:7" in bad.stdout

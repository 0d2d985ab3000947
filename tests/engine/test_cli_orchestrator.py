"""The orchestration commands as a person runs them: subprocesses against a real engine and database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
import yaml

from tests.helpers import wait_for, write_dag

pytestmark = pytest.mark.engine


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.dags = tmp_path / "dags"
        self.env = {
            **os.environ,
            "DOCKYARD_HOME": str(tmp_path / "home"),
            "DOCKYARD_DAGS_FOLDER": str(self.dags),
            "DOCKYARD_STOP_GRACE_SECONDS": "1",
        }

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, timeout=180, env=self.env
        )
        if ok:
            assert result.returncode == 0, f"{args}: {result.stderr}"
        return result

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture
def cli(tmp_path: Path, engine: docker.APIClient) -> Cli:
    runner = Cli(tmp_path)
    write_dag(
        runner.dags,
        "pipeline",
        """
with DAG("pipeline", start_date=START, schedule="@daily", catchup=False, default_args=ARGS, tags=["demo"]) as dag:
    extract = DockerOperator(task_id="extract", command="echo bucket={{ var.value.bucket }} day={{ ds }}")
    check = DockerOperator(task_id="check", command=["sh", "-c", "echo checking; exit {{ params.code | default(0) }}"])
    extract >> check
""",
    )
    return runner


def test_db_migrate_is_idempotent(cli: Cli) -> None:
    from dockyard.store.db import head_revision

    head = head_revision()
    assert f"upgraded to revision {head}" in cli("db", "migrate").stdout
    assert f"already at revision {head}" in cli("db", "migrate").stdout
    assert f"answers and is at revision {head}" in cli("db", "check").stdout


def test_dags_list_show_and_import_errors(cli: Cli) -> None:
    listed = cli.json("dags", "list")
    assert [(d["dag_id"], d["schedule"], d["is_paused"], d["tags"]) for d in listed] == [
        ("pipeline", "@daily", False, ["demo"])
    ]
    assert yaml.safe_load(cli("dags", "list", "-o", "yaml").stdout)[0]["dag_id"] == "pipeline"
    assert "pipeline" in cli("dags", "list").stdout  # the table
    shown = cli("dags", "show", "pipeline").stdout  # Graphviz's DOT language, as Airflow prints it
    assert shown.startswith('digraph "pipeline" {') and '\t"extract" -> "check"\n' in shown
    assert cli("dags", "list-import-errors").stderr.strip() == "No import errors."
    (cli.dags / "broken.py").write_text("from dockyard import DAG\nraise RuntimeError('boom in the DAG file')\n")
    result = cli("dags", "list-import-errors", "-o", "json", ok=False)
    assert result.returncode == 1
    [error] = json.loads(result.stdout)
    assert (
        error["filepath"].endswith("broken.py") and "broken.py:2: RuntimeError: boom in the DAG file" in error["error"]
    )
    assert "failed to load" in cli("dags", "list").stderr


def test_dags_test_runs_the_whole_dag_and_records_it(cli: Cli) -> None:
    cli("variables", "set", "bucket", "s3://raw")
    result = cli("dags", "test", "pipeline", "2024-02-29")
    assert "extract | " in result.stdout and "bucket=s3://raw day=2024-02-29" in result.stdout
    assert "Run test__2024-02-29T00:00:00+00:00 of pipeline: success" in result.stderr
    run_id = "test__2024-02-29T00:00:00+00:00"
    states = cli.json("tasks", "states-for-dag-run", "pipeline", run_id)
    assert [(s["task_id"], s["state"], s["try_number"]) for s in states] == [
        ("check", "success", 1),
        ("extract", "success", 1),
    ]
    log = cli("tasks", "logs", "pipeline", run_id, "extract").stdout
    assert "bucket=s3://raw day=2024-02-29" in log and "[dockyard] Container exited with code 0" in log
    bad_try = cli("tasks", "logs", "pipeline", run_id, "extract", "--try", "3", ok=False)
    assert bad_try.returncode == 1 and "has tries 1 to 1; --try 3 does not exist" in bad_try.stderr
    again = cli("dags", "test", "pipeline", "2024-02-29", "-c", '{"code": 4}', ok=False)  # a test run is replaced
    assert again.returncode == 1 and "of pipeline: failed" in again.stderr
    runs = cli.json("dags", "list-runs", "pipeline")
    assert [(r["run_id"], r["state"]) for r in runs] == [(run_id, "failed")]


def test_trigger_pause_clear_under_a_running_scheduler(cli: Cli) -> None:
    cli("variables", "set", "bucket", "s3://b")
    cli("dags", "pause", "pipeline")
    assert cli.json("dags", "list")[0]["is_paused"] is True  # type: ignore[index]
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "scheduler"],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        [triggered] = cli.json("dags", "trigger", "pipeline", "-c", '{"code": 0}', "-r", "by_hand")  # type: ignore[misc]
        assert triggered["run_id"] == "by_hand"

        def state() -> str | None:
            runs = {r["run_id"]: r["state"] for r in cli.json("dags", "list-runs", "pipeline")}  # type: ignore[union-attr]
            return runs["by_hand"] if runs.get("by_hand") in ("success", "failed") else None

        time.sleep(4)
        # Paused: the scheduler made no scheduled run, and the triggered one waits queued, as in Airflow.
        listed = cli.json("dags", "list-runs", "pipeline")
        assert [(r["run_id"], r["state"]) for r in listed] == [("by_hand", "queued")]  # type: ignore[index]
        cli("dags", "unpause", "pipeline")
        assert wait_for(state, 60, "the triggered run") == "success"
        cleared = cli("tasks", "clear", "pipeline", "-t", "^check$", "--run-id", "by_hand", "-y")
        assert "by_hand: check" in cleared.stdout and "Cleared 1 task instance(s)." in cleared.stdout

        def retried() -> bool:
            tis = {t["task_id"]: t for t in cli.json("tasks", "states-for-dag-run", "pipeline", "by_hand")}  # type: ignore[union-attr]
            return tis["check"]["try_number"] == 2 and tis["check"]["state"] == "success"

        wait_for(retried, 60, "the cleared task to run again")
    finally:
        scheduler.send_signal(signal.SIGTERM)
        _, stderr = scheduler.communicate(timeout=60)
    assert scheduler.returncode == 0, stderr
    assert "Scheduler stopped" in stderr


def test_variables(cli: Cli, tmp_path: Path) -> None:
    cli("variables", "set", "bucket", "s3://data", "--description", "raw data")
    cli("variables", "set", "api_token", "tok-canary-3141")
    cli("variables", "set", "limits", '{"rows": 10}', "--json")
    assert cli("variables", "get", "bucket").stdout.strip() == "s3://data"
    assert json.loads(cli("variables", "get", "limits", "-j").stdout) == {"rows": 10}
    listed = cli("variables", "list", "-o", "json").stdout
    assert "tok-canary-3141" not in listed
    assert {v["key"]: v["val"] for v in json.loads(listed)}["api_token"] == "***"
    missing = cli("variables", "get", "nope", ok=False)
    assert missing.returncode == 1 and "no variable 'nope'" in missing.stderr
    assert cli("variables", "get", "nope", "-d", "fallback").stdout.strip() == "fallback"
    bad = cli("variables", "set", "x", "{oops", "--json", ok=False)
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    exported = tmp_path / "vars.json"
    cli("variables", "export", str(exported))
    assert json.loads(exported.read_text())["bucket"] == "s3://data"
    cli("variables", "delete", "bucket")
    cli("variables", "import", str(exported))
    assert cli("variables", "get", "bucket").stdout.strip() == "s3://data"


def test_pools(cli: Cli) -> None:
    cli("pools", "set", "gpu", "2", "the GPU box")
    assert {p["pool"]: p["slots"] for p in cli.json("pools", "list")} == {"default_pool": 128, "gpu": 2}  # type: ignore[union-attr]
    refused = cli("pools", "delete", "default_pool", ok=False)
    assert refused.returncode == 1 and "default_pool cannot be deleted" in refused.stderr
    cli("pools", "delete", "gpu")
    assert [p["pool"] for p in cli.json("pools", "list")] == ["default_pool"]  # type: ignore[union-attr]


def test_unknown_things_are_one_clear_error(cli: Cli) -> None:
    result = cli("dags", "trigger", "pipline", ok=False)
    assert result.returncode == 1 and "no DAG 'pipline'" in result.stderr and "did you mean 'pipeline'" in result.stderr
    result = cli("tasks", "states-for-dag-run", "pipeline", "nope", ok=False)
    assert result.returncode == 1 and "with run_id or execution_date of 'nope' not found" in result.stderr
    result = cli("dags", "trigger", "pipeline", "-c", "[1]", ok=False)
    assert result.returncode == 2 and "must be a JSON object" in result.stderr
    bad_db = subprocess.run(
        [sys.executable, "-m", "dockyard", "db", "check"],
        capture_output=True,
        text=True,
        env={**cli.env, "DOCKYARD_DATABASE_URL": "postgresql://u:hunter22@127.0.0.1:1/x"},
    )
    assert bad_db.returncode == 1 and "u:***@127.0.0.1:1" in bad_db.stderr and "hunter22" not in bad_db.stderr
    assert "Traceback" not in bad_db.stderr


def test_tasks_logs_follow_prints_until_the_try_ends(cli: Cli) -> None:
    write_dag(
        cli.dags,
        "follow",
        """
with DAG("follow", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="slow", command=["sh", "-c", "echo one; sleep 6; echo two"])
""",
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "scheduler"],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cli("dags", "trigger", "follow", "-r", "followed")

        def started() -> bool:
            tis = cli.json("tasks", "states-for-dag-run", "follow", "followed")
            return bool(tis) and tis[0]["state"] == "running"  # type: ignore[index]

        wait_for(started, 60, "the task to start")
        followed = cli("tasks", "logs", "follow", "followed", "slow", "-f")
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.communicate(timeout=60)
    assert " one\n" in followed.stdout and " two\n" in followed.stdout
    assert "Container exited with code 0" in followed.stdout

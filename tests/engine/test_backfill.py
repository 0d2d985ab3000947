"""``dockyard dags backfill`` as a person runs it (a subprocess on the real engine), with Airflow 2's rules:
the schedule's dates in the range, runs of type backfill, failed runs left failed unless --rerun-failed-tasks,
--reset-dagruns, --run-backwards, --dry-run and --max-active-runs."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import write_dag

pytestmark = pytest.mark.engine

DAGS = """
with DAG("daily", start_date=START, schedule="@daily", catchup=False, default_args=ARGS,
         is_paused_upon_creation=True) as dag:
    DockerOperator(task_id="work",
                   command=["sh", "-c", "echo {{ ds }}; test '{{ var.value.get('bad_day', '') }}' != {{ ds }}"])
with DAG("ordered", start_date=START, schedule="@daily", default_args=ARGS, is_paused_upon_creation=True) as ordered:
    EmptyOperator(task_id="step", depends_on_past=True)
with DAG("by_hand", start_date=START, schedule=None, default_args=ARGS) as by_hand:
    EmptyOperator(task_id="step")
"""


def test_backfill(tmp_path: Path, engine: docker.APIClient) -> None:
    write_dag(tmp_path / "dags", "backfill_dags", DAGS)
    env = {**os.environ, "DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags")}

    def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, timeout=300, env=env
        )
        assert done.returncode == code, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    store = Store.open(Settings.from_env(env))

    def runs() -> dict[str, tuple[str, str, int]]:
        """Each run of ``daily``: its state, type and the try number of its task."""
        found = {}
        for run in store.list_runs("daily"):
            [ti] = store.list_task_instances("daily", run.run_id)
            found[run.logical_date.date().isoformat()] = (run.state, run.run_type, ti.try_number)
        return found

    try:
        dry = cli("dags", "backfill", "daily", "-s", "2024-01-01", "-e", "2024-01-03T12:00:00", "--dry-run").stdout
        assert dry.count("Dry run of DAG daily on") == 3 and "echo 2024-01-03; test" in dry
        assert store.list_runs("daily") == []

        cli("variables", "set", "bad_day", "2024-01-02")
        failed = cli(
            "dags",
            "backfill",
            "daily",
            "-s",
            "2024-01-01",
            "-e",
            "2024-01-03",
            "--max-active-runs",
            "1",
            "--continue-on-failures",
            code=1,
        )
        assert "Some runs of daily failed: backfill__2024-01-02T00:00:00+00:00" in failed.stderr
        assert runs() == {
            "2024-01-01": ("success", "backfill", 1),
            "2024-01-02": ("failed", "backfill", 1),
            "2024-01-03": ("success", "backfill", 1),
        }
        assert store.get_dag("daily").max_active_runs == 16  # the backfill's limit is its own
        spans = sorted((r.start_date, r.end_date) for r in store.list_runs("daily"))
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), spans  # one at a time
        [first] = [r for r in store.list_runs("daily") if r.logical_date.day == 1]
        assert (first.data_interval_start, first.data_interval_end) == (
            dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
            dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc),
        )

        cli("variables", "delete", "bad_day")
        again = cli("dags", "backfill", "daily", "-s", "2024-01-01", "-e", "2024-01-03", code=1)  # failed stays failed
        assert "(already done)" in again.stdout and runs()["2024-01-02"] == ("failed", "backfill", 1)
        rerun = cli("dags", "backfill", "daily", "-s", "2024-01-02", "-e", "2024-01-03", "--rerun-failed-tasks")
        assert "Cleared 1 task instance(s)" in rerun.stdout
        assert runs()["2024-01-02"] == ("success", "backfill", 2) and runs()["2024-01-03"][2] == 1

        cli("dags", "backfill", "daily", "-s", "2024-01-01", "-e", "2024-01-02", "--reset-dagruns", "-y")
        assert {day: tries for day, (_, _, tries) in runs().items()} == {
            "2024-01-01": 2,
            "2024-01-02": 3,
            "2024-01-03": 1,
        }
        asked = subprocess.run(
            [sys.executable, "-m", "dockyard", "dags", "backfill", "daily", "-s", "2024-01-03", "--reset-dagruns"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            input="n\n",
        )
        assert (
            "You are about to delete these 1 tasks" in asked.stdout
            and "Cancelled, nothing was cleared." in asked.stdout
        )
        assert runs()["2024-01-03"][2] == 1

        backwards = cli("dags", "backfill", "ordered", "-s", "2024-01-01", "-e", "2024-01-02", "-B", code=1)
        assert "backwards because one or more tasks depend_on_past: step" in backwards.stderr
        cli("dags", "backfill", "ordered", "-s", "2024-01-01", "-e", "2024-01-03", "--max-active-runs", "3")
        assert [r.run_type for r in store.list_runs("ordered")] == ["backfill"] * 3
        nothing = cli("dags", "backfill", "by_hand", "-s", "2024-01-01", "-e", "2024-01-03")
        assert "No run dates were found" in nothing.stdout
        usage = cli("dags", "backfill", "daily", code=2)
        assert "-s 2024-01-01" in usage.stderr
        listed = json.loads(cli("dags", "list-runs", "daily", "-o", "json").stdout)
        assert {r["run_type"] for r in listed} == {"backfill"}
    finally:
        store.close()

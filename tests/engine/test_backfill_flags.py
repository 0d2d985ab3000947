"""The rest of Airflow 2.11's ``dags backfill`` flags, as a person types them (a subprocess on the real engine):
-t/--task-regex, -i, -I, -m/--mark-success, --pool, --continue-on-failures, --disable-retry, --delay-on-limit,
--treat-dag-id-as-regex and -S/--subdir."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import labelled, write_dag

pytestmark = pytest.mark.engine

FAILS_ON_BAD_DAY = "[\"sh\", \"-c\", \"echo {{ ds }}; test '{{ var.value.get('bad_day', '') }}' != {{ ds }}\"]"
DAGS = f"""
with DAG("flags", start_date=START, schedule="@daily", default_args=ARGS, is_paused_upon_creation=True) as dag:
    extract = DockerOperator(task_id="extract", command="echo extract")
    load = DockerOperator(task_id="load", command={FAILS_ON_BAD_DAY}, retries=1)
    report = DockerOperator(task_id="report", command="echo report")
    extract >> load >> report
with DAG("past", start_date=START, schedule="@daily", default_args=ARGS, is_paused_upon_creation=True) as past:
    DockerOperator(task_id="step", command={FAILS_ON_BAD_DAY}, depends_on_past=True)
with DAG("other_a", start_date=START, schedule="@daily", default_args=ARGS) as other_a:
    EmptyOperator(task_id="x")
with DAG("other_b", start_date=START, schedule="@daily", default_args=ARGS) as other_b:
    EmptyOperator(task_id="x")
"""
ELSEWHERE = """
with DAG("elsewhere", start_date=START, schedule="@daily", default_args=ARGS) as dag:
    EmptyOperator(task_id="only")
"""


@dataclass
class Backfills:
    """A DAG folder, the ``dockyard`` command on it and its store."""

    tmp_path: Path
    env: dict[str, str]
    store: Store

    def cli(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, timeout=300, env=self.env
        )
        assert done.returncode == code, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def backfill(self, dag_id: str, day: str, *flags: str, last: str | None = None, code: int = 0) -> str:
        done = self.cli("dags", "backfill", dag_id, "-s", day, "-e", last or day, *flags, code=code)
        return done.stdout + done.stderr

    def run_of(self, dag_id: str, day: str) -> tuple[str, dict[str, tuple[str | None, int, str, str | None]]]:
        """The run of ``day``: its state and each task instance's state, try number, pool and operator."""
        runs = [r for r in self.store.list_runs(dag_id) if r.logical_date.date().isoformat() == day]
        assert runs, f"{dag_id} has no run on {day}"
        tis = self.store.list_task_instances(dag_id, runs[0].run_id)
        return runs[0].state, {ti.task_id: (ti.state, ti.try_number, ti.pool, ti.operator) for ti in tis}

    def has_run(self, dag_id: str, day: str) -> bool:
        return any(r.logical_date.date().isoformat() == day for r in self.store.list_runs(dag_id))


@pytest.fixture
def dy(tmp_path: Path, engine: docker.APIClient) -> Iterator[Backfills]:
    write_dag(tmp_path / "dags", "flag_dags", DAGS)
    write_dag(tmp_path / "other", "elsewhere", ELSEWHERE)
    env = {**os.environ, "DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags")}
    store = Store.open(Settings.from_env(env))
    try:
        yield Backfills(tmp_path, env, store)
    finally:
        store.close()


def test_task_regex_ignore_dependencies_mark_success_and_disable_retry(dy: Backfills) -> None:
    # -t: the tasks it finds and what they need upstream; -i: the found tasks alone
    dy.backfill("flags", "2024-01-01", "-t", "^load$")
    state, tis = dy.run_of("flags", "2024-01-01")
    assert state == "success" and set(tis) == {"extract", "load"}
    assert [t["task_id"] for t in dy.store.get_dag("flags").structure["tasks"]] == ["extract", "load", "report"]
    dy.backfill("flags", "2024-01-02", "--task-regex", "^rep", "-i")
    state, tis = dy.run_of("flags", "2024-01-02")
    assert state == "success" and set(tis) == {"report"}
    nothing = dy.backfill("flags", "2024-01-03", "-t", "^nope$", code=1)
    assert "There are no tasks that match '^nope$' regex" in nothing and not dy.has_run("flags", "2024-01-03")

    # -m: every task marked successful without running (load would fail on this day)
    dy.cli("variables", "set", "bad_day", "2024-01-03")
    dy.backfill("flags", "2024-01-03", "-m")
    state, tis = dy.run_of("flags", "2024-01-03")
    assert state == "success" and {t: s[0] for t, s in tis.items()} == dict.fromkeys(tis, "success")
    assert {s[3] for s in tis.values()} == {"DockerOperator"}  # the run shows the tasks as they are

    # --disable-retry: load (retries=1) fails at its first try
    dy.cli("variables", "set", "bad_day", "2024-01-04")
    failed = dy.backfill("flags", "2024-01-04", "--disable-retry", code=1)
    assert "Some runs of flags failed: backfill__2024-01-04" in failed
    state, tis = dy.run_of("flags", "2024-01-04")
    assert state == "failed" and tis["load"][:2] == ("failed", 1) and tis["report"][0] == "upstream_failed"


def test_failures_stop_unless_continue_and_pool_and_delay_on_limit(dy: Backfills) -> None:
    # a failed run stops the backfill (Airflow's default); --continue-on-failures goes on
    dy.cli("variables", "set", "bad_day", "2024-01-05")
    one_at_a_time = ("--disable-retry", "--max-active-runs", "1")
    stopped = dy.backfill("flags", "2024-01-05", *one_at_a_time, last="2024-01-06", code=1)
    assert "1 date(s) not started after a failed run" in stopped and not dy.has_run("flags", "2024-01-06")
    dy.backfill("flags", "2024-01-05", "--continue-on-failures", *one_at_a_time, last="2024-01-06", code=1)
    assert dy.run_of("flags", "2024-01-05")[0] == "failed" and dy.run_of("flags", "2024-01-06")[0] == "success"
    dy.cli("variables", "delete", "bad_day")

    # --pool: every task in that pool; an unknown pool is refused before anything runs
    unknown = dy.backfill("flags", "2024-01-07", "--pool", "no_such_pool", code=1)
    assert "Unknown pool: 'no_such_pool'" in unknown and not dy.has_run("flags", "2024-01-07")
    dy.cli("pools", "set", "backfill_pool", "1", "one at a time")
    dy.backfill("flags", "2024-01-07", "--pool", "backfill_pool")
    state, tis = dy.run_of("flags", "2024-01-07")
    assert state == "success" and {s[2] for s in tis.values()} == {"backfill_pool"}
    dy.backfill("flags", "2024-01-05", "--rerun-failed-tasks", "--pool", "backfill_pool")  # a run from before
    state, tis = dy.run_of("flags", "2024-01-05")
    assert state == "success" and tis["load"][2] == "backfill_pool" and tis["extract"][2] == "default_pool"

    # --delay-on-limit: with one run at a time, the next starts that long after a place frees
    dy.backfill("other_a", "2024-01-08", "--max-active-runs", "1", "--delay-on-limit", "3", last="2024-01-09")
    first, second = sorted(dy.store.list_runs("other_a"), key=lambda r: r.logical_date)
    assert first.end_date and second.start_date and (second.start_date - first.end_date).total_seconds() >= 3


def test_ignore_first_depends_on_past_dag_regex_and_subdir(dy: Backfills) -> None:
    # -I: the first date ignores depends_on_past (its earlier run failed); the next date still looks back
    dy.cli("variables", "set", "bad_day", "2024-01-01")
    dy.backfill("past", "2024-01-01", code=1)
    dy.cli("variables", "delete", "bad_day")
    dy.backfill("past", "2024-01-02", "-I", last="2024-01-03")
    assert dy.run_of("past", "2024-01-02")[0] == "success" and dy.run_of("past", "2024-01-03")[0] == "success"

    # --treat-dag-id-as-regex (and Airflow's older --treat-dag-as-regex), -S/--subdir
    both = dy.backfill("^other_", "2024-01-01", "--treat-dag-id-as-regex")
    assert "Backfill of other_a done" in both and "Backfill of other_b done" in both
    dy.backfill("other_[ab]", "2024-01-02", "--treat-dag-as-regex")
    assert dy.run_of("other_b", "2024-01-02")[0] == "success"
    none = dy.backfill("^nothing", "2024-01-02", "--treat-dag-id-as-regex", code=1)
    assert "no DAG id matches '^nothing'" in none
    dy.backfill("elsewhere", "2024-01-01", "-S", str(dy.tmp_path / "other"))
    assert dy.run_of("elsewhere", "2024-01-01")[0] == "success"


def test_a_deadlocked_backfill_stops_and_names_the_blocked_task_instances(
    dy: Backfills, engine: docker.APIClient
) -> None:
    # the first date fails; the second, which runs beside it, can never run its step (depends_on_past)
    dy.cli("variables", "set", "bad_day", "2024-02-01")
    started = time.monotonic()
    said = dy.backfill("past", "2024-02-01", "--disable-retry", last="2024-02-02", code=1)
    assert time.monotonic() - started < 120, "the deadlock was not seen"
    dy.cli("variables", "delete", "bad_day")
    assert "BackfillUnfinished: the backfill of past is deadlocked" in said
    failed, first, second = (f"backfill__2024-02-0{day}T00:00:00+00:00" for day in (1, 2, 3))
    assert (
        f"<TaskInstance: past.step {first} [none]>: depends_on_past, and in the run before it ({failed}, failed) "
        "step is failed"
    ) in said
    assert "-I/--ignore-first-depends-on-past" in said and "--rerun-failed-tasks" in said
    assert dy.run_of("past", "2024-02-01")[1]["step"][0] == "failed"
    state, tis = dy.run_of("past", "2024-02-02")
    assert state == "failed" and tis["step"][:2] == (None, 0)

    # the run before the range is stuck that way: no date of the range can run
    said = dy.backfill("past", "2024-02-03", last="2024-02-04", code=1)
    assert f"<TaskInstance: past.step {second} [none]>: depends_on_past, and in the run before it ({first}" in said
    assert "step is none" in said and "Their runs were marked failed" in said
    for day in ("2024-02-03", "2024-02-04"):  # failed runs whose step never ran, no container started
        assert dy.run_of("past", day)[0] == "failed" and dy.run_of("past", day)[1]["step"][:2] == (None, 0)
    assert not labelled(engine, dag_id="past", run_id=second)

    # what the message advises runs the deadlocked dates
    dy.backfill("past", "2024-02-02", "-I", "--rerun-failed-tasks", last="2024-02-04")
    assert {dy.run_of("past", f"2024-02-0{day}")[0] for day in (2, 3, 4)} == {"success"}

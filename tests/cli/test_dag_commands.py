"""dags and tasks commands with Airflow's arguments, against real SQLite and PostgreSQL (no engine: the tasks
that run are EmptyOperators, which finish in dockyard itself)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from dockyard.serialized import SerializedDag
from dockyard.states import TaskState
from tests.cli.conftest import Dockyard

UTC = dt.timezone.utc
RUN = "manual__2024-03-01T00:00:00+00:00"


def start_run(dockyard: Dockyard, run_id: str = RUN) -> None:
    """Create the run's task instances, as the scheduler does when it starts a queued run."""
    store = dockyard.store()
    dag = SerializedDag.from_row(store.get_dag("chain"))
    tasks = [
        {"task_id": t.task_id, "operator": t.operator, "retries": t.retries, "pool": t.pool, "pool_slots": 1}
        for t in dag.tasks
    ]
    store.start_run("chain", run_id, tasks)
    store.close()


def test_dags_list_columns_and_another_folder(dockyard: Dockyard, tmp_path: Path) -> None:
    listed = dockyard.json("dags", "list")
    assert [(d["dag_id"], d["schedule"], d["tags"]) for d in listed] == [
        ("chain", "@daily", ["demo"]),
        ("chain_two", None, []),
    ]
    assert dockyard.json("dags", "list", "--columns", "dag_id,is_paused")[0] == {"dag_id": "chain", "is_paused": False}
    bad = dockyard("dags", "list", "--columns", "dag_id,owner", ok=False)
    assert bad.exit_code == 2 and "no column owner" in bad.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.py").write_text(
        "from datetime import datetime\nfrom dockyard import DAG, EmptyOperator\n"
        "with DAG('far', start_date=datetime(2024, 1, 1), schedule=None):\n    EmptyOperator(task_id='t')\n"
    )
    assert [d["dag_id"] for d in dockyard.json("dags", "list", "-S", str(elsewhere))] == ["far"]
    assert [d["dag_id"] for d in dockyard.json("dags", "list", "--subdir", str(elsewhere / "x.py"))] == ["far"]
    # Reading another folder must not make the DAG folder's DAGs look deleted.
    store = dockyard.store()
    assert [d.dag_id for d in store.list_dags()] == ["chain", "chain_two"]
    store.close()
    assert "-S" in dockyard("dags", "list-import-errors", "-S", str(elsewhere), "--help").output


def test_pause_by_regular_expression_asks_first(dockyard: Dockyard) -> None:
    dockyard("dags", "list")
    declined = dockyard("dags", "pause", "^chain", "--treat-dag-id-as-regex", input="n\n")
    assert "You are about to pause 2 DAG(s): chain, chain_two" in declined.stdout and "Cancelled" in declined.stdout
    assert not any(d["is_paused"] for d in dockyard.json("dags", "list"))
    paused = dockyard.json("dags", "pause", "two$", "--treat-dag-id-as-regex", "-y")
    assert paused == [{"dag_id": "chain_two", "is_paused": True}]
    assert dockyard.json("dags", "unpause", "chain_two") == [{"dag_id": "chain_two", "is_paused": False}]
    none = dockyard("dags", "pause", "^nothing", "--treat-dag-id-as-regex", "-y", ok=False)
    assert none.exit_code == 1 and "no DAG id matches" in none.stderr


def test_trigger_state_list_runs_and_next_execution(dockyard: Dockyard) -> None:
    [run] = dockyard.json("dags", "trigger", "chain", "-e", "2024-03-01", "-c", '{"n": 5}')
    assert run["run_id"] == RUN and run["logical_date"] == "2024-03-01T00:00:00+00:00"
    dockyard("dags", "trigger", "chain", "--exec-date", "2024-05-01T06:00:00+02:00", "-r", "may")
    assert dockyard("dags", "state", "chain", "2024-03-01").stdout.strip() == 'queued, {"n": 5}'
    assert dockyard("dags", "state", "chain", "2024-05-01T04:00:00").stdout.strip() == "queued"
    assert dockyard("dags", "state", "chain", "2024-06-01").stdout.strip() == "None"
    between = dockyard.json("dags", "list-runs", "-d", "chain", "-s", "2024-02-01", "-e", "2024-04-01")
    assert [r["run_id"] for r in between] == [RUN]
    assert [r["run_id"] for r in dockyard.json("dags", "list-runs", "-d", "chain", "-s", "2024-04-01")] == ["may"]
    assert dockyard.json("dags", "list-runs", "-d", "chain", "--state", "success") == []
    both = dockyard("dags", "trigger", "chain", "-e", "2024-01-01", "-l", "2024-01-02", ok=False)
    assert both.exit_code == 2 and "give the date once" in both.output
    dates = dockyard("dags", "next-execution", "chain", "-n", "3").stdout.split()
    parsed = [dt.datetime.fromisoformat(d) for d in dates]
    assert len(parsed) == 3 and parsed[1] - parsed[0] == parsed[2] - parsed[1] == dt.timedelta(days=1)
    assert parsed[0] <= dt.datetime.now(UTC)
    never = dockyard("dags", "next-execution", "chain_two")
    assert never.stdout.strip() == "None" and "No following schedule can be found" in never.stderr
    dockyard("dags", "pause", "chain")
    assert "PAUSED" in dockyard("dags", "next-execution", "chain").stderr


def test_details_report_delete_and_reserialize(dockyard: Dockyard) -> None:
    dockyard("dags", "trigger", "chain", "-e", "2024-03-01")
    [details] = dockyard.json("dags", "details", "chain")
    assert details["schedule_interval"] == "@daily" and details["task_ids"] == ["a", "b", "c"]
    assert details["catchup"] is False and details["tags"] == ["demo"]
    assert "timetable_description" in dockyard("dags", "details", "chain", "-o", "plain").stdout
    [report] = dockyard.json("dags", "report")
    assert (report["file"], report["dag_num"], report["task_num"]) == ("/chain.py", 2, 4)
    assert report["dags"] == "chain, chain_two"
    assert "Cancelled" in dockyard("dags", "delete", "chain", input="n\n").stdout
    removed = dockyard("dags", "delete", "chain", "-y").stdout
    assert removed.startswith("Removed ") and "record(s)" in removed
    store = dockyard.store()
    assert store.list_runs("chain") == [] and "chain" not in [d.dag_id for d in store.list_dags()]
    store.close()
    assert "chain" in [d["dag_id"] for d in dockyard.json("dags", "list")]  # its file defines it still
    assert "Reserialized 2 DAG(s)" in dockyard("dags", "reserialize").stdout
    assert "forgotten" in dockyard("dags", "reserialize", "--clear-only").stdout
    missing = dockyard("dags", "details", "nope", ok=False)
    assert missing.exit_code == 1 and "no DAG 'nope'" in missing.stderr


def test_show_prints_dot_and_saves_images(sqlite_dockyard: Dockyard, tmp_path: Path) -> None:
    source = sqlite_dockyard("dags", "show", "chain").stdout
    assert source.startswith('digraph "chain" {') and '\t"a" -> "b"\n' in source and '\t"b" -> "c"\n' in source
    dot_file = tmp_path / "chain.dot"
    sqlite_dockyard("dags", "show", "chain", "--save", str(dot_file))
    assert dot_file.read_text().strip() == source.strip()
    no_ending = sqlite_dockyard("dags", "show", "chain", "-s", str(tmp_path / "chain"), ok=False)
    assert no_ending.exit_code == 1 and "has no file ending" in no_ending.stderr
    saved_env = dict(sqlite_dockyard.env)
    sqlite_dockyard.env["PATH"] = str(tmp_path / "no-programs-here")
    missing = sqlite_dockyard("dags", "show", "chain", "--save", str(tmp_path / "chain.png"), ok=False)
    sqlite_dockyard.env = saved_env
    assert (
        missing.exit_code == 1
        and "needs Graphviz's `dot`" in missing.stderr
        and "apt-get install graphviz" in missing.stderr
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (.ci/run installs it)")
def test_show_draws_png_and_svg_with_graphviz(sqlite_dockyard: Dockyard, tmp_path: Path) -> None:
    png, svg = tmp_path / "chain.png", tmp_path / "chain.svg"
    assert sqlite_dockyard("dags", "show", "chain", "--save", str(png)).stdout.strip() == f"File {png} saved"
    sqlite_dockyard("dags", "show", "chain", "--save", str(svg))
    assert png.read_bytes().startswith(b"\x89PNG") and "<svg" in svg.read_text()
    bad = sqlite_dockyard("dags", "show", "chain", "--save", str(tmp_path / "chain.nope"), ok=False)
    assert bad.exit_code == 1 and "dot could not write" in bad.stderr


def test_task_state_failed_deps_run_and_render(dockyard: Dockyard) -> None:
    dockyard("dags", "trigger", "chain", "-e", "2024-03-01", "-c", '{"n": 5}')
    queued = dockyard("tasks", "state", "chain", "a", RUN, ok=False)
    assert queued.exit_code == 1 and "has no task instance 'a' yet" in queued.stderr
    start_run(dockyard)
    assert dockyard("tasks", "state", "chain", "a", "2024-03-01").stdout.strip() == "None"
    deps = dockyard("tasks", "failed-deps", "chain", "b", RUN).stdout
    assert deps.startswith("Task instance dependencies not met:\n")
    assert "Trigger Rule: Task's trigger rule 'all_success' is not met" in deps
    assert "Pool Slots Available: Tasks using non-existent pool 'small'" in deps
    assert (
        dockyard("tasks", "failed-deps", "chain", "a", RUN).stdout.strip() == "Task instance dependencies are all met."
    )
    dockyard("tasks", "run", "chain", "a", RUN)
    assert dockyard("tasks", "state", "chain", "a", RUN).stdout.strip() == "success"
    again = dockyard("tasks", "run", "chain", "a", RUN, ok=False)
    assert again.exit_code == 1 and "Task is in the 'success' state" in again.stderr
    dockyard("tasks", "run", "chain", "a", RUN, "-f")
    [a] = [t for t in dockyard.json("tasks", "states-for-dag-run", "chain", "2024-03-01") if t["task_id"] == "a"]
    assert (a["state"], a["try_number"]) == ("success", 2)
    blocked = dockyard("tasks", "run", "chain", "b", RUN, "-i", ok=False)
    assert blocked.exit_code == 1 and "non-existent pool 'small'" in blocked.stderr
    dockyard("tasks", "run", "chain", "b", RUN, "-A")
    assert dockyard("tasks", "state", "chain", "b", RUN).stdout.strip() == "success"
    rendered = dockyard("tasks", "render", "chain", "c", RUN).stdout
    assert "# property: bash_command\n" in rendered and "echo day 2024-03-01 n=5" in rendered
    dockyard("tasks", "run", "chain", "c", RUN, "--mark-success")
    assert dockyard("tasks", "state", "chain", "c", RUN).stdout.strip() == "success"
    neither = dockyard("tasks", "render", "chain", "c", "no_such_run", ok=False)
    assert neither.exit_code == 1 and "neither a run of chain nor a date" in neither.stderr
    unknown = dockyard("tasks", "state", "chain", "a", "2030-01-01", ok=False)
    assert "DagRun for chain with run_id or execution_date of '2030-01-01' not found" in unknown.stderr


def test_tasks_clear_takes_airflows_flags(dockyard: Dockyard) -> None:
    dockyard("dags", "trigger", "chain", "-e", "2024-03-01")
    dockyard("dags", "trigger", "chain", "-e", "2024-04-01", "-r", "april")
    start_run(dockyard)
    start_run(dockyard, "april")
    store = dockyard.store()
    for run_id in (RUN, "april"):
        store.set_ti_state("chain", run_id, ["a", "b"], TaskState.SUCCESS)
        store.set_ti_state("chain", run_id, ["c"], TaskState.FAILED)
    store.close()
    assert dockyard("tasks", "clear", "chain", "-r", "-y").stdout.strip() == "No task instances to clear"
    listed = dockyard("tasks", "clear", "chain", "-t", "^b$", "-u", "-s", "2024-03-15", input="n\n").stdout
    assert "april: a, b" in listed and RUN not in listed and "Cancelled" in listed
    assert (
        "april: b, c" in dockyard("tasks", "clear", "chain", "-t", "^b$", "-d", "--run-id", "april", input="n\n").stdout
    )
    cleared = dockyard("tasks", "clear", "chain", "-f", "-e", "2024-03-15", "-y", "-x", "-X").stdout
    assert f"{RUN}: c" in cleared and "Cleared 1 task instance(s)." in cleared
    states = {t["task_id"]: t["state"] for t in dockyard.json("tasks", "states-for-dag-run", "chain", RUN)}
    assert states == {"a": "success", "b": "success", "c": None}
    many = dockyard("tasks", "clear", "^chain", "-R", "-t", "^a$", "-y").stdout
    assert f"chain {RUN}: a" in many and "chain april: a" in many


def test_tasks_list_as_a_tree(sqlite_dockyard: Dockyard) -> None:
    tree = sqlite_dockyard("tasks", "list", "chain", "--tree").stdout.splitlines()
    assert tree == [
        "<Task(EmptyOperator): a>",
        "    <Task(EmptyOperator): b>",
        "        <Task(BashOperator): c>",
    ]
    assert [t["task_id"] for t in sqlite_dockyard.json("tasks", "list", "chain")] == ["a", "b", "c"]


def test_tasks_test_dry_run_renders_without_running(sqlite_dockyard: Dockyard) -> None:
    result = sqlite_dockyard("tasks", "test", "chain", "c", "2024-02-02", "-t", '{"n": 9}', "--dry-run")
    assert "echo day 2024-02-02 n=9" in result.stdout and "XCom" not in result.stdout
    assert json.loads(sqlite_dockyard("dags", "list-runs", "-d", "chain", "-o", "json").stdout) == []


CLOCK_SENSORS = """
from datetime import datetime, timedelta
from airflow import DAG
from airflow.sensors.date_time import DateTimeSensor
from airflow.sensors.time_delta import TimeDeltaSensor

with DAG("clock", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False):
    TimeDeltaSensor(task_id="passed", delta=timedelta(hours=1), mode="reschedule")
    DateTimeSensor(task_id="soon", target_time="{{ macros.datetime.now(macros.dateutil.tz.UTC)"
                   " + macros.timedelta(seconds=1.5) }}", poke_interval=0.5, mode="reschedule")
    DateTimeSensor(task_id="never", target_time="2999-01-01T00:00:00+00:00", poke_interval=0.5, timeout=1.2)
    DateTimeSensor(task_id="never_soft", target_time="2999-01-01T00:00:00+00:00", poke_interval=0.5, timeout=1,
                   soft_fail=True)
"""


def test_tasks_test_pokes_a_clock_sensor_in_process_until_it_is_done(sqlite_dockyard: Dockyard) -> None:
    (sqlite_dockyard.dags / "clock.py").write_text(CLOCK_SENSORS)
    done = sqlite_dockyard("tasks", "test", "clock", "passed", "2024-02-02")
    assert "Poke 1: done (waited until 2024-02-02T01:00:00+00:00)" in done.output and "succeeded" in done.output
    waited = sqlite_dockyard("tasks", "test", "clock", "soon")  # reschedule mode pokes on here until it is done
    assert "Poke 2: not yet" in waited.output and "succeeded" in waited.output
    late = sqlite_dockyard("tasks", "test", "clock", "never", ok=False)
    assert late.exit_code == 1 and "Sensor has timed out" in late.output
    soft = sqlite_dockyard("tasks", "test", "clock", "never_soft")
    assert "was skipped" in soft.output

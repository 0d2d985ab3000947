"""The scheduler on the real engine and a real SQLite database: runs, XComs, retries, trigger rules,
timeouts, schedules, limits, stop requests and DAG folder changes."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dockyard.errors import InvalidParamsError
from dockyard.scheduler import Scheduler, scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store, TaskState
from tests.helpers import labelled, wait_for, write_dag

pytestmark = pytest.mark.engine
UTC = dt.timezone.utc


@pytest.fixture
def env(tmp_path: Path, engine: docker.APIClient, database_url: str) -> Iterator[tuple[Settings, Store]]:
    """Settings and a store for one scheduler test, on SQLite and again on PostgreSQL."""
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path / "home"),
            "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags"),
            "DOCKYARD_PARALLELISM": "4",
            "DOCKYARD_STOP_GRACE_SECONDS": "1",
            "DOCKYARD_DATABASE_URL": database_url,
        }
    )
    (tmp_path / "dags").mkdir()
    store = Store.open(settings)
    yield settings, store
    store.close()


def finished(store: Store, dag_id: str, run_id: str) -> str | None:
    state = store.get_run(dag_id, run_id).state
    return state if state in ("success", "failed") else None


def states(store: Store, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in store.list_task_instances(dag_id, run_id)}


def run_once(settings: Settings, store: Store, dag_id: str, timeout: float = 90, **trigger: object) -> str:
    """Trigger ``dag_id`` under a running scheduler and wait for the run to finish; returns its run_id."""
    with scheduler_running(settings, store) as scheduler:
        run = trigger_run(settings, store, scheduler.dags[dag_id], **trigger)  # type: ignore[arg-type]
        wait_for(lambda: finished(store, dag_id, run.run_id), timeout, f"run {run.run_id}")
    return run.run_id


def test_an_etl_passes_xcoms_from_stage_to_stage(env: tuple[Settings, Store]) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "etl",
        """
with DAG("etl", start_date=START, schedule=None, default_args=ARGS, params={"n": Param(3, type="integer")}) as dag:
    extract = DockerOperator(task_id="extract", command="sh -c 'echo rows={{ params.n }}'")
    transform = DockerOperator(task_id="transform",
        command="sh -c 'echo got {{ ti.xcom_pull(task_ids=\\"extract\\") }}; echo \\"[1, 2, 3]\\" > /tmp/out'",
        retrieve_output=True, retrieve_output_path="/tmp/out")
    load = DockerOperator(task_id="load", command="echo loaded {{ ti.xcom_pull(task_ids='transform') | length }}",
        private_environment={"DB_PASSWORD": "pw-canary-77"}, environment={"SHOWN": "{{ ds }}"})
    extract >> transform >> load
""",
    )
    run_id = run_once(settings, store, "etl", conf={"n": 5})
    assert store.get_run("etl", run_id).state == "success"
    assert states(store, "etl", run_id) == {"extract": "success", "transform": "success", "load": "success"}
    assert store.get_xcom("etl", run_id, "extract") == "rows=5"
    assert store.get_xcom("etl", run_id, "transform") == [1, 2, 3]
    assert store.get_xcom("etl", run_id, "load") == "loaded 3"
    load = store.get_task_instance("etl", run_id, "load")
    assert load.rendered is not None and load.rendered["command"] == "echo loaded 3"
    assert "pw-canary-77" not in str(load.rendered)


def test_a_failing_task_is_retried_and_every_try_is_kept(env: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = env
    work = tmp_path / "work"
    work.mkdir()
    write_dag(
        settings.dags_folder,
        "flaky",
        f'''
with DAG("flaky", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="flaky", retries=2, mounts=["{work}:/work"],
        command=["sh", "-c", "echo x >> /work/attempts; n=$(wc -l < /work/attempts); echo try $n; [ $n -ge 2 ]"])
''',
    )
    run_id = run_once(settings, store, "flaky")
    ti = store.get_task_instance("flaky", run_id, "flaky")
    assert (ti.state, ti.try_number) == ("success", 2)
    assert [(t.try_number, t.state, t.exit_code) for t in store.list_tries("flaky", run_id, "flaky")] == [
        (1, "up_for_retry", 1),
        (2, "success", 0),
    ]
    logs = sorted((settings.logs_folder / "dag_id=flaky").rglob("attempt=*.log"))
    assert [p.name for p in logs] == ["attempt=1.log", "attempt=2.log"]
    assert "try 1" in logs[0].read_text() and "try 2" in logs[1].read_text()


def test_trigger_rules_propagate_failures(env: tuple[Settings, Store]) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "rules",
        """
with DAG("rules", start_date=START, schedule=None, default_args=ARGS) as dag:
    ok = DockerOperator(task_id="ok", command="true")
    bad = DockerOperator(task_id="bad", command=["sh", "-c", "exit 2"])
    after_bad = DockerOperator(task_id="after_bad", command="true")
    cleanup = DockerOperator(task_id="cleanup", command="true", trigger_rule=TriggerRule.ALL_DONE)
    alert = DockerOperator(task_id="alert", command="true", trigger_rule="one_failed")
    skipper = DockerOperator(task_id="skipper", command=["sh", "-c", "exit 99"], skip_on_exit_code=99)
    after_skip = EmptyOperator(task_id="after_skip")
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
    ok >> bad >> after_bad >> cleanup
    [ok, bad] >> alert
    skipper >> after_skip
    [ok, skipper] >> join
""",
    )
    run_id = run_once(settings, store, "rules")
    assert states(store, "rules", run_id) == {
        "ok": "success",
        "bad": "failed",
        "after_bad": "upstream_failed",
        "cleanup": "success",
        "alert": "success",
        "skipper": "skipped",
        "after_skip": "skipped",
        "join": "success",
    }
    assert store.get_run("rules", run_id).state == "success"  # every leaf succeeded or was skipped
    write_dag(
        settings.dags_folder,
        "leaf_fails",
        """
with DAG("leaf_fails", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="a", command="true") >> DockerOperator(task_id="b", command=["sh", "-c", "exit 1"])
""",
    )
    run_id = run_once(settings, store, "leaf_fails")
    assert store.get_run("leaf_fails", run_id).state == "failed"


def test_execution_timeout_stops_the_container(env: tuple[Settings, Store], engine: docker.APIClient) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "slow",
        """
with DAG("slow", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="slow", command=["sh", "-c", "exec sleep 60"], execution_timeout=dt.timedelta(seconds=1))
""",
    )
    run_id = run_once(settings, store, "slow")
    [attempt] = store.list_tries("slow", run_id, "slow")
    assert attempt.state == "failed" and "execution_timeout of 1 s" in (attempt.error or "")
    assert [c["State"] for c in labelled(engine, dag_id="slow", instance=store.instance_id())] == ["exited"]


def test_scheduled_runs_catch_up_with_their_dates(env: tuple[Settings, Store]) -> None:
    settings, store = env
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=3)
    write_dag(
        settings.dags_folder,
        "daily",
        f'''
with DAG("daily", start_date=dt.datetime.fromisoformat("{start.isoformat()}"), schedule="@daily", catchup=True,
         default_args=ARGS) as dag:
    DockerOperator(task_id="day", command="echo {{{{ ds }}}} {{{{ data_interval_end | ds }}}} {{{{ next_ds }}}}")
''',
    )
    with scheduler_running(settings, store):
        wait_for(lambda: len([r for r in store.list_runs("daily") if r.state == "success"]) == 3, 90, "three runs")
    runs = sorted(store.list_runs("daily"), key=lambda r: r.logical_date)
    assert [r.logical_date for r in runs] == [start + dt.timedelta(days=i) for i in range(3)]
    for run in runs:
        day, end = run.logical_date, run.logical_date + dt.timedelta(days=1)
        assert run.run_id == f"scheduled__{day.isoformat()}" and run.run_type == "scheduled"
        assert store.get_xcom("daily", run.run_id, "day") == f"{day:%Y-%m-%d} {end:%Y-%m-%d} {end:%Y-%m-%d}"
    assert store.get_dag("daily").next_dagrun == today + dt.timedelta(days=1)


def test_max_active_tasks_keeps_tasks_apart(env: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = env
    work = tmp_path / "times"
    work.mkdir()
    write_dag(
        settings.dags_folder,
        "narrow",
        f'''
with DAG("narrow", start_date=START, schedule=None, default_args=ARGS, max_active_tasks=1) as dag:
    for i in range(3):
        now = "cut -d' ' -f1 /proc/uptime"
        DockerOperator(task_id=f"t{{i}}", mounts=["{work}:/w"],
            command=["sh", "-c", f"{{now}} > /w/{{i}}.start; sleep 0.7; {{now}} > /w/{{i}}.end"])
''',
    )
    run_once(settings, store, "narrow")
    spans = sorted((float((work / f"{i}.start").read_text()), float((work / f"{i}.end").read_text())) for i in range(3))
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))


def test_a_pool_with_one_slot_runs_one_task_at_a_time(env: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = env
    store.set_pool("single", 1, "one at a time")
    work = tmp_path / "pool"
    work.mkdir()
    write_dag(
        settings.dags_folder,
        "pooled",
        f'''
with DAG("pooled", start_date=START, schedule=None, default_args=ARGS) as dag:
    for i in range(3):
        now = "cut -d' ' -f1 /proc/uptime"
        DockerOperator(task_id=f"t{{i}}", pool="single", mounts=["{work}:/w"],
            command=["sh", "-c", f"{{now}} > /w/{{i}}.start; sleep 0.5; {{now}} > /w/{{i}}.end"])
''',
    )
    run_once(settings, store, "pooled")
    spans = sorted((float((work / f"{i}.start").read_text()), float((work / f"{i}.end").read_text())) for i in range(3))
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
    assert [(p.name, p.slots) for p in store.list_pools()] == [("default_pool", 128), ("single", 1)]


def test_a_stop_request_stops_the_container(env: tuple[Settings, Store], engine: docker.APIClient) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "stopme",
        """
with DAG("stopme", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="long", command=["sh", "-c", "echo started; exec sleep 120"], retries=3)
""",
    )
    with scheduler_running(settings, store) as scheduler:
        run = trigger_run(settings, store, scheduler.dags["stopme"])
        instance = store.instance_id()

        def running() -> list[dict[str, object]]:
            return [c for c in labelled(engine, dag_id="stopme", instance=instance) if c["State"] == "running"]

        wait_for(running, 60, "the container")
        store.set_ti_state("stopme", run.run_id, ["long"], TaskState.FAILED)
        scheduler.wake.set()
        wait_for(lambda: not running(), 30, "the stop")
        wait_for(lambda: finished(store, "stopme", run.run_id), 30, "the run to end")
    assert store.get_task_instance("stopme", run.run_id, "long").state == "failed"
    assert store.get_task_instance("stopme", run.run_id, "long").try_number == 1  # stopped by a person: no retry


def test_dag_folder_changes_are_picked_up_without_a_restart(env: tuple[Settings, Store]) -> None:
    settings, store = env
    write_dag(settings.dags_folder, "first", 'DAG("first", start_date=START, schedule=None)\n')
    with scheduler_running(settings, store):
        wait_for(lambda: [d.dag_id for d in store.list_dags()] == ["first"], 30, "the first DAG")
        write_dag(settings.dags_folder, "second", 'DAG("second", start_date=START, schedule=None)\n')
        (settings.dags_folder / "broken.py").write_text("from dockyard import DAG\nDAG('broken', shedule=None)\n")
        wait_for(lambda: [d.dag_id for d in store.list_dags()] == ["first", "second"], 30, "the new DAG")
        wait_for(lambda: store.list_import_errors(), 30, "the import error")
    [error] = store.list_import_errors()
    assert error.filename.endswith("broken.py") and "did you mean 'schedule'" in error.message


def test_params_are_validated_when_a_run_is_triggered(env: tuple[Settings, Store]) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "typed",
        """
with DAG("typed", start_date=START, schedule=None, params={"n": Param(1, type="integer", minimum=1)}) as dag:
    EmptyOperator(task_id="noop")
""",
    )
    scheduler = Scheduler(settings, store)
    scheduler.refresh_dags(force=True)
    with pytest.raises(InvalidParamsError, match="DAG 'typed': param 'n': 0 is less than the minimum of 1"):
        trigger_run(settings, store, scheduler.dags["typed"], conf={"n": 0})
    assert store.list_runs("typed") == []
    scheduler.shutdown()


def test_depends_on_past_waits_for_the_previous_run(env: tuple[Settings, Store]) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "past",
        """
with DAG("past", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="step", depends_on_past=True,
                   command=["sh", "-c", "test {{ params.get('fail', 0) }} = 0"])
""",
    )
    with scheduler_running(settings, store) as scheduler:
        dag = scheduler.dags["past"]
        first = trigger_run(settings, store, dag, conf={"fail": 1}, logical_date=dt.datetime(2024, 1, 1, tzinfo=UTC))
        wait_for(lambda: finished(store, "past", first.run_id), 60, "the first run")
        second = trigger_run(settings, store, dag, logical_date=dt.datetime(2024, 1, 2, tzinfo=UTC))
        wait_for(lambda: store.get_run("past", second.run_id).state == "running", 30, "the second run to start")
        import time

        time.sleep(3)  # several scheduler passes: the step must keep waiting for its failed predecessor
        assert states(store, "past", second.run_id) == {"step": None}
        store.set_ti_state("past", first.run_id, ["step"], TaskState.SUCCESS)
        scheduler.wake.set()
        wait_for(lambda: finished(store, "past", second.run_id), 60, "the second run")
    assert states(store, "past", second.run_id) == {"step": "success"}


def test_max_active_runs_and_callbacks(env: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = env
    calls = tmp_path / "calls.txt"
    write_dag(
        settings.dags_folder,
        "one_at_a_time",
        f'''
def note(what):
    def callback(context):
        with open("{calls}", "a") as handle:
            task = context.get("task")  # a DAG's callback gets its last task instance's context, as in Airflow
            handle.write(f"{{what}} {{context['run_id']}} {{task.task_id if task else '-'}}\\n")
    return callback

with DAG("one_at_a_time", start_date=START, schedule=None, default_args=ARGS, max_active_runs=1,
         on_success_callback=note("dag-success"), on_failure_callback=note("dag-failure")) as dag:
    DockerOperator(task_id="work", command=["sh", "-c", "sleep 1; test {{{{ params.get('fail', 0) }}}} = 0"],
                   on_success_callback=note("task-success"), on_failure_callback=note("task-failure"))
''',
    )
    seen_running: list[int] = []
    with scheduler_running(settings, store) as scheduler:
        dag = scheduler.dags["one_at_a_time"]
        runs = [
            trigger_run(
                settings,
                store,
                dag,
                conf={"fail": int(i == 2)},
                run_id=f"r{i}",
                logical_date=dt.datetime(2024, 1, 1 + i, tzinfo=UTC),
            )
            for i in range(3)
        ]

        def all_done() -> bool:
            seen_running.append(len(store.list_runs("one_at_a_time", states=["running"])))
            return all(finished(store, "one_at_a_time", r.run_id) for r in runs)

        wait_for(all_done, 90, "three runs")
    assert max(seen_running) == 1
    assert [store.get_run("one_at_a_time", f"r{i}").state for i in range(3)] == ["success", "success", "failed"]
    lines = calls.read_text().splitlines()
    assert sorted(lines) == sorted(
        [
            "task-success r0 work",
            "dag-success r0 work",
            "task-success r1 work",
            "dag-success r1 work",
            "task-failure r2 work",
            "dag-failure r2 work",
        ]
    )


def test_dagrun_timeout_fails_the_run_and_stops_its_containers(
    env: tuple[Settings, Store], engine: docker.APIClient
) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "too_slow",
        """
with DAG("too_slow", start_date=START, schedule=None, default_args=ARGS,
         dagrun_timeout=dt.timedelta(seconds=4)) as dag:
    DockerOperator(task_id="sleeps", command=["sleep", "60"]) >> DockerOperator(task_id="after", command="true")
""",
    )
    started = dt.datetime.now(UTC)
    run_id = run_once(settings, store, "too_slow", timeout=60)
    assert store.get_run("too_slow", run_id).state == "failed"
    assert (dt.datetime.now(UTC) - started).total_seconds() < 40
    assert states(store, "too_slow", run_id) == {"sleeps": "skipped", "after": "skipped"}
    wait_for(lambda: not [c for c in labelled(engine, dag_id="too_slow") if c["State"] == "running"], 30, "the stop")


def test_max_active_tis_per_dag_on_execute_callback_and_wait_for_downstream(
    env: tuple[Settings, Store], tmp_path: Path
) -> None:
    settings, store = env
    calls = tmp_path / "executed.txt"
    write_dag(
        settings.dags_folder,
        "limited",
        f"""
def note(context):
    with open({str(calls)!r}, "a") as handle:
        handle.write(context["ti"].task_id + " " + context["run_id"] + "\\n")

with DAG("limited", start_date=START, schedule=None, default_args=ARGS, max_active_runs=3) as dag:
    DockerOperator(task_id="one_at_a_time", max_active_tis_per_dag=1, on_execute_callback=note,
                   command=["sh", "-c", "cut -d' ' -f1 /proc/uptime; sleep 1; cut -d' ' -f1 /proc/uptime"],
                   xcom_all=True)
""",
    )
    with scheduler_running(settings, store) as scheduler:
        runs = [
            trigger_run(
                settings,
                store,
                scheduler.dags["limited"],
                run_id=f"l{i}",
                logical_date=dt.datetime(2024, 1, 1 + i, tzinfo=UTC),
            )
            for i in range(3)
        ]
        wait_for(lambda: all(finished(store, "limited", r.run_id) for r in runs), 90, "three runs")
    spans = sorted(tuple(float(x) for x in store.get_xcom("limited", r.run_id, "one_at_a_time")) for r in runs)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"two tries of one_at_a_time overlapped: {spans}"
    assert sorted(calls.read_text().splitlines()) == [f"one_at_a_time l{i}" for i in range(3)]

    write_dag(
        settings.dags_folder,
        "downstream_first",
        """
with DAG("downstream_first", start_date=START, schedule=None, default_args=ARGS) as dag:
    first = DockerOperator(task_id="first", wait_for_downstream=True, command="true")
    first >> DockerOperator(task_id="second", command=["sh", "-c", "test {{ params.get('fail', 0) }} = 0"])
""",
    )
    with scheduler_running(settings, store) as scheduler:
        dag = scheduler.dags["downstream_first"]
        earlier = trigger_run(settings, store, dag, conf={"fail": 1}, logical_date=dt.datetime(2024, 1, 1, tzinfo=UTC))
        wait_for(lambda: finished(store, "downstream_first", earlier.run_id), 60, "the first run")
        later = trigger_run(settings, store, dag, logical_date=dt.datetime(2024, 1, 2, tzinfo=UTC))
        wait_for(lambda: store.get_run("downstream_first", later.run_id).state == "running", 30, "the second run")
        import time

        time.sleep(3)  # first succeeded last time, but its downstream task failed: it waits
        assert states(store, "downstream_first", later.run_id) == {"first": None, "second": None}
        store.set_ti_state("downstream_first", earlier.run_id, ["second"], TaskState.SUCCESS)
        scheduler.wake.set()
        wait_for(lambda: finished(store, "downstream_first", later.run_id), 60, "the second run")

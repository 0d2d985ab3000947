"""Sensors as authored, and their pure rules: poke timing (exponential backoff, max_wait, timeout), what a
verdict makes of the task instance, and the pokes of the clock sensors (runs are in tests/engine/test_sensors.py)."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.compat import airflow as compat
from dockyard.container.options import ContainerOptions
from dockyard.errors import DagDefinitionError
from dockyard.operators.scheduler_sensors import DateTimeSensor, ExternalTaskSensor, TimeDeltaSensor, TimeSensor
from dockyard.operators.sensors import START, BaseSensorOperator, FileSensor, PythonSensor
from dockyard.preparation import TryContext, prepare
from dockyard.sensing import poke_once, settle
from dockyard.sensor_program import next_poke_interval, timed_out
from dockyard.serialized import SerializedTask
from dockyard.settings import Settings
from dockyard.states import TaskState
from tests.helpers import make_dag

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 1, 31, tzinfo=UTC)
TIMING = {
    "dag_id": "d",
    "task_id": "t",
    "mode": "reschedule",
    "poke_interval": 60.0,
    "timeout": 3600.0,
    "exponential_backoff": False,
    "max_wait": None,
    "soft_fail": False,
    "silent_fail": False,
    "never_fail": False,
    "push": True,
}


def ready(_: Any = None) -> bool:
    return True


# -- timing -------------------------------------------------------------------------------------
def test_without_backoff_every_wait_is_the_poke_interval() -> None:
    assert [next_poke_interval(TIMING, "s", n, 10.0 * n) for n in (1, 2, 50)] == [60.0, 60.0, 60.0]


def test_exponential_backoff_doubles_from_half_the_interval_with_a_jitter_below_the_floor() -> None:
    timing = {**TIMING, "exponential_backoff": True, "timeout": 10**9}
    waits = [next_poke_interval(timing, "2024-01-31T00:00:00", n, 0.0) for n in range(1, 8)]
    floors = [max(int(60 * 2 ** (n - 2)), 1) for n in range(1, 8)]
    assert floors == [30, 60, 120, 240, 480, 960, 1920]
    assert all(floor <= wait < 2 * floor for wait, floor in zip(waits, floors, strict=True))
    assert waits == [next_poke_interval(timing, "2024-01-31T00:00:00", n, 0.0) for n in range(1, 8)]  # same hash
    assert next_poke_interval(timing, "another start", 3, 0.0) != waits[2] or floors[2] == 1


def test_backoff_stops_at_max_wait_and_at_the_timeout_and_is_at_least_a_second() -> None:
    timing = {**TIMING, "exponential_backoff": True, "timeout": 10**9, "max_wait": 100.0}
    assert next_poke_interval(timing, "s", 20, 0.0) == 100.0
    near_end = {**TIMING, "exponential_backoff": True, "timeout": 1000.0}
    assert next_poke_interval(near_end, "s", 20, 990.0) == 10.0
    tiny = {**TIMING, "exponential_backoff": True, "poke_interval": 0.1}
    assert next_poke_interval(tiny, "s", 1, 0.0) >= 1.0


def test_timeout_counts_only_beyond_the_limit() -> None:
    assert not timed_out(TIMING, 3600.0)
    assert timed_out(TIMING, 3600.5)


# -- verdicts -----------------------------------------------------------------------------------
def test_an_unmet_poke_is_rescheduled_by_the_interval_until_the_timeout() -> None:
    started = WHEN
    now = WHEN + dt.timedelta(minutes=10)
    settled = settle(TIMING, {"sensor": "waiting"}, started_at=started, poke_count=3, now=now)
    assert settled.state is TaskState.UP_FOR_RESCHEDULE
    assert settled.reschedule_at == now + dt.timedelta(seconds=60)
    late = settle(TIMING, {"sensor": "waiting"}, started_at=started, poke_count=3, now=WHEN + dt.timedelta(hours=2))
    assert (late.state, late.retry) == (TaskState.FAILED, False)  # a sensor's timeout is not retried
    assert "exceeds the specified timeout of 3600" in late.message
    soft = settle(
        {**TIMING, "soft_fail": True}, {"sensor": "waiting"}, started_at=started, poke_count=9, now=late_now()
    )
    assert soft.state is TaskState.SKIPPED


def late_now() -> dt.datetime:
    return WHEN + dt.timedelta(days=1)


def test_the_timing_a_verdict_carries_wins_over_the_stored_one() -> None:
    """A mapped sensor's instance may have its own timing (``expand(timeout=...)``): its verdict says which."""
    started, now = WHEN, WHEN + dt.timedelta(seconds=90)
    own = {"timeout": 60.0, "soft_fail": True, "poke_interval": 5.0}
    settled = settle(TIMING, {"sensor": "waiting", "timing": own}, started_at=started, poke_count=2, now=now)
    assert settled.state is TaskState.SKIPPED and "timeout of 60" in settled.message
    settled = settle(
        TIMING, {"sensor": "waiting", "timing": {"poke_interval": 5.0}}, started_at=started, poke_count=2, now=now
    )
    assert settled.reschedule_at == now + dt.timedelta(seconds=5)


def test_done_pushes_the_xcom_value_unless_do_xcom_push_is_off() -> None:
    done = {"sensor": "done", "xcom": {"rows": 3}}
    assert settle(TIMING, done, started_at=WHEN, poke_count=1, now=WHEN).xcom == {"rows": 3}
    assert settle({**TIMING, "push": False}, done, started_at=WHEN, poke_count=1, now=WHEN).xcom is None


def test_failures_skips_and_errors_follow_airflow() -> None:
    def state(verdict: dict[str, Any], **timing: Any) -> tuple[TaskState, bool]:
        settled = settle({**TIMING, **timing}, verdict, started_at=WHEN, poke_count=1, now=WHEN)
        return settled.state, settled.retry

    assert state({"sensor": "fail", "message": "x"}) == (TaskState.FAILED, False)
    assert state({"sensor": "fail"}, soft_fail=True) == (TaskState.SKIPPED, True)
    assert state({"sensor": "error"}) == (TaskState.FAILED, True)  # an external task failed: retried
    assert state({"sensor": "error"}, never_fail=True) == (TaskState.SKIPPED, True)
    assert state({"sensor": "skip"}) == (TaskState.SKIPPED, True)
    assert state({"sensor": "timeout"}) == (TaskState.FAILED, False)
    assert state({}) == (TaskState.FAILED, True)


# -- authoring ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "wait"}, "mode must be one of 'poke', 'reschedule', got 'wait'"),
        ({"poke_interval": -1}, "poke_interval must be a non-negative number"),
        ({"timeout": "1h"}, "timeout must be a non-negative number of seconds or a timedelta, got '1h'"),
        ({"max_wait": -3}, "max_wait must be"),
        ({"soft_fail": True, "never_fail": True}, "soft_fail and never_fail cannot both be set"),
    ],
)
def test_bad_sensor_arguments_are_refused_clearly(kwargs: dict[str, Any], message: str) -> None:
    with make_dag(), pytest.raises(DagDefinitionError, match=message):
        PythonSensor(task_id="s", python_callable=ready, **kwargs)


def test_timedelta_arguments_are_seconds_and_defaults_are_airflows() -> None:
    with make_dag():
        sensor = PythonSensor(task_id="s", python_callable=ready, poke_interval=dt.timedelta(minutes=2))
    assert (sensor.poke_interval, sensor.timeout, sensor.mode) == (120.0, 7 * 24 * 3600.0, "poke")


def test_a_sensor_subclass_without_poke_is_refused_at_parse_time() -> None:
    class Forgetful(BaseSensorOperator):
        pass

    with make_dag(), pytest.raises(DagDefinitionError, match="Forgetful is a sensor without a poke"):
        Forgetful(task_id="s")


def test_user_pokes_run_in_containers_and_clock_sensors_in_the_scheduler() -> None:
    class Mine(BaseSensorOperator):
        def poke(self, context: Any) -> bool:
            return True

    class LaterDelta(TimeDeltaSensor):
        def poke(self, context: Any) -> bool:
            return True

    with make_dag():
        tasks = [
            Mine(task_id="mine"),
            PythonSensor(task_id="python", python_callable=ready),
            FileSensor(task_id="file", filepath="/in/x"),
            LaterDelta(task_id="later", delta=dt.timedelta(1)),
            TimeDeltaSensor(task_id="delta", delta=dt.timedelta(hours=1), mode="reschedule"),
            DateTimeSensor(task_id="dt", target_time="{{ data_interval_end }}"),
            TimeSensor(task_id="time", target_time=dt.time(6, 30)),
            ExternalTaskSensor(task_id="ext", external_dag_id="other", external_task_id="load"),
        ]
    serialized = {t.task_id: SerializedTask.of(t) for t in tasks}
    assert {k: v.runs_container for k, v in serialized.items()} == {
        "mine": True,
        "python": True,
        "file": True,
        "later": True,
        "delta": False,
        "dt": False,
        "time": False,
        "ext": False,
    }
    delta = serialized["delta"].sensor
    assert delta is not None and (delta["kind"], delta["delta"], delta["mode"], delta["prepare"]) == (
        "time_delta",
        3600.0,
        "reschedule",
        False,
    )
    assert serialized["dt"].sensor is not None and serialized["dt"].sensor["prepare"] is True
    assert serialized["later"].sensor is not None and serialized["later"].sensor["kind"] == "container"
    assert SerializedTask.from_json(serialized["ext"].to_json()) == serialized["ext"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"external_task_id": "a", "external_task_ids": ["b"]}, "only one of external_task_id or external_task_ids"),
        ({"external_task_ids": ["a", "a"]}, "duplicates"),
        ({"execution_delta": dt.timedelta(1), "execution_date_fn": ready}, "only one of execution_delta"),
        ({"external_task_id": "a", "failed_states": ["success"]}, r"\['success'\] appear in more than one"),
        ({"external_task_id": "a", "allowed_states": ["done"]}, "'done', which is not a task instance state"),
        ({"allowed_states": ["skipped"]}, "'skipped', which is not a DAG run state"),
        ({"external_task_group_id": "g", "external_task_id": "a"}, "cannot be given together"),
        ({"external_task_group_id": "g", "allowed_states": ["queued", "done"]}, "'done', which is not a task instance"),
    ],
)
def test_external_task_sensor_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with make_dag(), pytest.raises(DagDefinitionError, match=message):
        ExternalTaskSensor(task_id="s", external_dag_id="other", **kwargs)


def test_clock_sensors_poke_against_the_run_and_the_clock() -> None:
    context = TryContext(
        dag_id="d", task_id="t", run_id="r", logical_date=WHEN, data_interval=(WHEN, WHEN + dt.timedelta(days=1))
    )
    delta = {"kind": "time_delta", "delta": 3600.0}
    at = WHEN + dt.timedelta(days=1, hours=1)
    assert poke_once(delta, context, None, at)[0] == {"sensor": "waiting"}  # type: ignore[arg-type]
    assert poke_once(delta, context, None, at + dt.timedelta(seconds=1))[0] == {"sensor": "done"}  # type: ignore[arg-type]
    target = {"kind": "date_time", "target": "2024-02-01 06:00"}  # naive: UTC, as Airflow
    assert poke_once(target, context, None, WHEN)[0]["sensor"] == "waiting"  # type: ignore[arg-type]
    assert poke_once(target, context, None, dt.datetime(2024, 2, 1, 6, 1, tzinfo=UTC))[0]["sensor"] == "done"  # type: ignore[arg-type]
    with make_dag(start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))):
        clock = TimeSensor(task_id="t", target_time=dt.time(6, 30)).watched()
    assert poke_once(clock, context, None, dt.datetime(2024, 2, 1, 4, 29, tzinfo=UTC))[0]["sensor"] == "waiting"  # type: ignore[arg-type]
    assert poke_once(clock, context, None, dt.datetime(2024, 2, 1, 4, 31, tzinfo=UTC))[0]["sensor"] == "done"  # type: ignore[arg-type]


def test_a_templated_datetime_sensor_is_rendered_in_preparation(tmp_path: Path) -> None:
    with make_dag() as dag:
        sensor = DateTimeSensor(task_id="s", target_time="{{ macros.ds_add(ds, 1) }}T06:00:00")
    prepared = prepare(dag, sensor, TryContext(dag_id=dag.dag_id, task_id="s", run_id="r", logical_date=WHEN))
    assert (prepared.kind, prepared.options["target"]) == ("sensor", "2024-02-01T06:00:00")


def test_execution_date_fn_is_called_in_preparation_with_the_context_it_asks_for() -> None:
    def two_hours_back(logical_date: dt.datetime, ds: str | None = None) -> list[dt.datetime]:
        assert ds == "2024-01-31"
        return [logical_date - dt.timedelta(hours=2), logical_date - dt.timedelta(hours=1)]

    with make_dag() as dag:
        sensor = ExternalTaskSensor(task_id="s", external_dag_id="up", execution_date_fn=two_hours_back)
    prepared = prepare(dag, sensor, TryContext(dag_id=dag.dag_id, task_id="s", run_id="r", logical_date=WHEN))
    assert prepared.options["dates"] == ["2024-01-30T22:00:00+00:00", "2024-01-30T23:00:00+00:00"]


def test_a_python_sensor_runs_the_poke_loop_in_the_task_image(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DAGS_FOLDER": str(tmp_path)})
    with make_dag() as dag:
        sensor = PythonSensor(
            task_id="s", python_callable=ready, op_kwargs={"n": "{{ ds }}"}, mode="reschedule", poke_interval=5
        )
    dag.fileloc = str(tmp_path / "dag.py")
    prepared = prepare(
        dag, sensor, TryContext(dag_id=dag.dag_id, task_id="s", run_id="r", logical_date=WHEN), settings=settings
    )
    options = ContainerOptions.from_json(prepared.options)
    assert options.command == ("python3", "-c", START)
    assert "def poke_loop" in options.environment["DOCKYARD_SENSOR"]
    payload = json.loads(options.environment["DOCKYARD_TASK"])
    assert payload["op_kwargs"] == {"n": "2024-01-31"}
    assert (payload["sensor"]["kind"], payload["sensor"]["mode"], payload["sensor"]["poke_interval"]) == (
        "callable",
        "reschedule",
        5.0,
    )
    assert options.retrieve_output and options.skip_on_exit_code == frozenset({99})


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("airflow.sensors.base", "BaseSensorOperator"),
        ("airflow.sensors.base", "PokeReturnValue"),
        ("airflow.sensors.python", "PythonSensor"),
        ("airflow.sensors.filesystem", "FileSensor"),
        ("airflow.sensors.bash", "BashSensor"),
        ("airflow.sensors.time_delta", "TimeDeltaSensor"),
        ("airflow.sensors.date_time", "DateTimeSensor"),
        ("airflow.sensors.time_sensor", "TimeSensor"),
        ("airflow.sensors.external_task", "ExternalTaskSensor"),
        ("airflow.providers.standard.sensors.python", "PythonSensor"),
        ("airflow.providers.standard.sensors.external_task", "ExternalTaskSensor"),
        ("airflow.sdk", "BaseSensorOperator"),
        ("airflow.exceptions", "AirflowSensorTimeout"),
    ],
)
def test_sensors_import_from_airflows_module_paths(module: str, name: str) -> None:
    compat.install()
    assert getattr(importlib.import_module(module), name) is not None


def test_task_sensor_makes_a_python_sensor() -> None:
    compat.install()
    from airflow.decorators import task  # type: ignore[import-not-found]

    with make_dag() as dag:

        @task.sensor(poke_interval=30, timeout=600, mode="reschedule")
        def arrived() -> bool:
            return True

        arrived()
    sensor = dag.task_dict["arrived"]
    assert isinstance(sensor, PythonSensor)
    assert (sensor.poke_interval, sensor.timeout, sensor.mode) == (30.0, 600.0, "reschedule")


def test_async_sensors_wait_in_reschedule_mode_and_poke_mode_only_refuses_reschedule() -> None:
    compat.install()
    from airflow.sensors.base import poke_mode_only  # type: ignore[import-not-found]
    from airflow.sensors.external_task import ExternalTaskMarker  # type: ignore[import-not-found]
    from airflow.sensors.time_delta import TimeDeltaSensorAsync  # type: ignore[import-not-found]

    @poke_mode_only
    class Careful(BaseSensorOperator):
        def poke(self, context: Any) -> bool:
            return True

    with make_dag():
        waiting = TimeDeltaSensorAsync(task_id="later", delta=dt.timedelta(hours=1))
        marker = ExternalTaskMarker(task_id="marker", external_dag_id="down", external_task_id="wait")
        assert Careful(task_id="careful").mode == "poke"
        with pytest.raises(DagDefinitionError, match="Careful works in poke mode only"):
            Careful(task_id="eager", mode="reschedule")
        mapped = Careful.partial(task_id="many", mode="reschedule").expand(poke_interval=[1, 2])
    with pytest.raises(DagDefinitionError, match="'many': mode must be one of 'poke', got 'reschedule'"):
        SerializedTask.of(mapped)  # a mapped one is refused when its DAG is stored, before any instance runs
    assert waiting.mode == "reschedule" and not SerializedTask.of(waiting).runs_container
    assert SerializedTask.of(marker).sensor is None

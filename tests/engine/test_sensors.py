"""Sensors under the scheduler, on the real engine and on SQLite and PostgreSQL: user pokes in containers of the
task image (poke and reschedule mode), clock and store sensors in the scheduler, timeouts, soft_fail and the
try number of a rescheduled sensor, mapped sensors rescheduled per instance, from DAG files written as Airflow
users write them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import docker
import pytest
import sqlalchemy as sa

from dockyard.scheduler import scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.models import TaskRescheduleModel
from dockyard.store.sensors import Reschedule, list_reschedules
from dockyard.web.waiting import why_waiting
from tests.engine.test_scheduler import env, finished, states  # noqa: F401 - env is a fixture
from tests.engine.test_task_image import CONFIG
from tests.helpers import labelled, wait_for, write_dag

pytestmark = pytest.mark.engine

SENSOR_DAG = """
import json
from datetime import timedelta

from airflow import DAG
from airflow.decorators import task
from airflow.exceptions import AirflowSensorTimeout
from airflow.sensors.base import BaseSensorOperator, PokeReturnValue
from airflow.sensors.bash import BashSensor
from airflow.sensors.filesystem import FileSensor
from airflow.sensors.python import PythonSensor

CONFIG = {config}
WORK = "{work}"


def count_pokes(name, needed):
    with open(f"/work/{{name}}", "a") as handle:
        handle.write("poke\\n")
    with open(f"/work/{{name}}") as handle:
        n = len(handle.readlines())
    return PokeReturnValue(n >= needed, xcom_value={{"pokes": n}})


def fails_first(name):
    if count_pokes(name, 2).is_done:
        return True
    raise ValueError("the first poke breaks")


def gives_up():
    raise AirflowSensorTimeout("no data today")


def broken():
    raise ValueError("broken")


class CountingSensor(BaseSensorOperator):
    template_fields = ("name",)

    def __init__(self, *, name, needed, **kwargs):
        super().__init__(**kwargs)
        self.name = name
        self.needed = needed

    def poke(self, context):
        self.log.info("poking %s for run %s", self.name, context["run_id"])
        return count_pokes(self.name, self.needed).is_done


with DAG("sensors", start_date=START, schedule=None,
         default_args={{"executor_config": {{**CONFIG, "mounts": [f"{{WORK}}:/work"]}}, "retry_delay": 0}}) as dag:
    rescheduled = PythonSensor(task_id="rescheduled", python_callable=count_pokes, op_args=["r", 3],
                               mode="reschedule", poke_interval=1, retries=2)
    poking = CountingSensor(task_id="poking", name="p-{{{{ ds_nodash }}}}", needed=2, poke_interval=1)
    missing = FileSensor(task_id="missing", filepath="/work/never-there", poke_interval=1, timeout=2, soft_fail=True)
    timed_out = PythonSensor(task_id="timed_out", python_callable=lambda: False, mode="reschedule",
                             poke_interval=1, timeout=2, retries=3)

    @task.sensor(poke_interval=1, timeout=60, mode="reschedule")
    def file_arrives():
        import os
        return os.path.exists("/work/arrived")

    after = PythonSensor(task_id="after", python_callable=lambda: True)
    PythonSensor(task_id="silent", python_callable=fails_first, op_args=["s"], silent_fail=True, poke_interval=1)
    PythonSensor(task_id="gives_up", python_callable=gives_up, retries=2)
    PythonSensor(task_id="never", python_callable=broken, never_fail=True)
    BashSensor(task_id="bash", bash_command="n=$(cat /work/b 2>/dev/null | wc -l); echo x >> /work/b; [ $n -ge 1 ]",
               poke_interval=1)
    BashSensor(task_id="bash_fails", bash_command="exit 3", retry_exit_code=1, retries=2)
    rescheduled >> after
    file_arrives()
"""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder the sensors' containers see at /work."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def reschedules(store: Store, dag_id: str, task_id: str) -> list[int]:
    with store.session() as s:
        rows = s.scalars(
            sa.select(TaskRescheduleModel.try_number).where(
                TaskRescheduleModel.dag_id == dag_id, TaskRescheduleModel.task_id == task_id
            )
        )
        return list(rows)


def test_user_pokes_run_in_the_task_image_in_poke_and_reschedule_mode(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
    work: Path,
) -> None:
    settings, store = env
    write_dag(settings.dags_folder, "sensors", SENSOR_DAG.format(config=CONFIG, work=work))
    with scheduler_running(settings, store) as scheduler:
        run = trigger_run(settings, store, scheduler.dags["sensors"])
        # Between pokes nothing is held: the poke's container goes once its result is committed (the result is
        # written first, so for a moment the state is up_for_reschedule while the exited container is still there).
        wait_for(
            lambda: (
                states(store, "sensors", run.run_id).get("file_arrives") == "up_for_reschedule"
                and labelled(engine, dag_id="sensors", task_id="file_arrives") == []
            ),
            120,
            "file_arrives to wait for its next poke with no container held",
        )
        waiting = store.get_task_instance("sensors", run.run_id, "file_arrives")
        why = why_waiting(store, scheduler.dags["sensors"], store.get_run("sensors", run.run_id), waiting)
        assert why is not None and "condition was not met" in why.reasons[-1]
        assert "the next poke is due at" in why.reasons[-1]  # what the task panel shows between pokes
        (work / "arrived").write_text("yes")
        wait_for(lambda: finished(store, "sensors", run.run_id), 180, "the sensors' run")
    assert states(store, "sensors", run.run_id) == {
        "rescheduled": "success",
        "after": "success",
        "poking": "success",
        "missing": "skipped",
        "timed_out": "failed",
        "file_arrives": "success",
        "silent": "success",
        "gives_up": "failed",
        "never": "skipped",
        "bash": "success",
        "bash_fails": "failed",
    }
    rescheduled = store.get_task_instance("sensors", run.run_id, "rescheduled")
    assert rescheduled.try_number == 1  # three pokes, one try
    assert reschedules(store, "sensors", "rescheduled") == [1, 1]
    with store.session() as s:
        first = s.scalars(
            sa.select(TaskRescheduleModel.start_date)
            .where(TaskRescheduleModel.task_id == "rescheduled")
            .order_by(TaskRescheduleModel.start_date)
        ).first()
    assert rescheduled.start_date == first  # the task instance started at its first poke, as in Airflow
    assert store.get_xcom("sensors", run.run_id, "rescheduled") == {"pokes": 3}
    assert (work / "r").read_text().count("poke") == 3
    assert store.get_xcom("sensors", run.run_id, "poking") is None  # a plain True pushes nothing, as in Airflow
    ds = run.logical_date.strftime("%Y%m%d")
    assert (work / f"p-{ds}").read_text().count("poke") == 2  # one container poked twice
    timed_out = store.get_task_instance("sensors", run.run_id, "timed_out")
    assert timed_out.try_number == 1  # a sensor's timeout is not retried
    tries = store.list_tries("sensors", run.run_id, "timed_out")
    assert [t.state for t in tries] == ["failed"] and "exceeds the specified timeout" in (tries[0].error or "")
    gave_up = store.list_tries("sensors", run.run_id, "gives_up")
    assert [t.state for t in gave_up] == ["failed"] and "no data today" in (gave_up[0].error or "")
    assert (work / "s").read_text().count("poke") == 2  # silent_fail: the failed poke counted as "not yet"
    assert (work / "b").read_text().count("x") == 2
    bash_fails = store.list_tries("sensors", run.run_id, "bash_fails")
    assert len(bash_fails) == 1 and "Command exited with return code 3" in (bash_fails[0].error or "")
    log = (settings.logs_folder / "dag_id=sensors").rglob("task_id=poking/attempt=1.log")
    text = next(log).read_text()
    assert "poke 1: not yet" in text and f"poking p-{ds}" in text


CLOCK_DAG = """
from datetime import timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.sensors.date_time import DateTimeSensor
from airflow.sensors.external_task import ExternalTaskSensor
from airflow.sensors.time_delta import TimeDeltaSensor
from airflow.utils.task_group import TaskGroup

CONFIG = {config}

with DAG("upstream", start_date=START, schedule=None,
         default_args={{"executor_config": CONFIG, "retry_delay": 0}}) as upstream:
    BashOperator(task_id="produce", bash_command="sleep 3; echo made")
    BashOperator(task_id="break", bash_command="exit 1")
    with TaskGroup("publish"):
        BashOperator(task_id="one", bash_command="echo one")
        BashOperator(task_id="two", bash_command="echo two")

with DAG("clock", start_date=START, schedule=None, default_args={{"retry_delay": 0}}) as dag:
    TimeDeltaSensor(task_id="delta", delta=timedelta(seconds=12), mode="reschedule", poke_interval=1)
    DateTimeSensor(task_id="until", target_time="{{{{ data_interval_end }}}}", poke_interval=1)
    ExternalTaskSensor(task_id="produced", external_dag_id="upstream", external_task_id="produce",
                       mode="reschedule", poke_interval=1, timeout=120)
    ExternalTaskSensor(task_id="broken", external_dag_id="upstream", external_task_ids=["break"],
                       failed_states=["failed"], poke_interval=1, timeout=120)
    ExternalTaskSensor(task_id="never", external_dag_id="upstream", external_task_id="produce",
                       execution_delta=timedelta(days=1), poke_interval=1, timeout=2, soft_fail=True)
    ExternalTaskSensor(task_id="published", external_dag_id="upstream", external_task_group_id="publish",
                       mode="reschedule", poke_interval=1, timeout=120)
"""


def test_clock_and_store_sensors_poke_in_the_scheduler(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
) -> None:
    settings, store = env
    write_dag(settings.dags_folder, "clock", CLOCK_DAG.format(config=CONFIG))
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    with scheduler_running(settings, store) as scheduler:
        run = trigger_run(settings, store, scheduler.dags["clock"], logical_date=when)
        trigger_run(settings, store, scheduler.dags["upstream"], logical_date=when)
        wait_for(lambda: finished(store, "clock", run.run_id), 180, "the clock run")
    assert states(store, "clock", run.run_id) == {
        "delta": "success",
        "until": "success",
        "produced": "success",
        "broken": "failed",
        "never": "skipped",
        "published": "success",
    }
    delta = store.get_task_instance("clock", run.run_id, "delta")
    assert delta.try_number == 1 and len(reschedules(store, "clock", "delta")) >= 1
    broken = store.list_tries("clock", run.run_id, "broken")
    assert "Some of the external tasks ['break'] in DAG upstream failed." in (broken[-1].error or "")
    assert labelled(engine, dag_id="clock") == []  # these sensors never start a container


RESTART_DAG = """
from airflow import DAG
from airflow.sensors.filesystem import FileSensor
from airflow.sensors.python import PythonSensor

CONFIG = {config}


def go():
    import os
    return os.path.exists("/work/go")


with DAG("restart", start_date=START, schedule=None,
         default_args={{"executor_config": {{**CONFIG, "mounts": ["{work}:/work:ro"]}}}}) as dag:
    PythonSensor(task_id="go", python_callable=go, mode="reschedule", poke_interval=1, timeout=600)
    FileSensor(task_id="inbox", filepath="{dags}/inbox/*.csv", mode="reschedule", poke_interval=1, timeout=600)
"""


def test_a_rescheduled_sensor_survives_a_scheduler_restart_with_its_try_number(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
    work: Path,
) -> None:
    settings, store = env
    write_dag(settings.dags_folder, "restart", RESTART_DAG.format(config=CONFIG, work=work, dags=settings.dags_folder))
    with scheduler_running(settings, store) as scheduler:
        run = trigger_run(settings, store, scheduler.dags["restart"])
        wait_for(lambda: len(reschedules(store, "restart", "go")) >= 2, 120, "two unmet pokes of the sensor")
        wait_for(lambda: reschedules(store, "restart", "inbox"), 120, "an unmet poke of the file sensor")
    (work / "go").write_text("now")
    (settings.dags_folder / "inbox").mkdir()
    (settings.dags_folder / "inbox" / "day.csv").write_text("a,b\n")
    assert states(store, "restart", run.run_id)["go"] in ("up_for_reschedule", "running")
    with scheduler_running(settings, store):  # a new scheduler picks the waiting sensors up from the store
        wait_for(lambda: finished(store, "restart", run.run_id), 120, "the restarted run")
    assert states(store, "restart", run.run_id) == {"go": "success", "inbox": "success"}
    for task_id in ("go", "inbox"):
        assert [t.try_number for t in store.list_tries("restart", run.run_id, task_id)] == [1]
        assert set(reschedules(store, "restart", task_id)) == {1}
    # Only running ones: a poke whose container exits just as the first scheduler shuts down is recorded but its
    # exited container is not removed (the runtime skips removal once a try is abandoned); that race is the
    # runtime's and concerns every kind of task.
    assert [c["Status"] for c in labelled(engine, dag_id="restart") if c["State"] == "running"] == []


MAPPED_DAG = """
from airflow import DAG
from airflow.sensors.date_time import DateTimeSensor
from airflow.sensors.filesystem import FileSensor
from airflow.sensors.python import PythonSensor

CONFIG = {config}


def landed(region):
    import os
    return os.path.exists(f"/work/{{region}}")


with DAG("mapped", start_date=START, schedule=None,
         default_args={{"executor_config": {{**CONFIG, "mounts": ["{work}:/work:ro"]}}, "retry_delay": 0}}) as dag:
    PythonSensor.partial(task_id="regions", python_callable=landed, mode="reschedule", poke_interval=2,
                         soft_fail=True, retries=2).expand_kwargs([
        {{"op_kwargs": {{"region": "eu"}}, "timeout": 300}},
        {{"op_kwargs": {{"region": "us"}}, "timeout": 300}},
        {{"op_kwargs": {{"region": "apac"}}, "timeout": 15}},  # its own timeout, from its own first poke
    ])
    FileSensor.partial(task_id="files", mode="reschedule", poke_interval=2, timeout=300).expand(
        filepath=["/work/eu", "/work/us"])
    DateTimeSensor.partial(task_id="clocks", mode="reschedule", poke_interval=1, timeout=120).expand(
        target_time=["{{{{ data_interval_end + macros.timedelta(seconds=20) }}}}",
                     "{{{{ data_interval_end + macros.timedelta(seconds=35) }}}}"])
"""


def instance_states(store: Store, dag_id: str, run_id: str, task_id: str) -> list[str | None]:
    return [ti.state for ti in store.list_mapped(dag_id, run_id, task_id)[0]]


def idle(store: Store, engine: docker.APIClient, run_id: str) -> bool:
    """Whether an instance of ``regions`` waits for its next poke with no container (the state is read again
    after the containers: the state is committed before a poke's container is removed)."""
    before = instance_states(store, "mapped", run_id, "regions")
    for index, state in enumerate(before):
        if state == "up_for_reschedule" and not labelled(
            engine, dag_id="mapped", task_id="regions", map_index=str(index)
        ):
            return instance_states(store, "mapped", run_id, "regions")[index] == "up_for_reschedule"
    return False


def test_each_instance_of_a_mapped_sensor_is_rescheduled_on_its_own(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
    work: Path,
) -> None:
    settings, store = env
    write_dag(settings.dags_folder, "mapped", MAPPED_DAG.format(config=CONFIG, work=work))
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def pokes(task_id: str, index: int) -> list[Reschedule]:
        return list_reschedules(store, "mapped", run.run_id, task_id, map_index=index)

    with scheduler_running(settings, store) as scheduler:
        run = trigger_run(settings, store, scheduler.dags["mapped"], logical_date=when)
        # Seven sensors and four parallelism slots: between pokes an instance holds no slot, thread or container.
        wait_for(lambda: idle(store, engine, run.run_id), 120, "an instance waiting for its next poke, holding nothing")
        wait_for(
            lambda: all(pokes("regions", i) for i in (0, 1)) and all(pokes("files", i) for i in (0, 1)),
            120,
            "an unmet poke of every instance that waits for a file",
        )
        (work / "eu").write_text("landed")
        wait_for(lambda: instance_states(store, "mapped", run.run_id, "regions")[0] == "success", 120, "eu")
        assert instance_states(store, "mapped", run.run_id, "regions")[1] != "success"
        eu_pokes = len(pokes("regions", 0))
        wait_for(lambda: len(pokes("regions", 1)) > eu_pokes, 60, "us to poke again after eu succeeded")
        (work / "us").write_text("landed")
        wait_for(lambda: finished(store, "mapped", run.run_id), 180, "the mapped sensors' run")
    assert finished(store, "mapped", run.run_id) == "success"
    assert instance_states(store, "mapped", run.run_id, "regions") == ["success", "success", "skipped"]
    assert instance_states(store, "mapped", run.run_id, "files") == ["success", "success"]
    assert instance_states(store, "mapped", run.run_id, "clocks") == ["success", "success"]
    for task_id, count in (("regions", 3), ("files", 2), ("clocks", 2)):
        for index in range(count):  # reschedules keep the try number, per instance
            assert [t.try_number for t in store.list_tries("mapped", run.run_id, task_id, index)] == [1]
            rows = pokes(task_id, index)
            assert rows and {(r.map_index, r.try_number) for r in rows} == {(index, 1)}, (task_id, index)
            ti = store.get_task_instance("mapped", run.run_id, task_id, index)
            assert ti.try_number == 1 and ti.start_date == rows[0].start_date  # started at its own first poke
    assert len(pokes("regions", 1)) > len(pokes("regions", 0))  # us waited longer than eu
    assert len(pokes("clocks", 1)) > len(pokes("clocks", 0))  # each instance its own target time
    apac = store.get_task_instance("mapped", run.run_id, "regions", 2)
    [tried] = store.list_tries("mapped", run.run_id, "regions", 2)
    assert "exceeds the specified timeout of 15" in (tried.error or "") and "soft_fail" in (tried.error or "")
    assert apac.end_date is not None
    waited = (apac.end_date - pokes("regions", 2)[0].start_date).total_seconds()
    assert 15 < waited < 120  # its own timeout (15 s, from expand_kwargs), not the others' 300 s
    assert [c for c in labelled(engine, dag_id="mapped") if c["State"] == "running"] == []

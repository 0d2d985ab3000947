"""The ``airflow`` modules dockyard serves, and that a real Airflow is never shadowed."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.compat import airflow as compat
from dockyard.errors import DagDefinitionError


def test_every_documented_import_path_resolves() -> None:
    compat.install()
    script = """
from airflow import DAG
from airflow.models import DAG as D2, Variable
from airflow.sdk import DAG as D3, dag, task
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.docker.operators.docker_swarm import DockerSwarmOperator
from airflow.operators.docker_operator import DockerOperator as Old
from airflow.operators.empty import EmptyOperator
from airflow.operators.dummy import DummyOperator
from airflow.models.baseoperator import chain
from airflow.utils.dates import days_ago
from airflow.utils.trigger_rule import TriggerRule
from airflow.hooks.base import BaseHook
from airflow.models.param import Param
from airflow.utils.task_group import TaskGroup
from airflow.utils import timezone
from airflow.macros import ds_add
from airflow.timetables.trigger import CronTriggerTimetable
assert ds_add("2024-01-31", 1) == "2024-02-01" and timezone.datetime(2024, 1, 1).tzinfo is not None
assert timezone.utcnow().timezone_name == "UTC"
import dockyard
assert DAG is D2 is D3 is dockyard.DAG and DockerOperator is Old is dockyard.DockerOperator
print("ok")
"""
    # In a fresh interpreter, as a DAG file would meet it.
    result = subprocess.run(
        [sys.executable, "-c", "from dockyard.compat import airflow; airflow.install()\n" + script],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_a_real_airflow_is_never_shadowed(tmp_path: Path) -> None:
    fake = tmp_path / "airflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("REAL = True\n")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from dockyard.compat import airflow as compat\n"
        "print(compat.install(), compat.real_airflow_installed())\n"
        "import airflow; print(airflow.REAL)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True", "True"], result.stderr


def test_unknown_operators_import_but_fail_when_used() -> None:
    compat.install()
    from airflow.operators.generic_transfer import GenericTransfer  # type: ignore[import-not-found]

    with pytest.raises(
        DagDefinitionError, match=r"GenericTransfer is not supported by dockyard \(.*test_airflow_compat.py:\d+\)"
    ):
        GenericTransfer(task_id="x", sql="SELECT 1")


def test_days_ago_is_midnight_utc() -> None:
    value = compat.days_ago(2)
    assert (value.hour, value.minute, value.tzinfo) == (0, 0, dt.timezone.utc)
    assert (dt.datetime.now(dt.timezone.utc) - value).days in (1, 2)


def test_variable_get_reads_the_configured_source() -> None:
    compat.configure(variables={"a": "1", "j": '{"x": [1]}'}.get)
    assert compat.Variable.get("a") == "1"
    assert compat.Variable.get("j", deserialize_json=True) == {"x": [1]}
    assert compat.Variable.get("missing", default_var="d") == "d"
    with pytest.raises(KeyError, match="Variable missing does not exist"):
        compat.Variable.get("missing")


def test_dag_decorator_and_task_groups() -> None:
    from dockyard import EmptyOperator
    from dockyard.taskgroup import TaskGroup

    @compat.dag(start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule=None)
    def grouped() -> None:
        start = EmptyOperator(task_id="start")
        with TaskGroup("outer") as outer:
            with TaskGroup("inner"):
                EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
            EmptyOperator(task_id="c")
        end = EmptyOperator(task_id="end")
        start >> outer >> end

    built = grouped()
    assert built.dag_id == "grouped"
    assert sorted(built.task_ids) == ["end", "outer.c", "outer.inner.a", "outer.inner.b", "start"]
    assert built.get_task("outer.inner.a").upstream_task_ids == {"start"}
    assert built.get_task("end").upstream_task_ids == {"outer.inner.b", "outer.c"}


DAG_FILE = """
import datetime
import pendulum
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.timetables.trigger import CronTriggerTimetable, DeltaTriggerTimetable, MultipleCronTriggerTimetable
from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable
from airflow.timetables.events import EventsTimetable
from airflow.timetables.simple import ContinuousTimetable, NullTimetable, OnceTimetable
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from dateutil.relativedelta import relativedelta
from workday_timetable import AfterWorkdayTimetable

with DAG("pendulum_start", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Amsterdam"),
         schedule=CronTriggerTimetable("0 6 * * *", timezone="Europe/Amsterdam")):
    EmptyOperator(task_id="t")
with DAG("yesterday", start_date=pendulum.today("UTC").add(days=-1), schedule=relativedelta(months=1)):
    EmptyOperator(task_id="t")
with DAG("workdays", start_date=pendulum.datetime(2024, 3, 7), schedule=AfterWorkdayTimetable()):
    EmptyOperator(task_id="t")
"""


def test_dag_files_with_pendulum_and_timetables_load(tmp_path: Path) -> None:
    from dockyard.dagbag import load_dag_file
    from dockyard.timetable import DataInterval, deserialize_timetable, serialize_timetable, timetable_for

    (tmp_path / "workday_timetable.py").write_text(
        (Path(__file__).parent.parent / "data" / "workday_timetable.py").read_text()
    )
    (tmp_path / "dags.py").write_text(DAG_FILE)
    dags = {d.dag_id: d for d in load_dag_file(tmp_path / "dags.py")}
    assert set(dags) == {"pendulum_start", "yesterday", "workdays"}
    first = dags["pendulum_start"]
    table = timetable_for(first.schedule, first.start_date)
    assert table.next_interval(
        after=None, start_date=first.start_date, catchup=True, now=dt.datetime(2024, 1, 1, 6, tzinfo=dt.timezone.utc)
    ) == DataInterval(
        dt.datetime(2024, 1, 1, 5, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1, 5, tzinfo=dt.timezone.utc)
    )
    yesterday = dags["yesterday"]
    assert yesterday.start_date is not None and yesterday.start_date.date() < dt.date.today()
    workdays = dags["workdays"]
    stored = serialize_timetable(timetable_for(workdays.schedule, workdays.start_date))
    assert stored == {"type": "workday_timetable.AfterWorkdayTimetable", "data": {"hour": 0}}
    sys.path.insert(0, str(tmp_path))  # the scheduler has the DAG folder on its import path, as Airflow's does
    try:
        rebuilt = deserialize_timetable(stored)
    finally:
        sys.path.remove(str(tmp_path))
    assert type(rebuilt).__name__ == "AfterWorkdayTimetable"


def test_a_timetable_defined_in_the_dag_file_cannot_be_stored(tmp_path: Path) -> None:
    from dockyard.dagbag import load_dag_file
    from dockyard.timetable import serialize_timetable, timetable_for

    (tmp_path / "inline.py").write_text(
        "import pendulum\nfrom airflow import DAG\nfrom airflow.timetables.base import Timetable\n"
        "class Mine(Timetable):\n    pass\n"
        "with DAG('inline', start_date=pendulum.datetime(2024, 1, 1), schedule=Mine()):\n    pass\n"
    )
    (dag,) = load_dag_file(tmp_path / "inline.py")
    with pytest.raises(DagDefinitionError, match="'Mine' is defined in the DAG file.*module next to the DAG files"):
        serialize_timetable(timetable_for(dag.schedule, dag.start_date))

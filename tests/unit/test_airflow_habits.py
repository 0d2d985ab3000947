"""Habits of real Airflow DAG files that must load (and run) as they do under Airflow: Airflow 1.10's
``xcom_push``, ``retrieve_output`` without a path, a ``@task`` that is never called, a mount built from an
unset environment variable, pendulum in DAG files and templates, and variables read at parse time by the CLI
through the same path as the scheduler."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest
from docker.types import Mount

from dockyard import DockerOperator
from dockyard.compat import airflow as compat
from dockyard.decorators import python_task
from dockyard.errors import ContainerSpecError
from dockyard.preparation import TryContext, prepare
from dockyard.serialized import SerializedTask
from tests.helpers import make_dag

WHEN = dt.datetime(2024, 1, 31, 6, 0, tzinfo=dt.timezone.utc)


def _context(task: DockerOperator) -> TryContext:
    assert task.dag is not None
    return TryContext(
        dag_id=task.dag.dag_id,
        task_id=task.task_id,
        run_id="r1",
        logical_date=WHEN,
        data_interval=(WHEN, WHEN + dt.timedelta(days=1)),
    )


def test_xcom_push_is_accepted_with_a_deprecation_warning() -> None:
    with make_dag():
        with pytest.warns(DeprecationWarning, match="'xcom_push' is deprecated, use 'do_xcom_push'"):
            quiet = DockerOperator(task_id="quiet", image="busybox", xcom_push=False)
        with pytest.warns(DeprecationWarning):
            loud = DockerOperator(task_id="loud", image="busybox", xcom_push=True)
    assert quiet.do_xcom_push is False and loud.do_xcom_push is True
    assert SerializedTask.of(quiet).do_xcom_push is False


def test_retrieve_output_without_a_path_loads_and_pushes_nothing() -> None:
    with make_dag():
        task = DockerOperator(task_id="t", image="busybox", command="echo hi", retrieve_output=True)
    assert task.retrieve_output is True  # what the DAG file wrote stays
    assert task.do_xcom_push is False  # Airflow finds no file to read back: the XCom is None
    prepared = prepare(task.dag, task, _context(task))  # type: ignore[arg-type]
    assert prepared.do_xcom_push is False and prepared.retrieve_output is False


def test_a_task_function_that_is_never_called_is_ignored() -> None:
    with make_dag() as dag:

        @python_task
        def never_called() -> int:
            return 1

        DockerOperator(task_id="only", image="busybox")
    assert dag.task_ids == ["only"]


def test_a_mount_from_an_unset_variable_fails_only_that_task_when_it_runs() -> None:
    with make_dag() as dag:
        broken = DockerOperator(
            task_id="broken",
            image="busybox",
            mounts=[Mount(source=os.environ.get("DOCKYARD_TEST_SURELY_UNSET"), target="/data", type="bind")],
        )
        fine = DockerOperator(task_id="fine", image="busybox", mounts=["/srv:/srv:ro"])
    dag.validate()
    assert prepare(dag, fine, _context(fine)).kind == "container"
    with pytest.raises(ContainerSpecError, match="task 'broken'.*bind mount needs an absolute host path"):
        prepare(dag, broken, _context(broken))


def test_pendulum_methods_work_on_context_dates_in_templates() -> None:
    command = (
        "{{ data_interval_end.subtract(minutes=5).isoformat() }} {{ logical_date.format('YYYY/MM/DD') }} "
        "{{ logical_date.in_timezone('Europe/Paris').hour }} {{ data_interval_start.add(days=1).to_date_string() }}"
    )
    with make_dag():
        task = DockerOperator(task_id="t", image="busybox", command=command)
    prepared = prepare(task.dag, task, _context(task))  # type: ignore[arg-type]
    assert prepared.rendered["command"] == "2024-02-01T05:55:00+00:00 2024/01/31 7 2024-02-01"


def test_dag_files_import_pendulum_and_airflow_timezone() -> None:
    compat.install()
    namespace: dict[str, object] = {}
    code = (
        "import pendulum\nfrom airflow import DAG\nfrom airflow.operators.empty import EmptyOperator\n"
        "with DAG('p', start_date=pendulum.datetime(2024, 1, 1, tz='Europe/Berlin'), schedule='0 6 * * *') as dag:\n"
        "    EmptyOperator(task_id='e')\n"
    )
    exec(compile(code, "p.py", "exec"), namespace)
    assert namespace["dag"].start_date == pendulum.datetime(2024, 1, 1, tz="Europe/Berlin")  # type: ignore[attr-defined]


DAG_WITH_VARIABLES = """
from datetime import datetime
from airflow import DAG
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator

with DAG("uses_vars", start_date=datetime(2024, 1, 1), schedule=None,
         tags=[Variable.get("team"), Variable.get("region")]) as dag:
    EmptyOperator(task_id="e")
"""


def _cli(home: Path, folder: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "DOCKYARD_HOME": str(home), "DOCKYARD_DAGS_FOLDER": str(folder), **(extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_cli_reads_variables_at_parse_time_like_the_scheduler(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    path = folder / "uses_vars.py"
    path.write_text(DAG_WITH_VARIABLES)
    env = {"AIRFLOW_VAR_REGION": "eu-west-1"}
    assert _cli(tmp_path, folder, "variables", "set", "team", "data").returncode == 0
    listed = _cli(tmp_path, folder, "dags", "list", "-o", "json", extra=env)
    assert listed.returncode == 0, listed.stderr
    assert [d["dag_id"] for d in json.loads(listed.stdout)] == ["uses_vars"]
    errors = _cli(tmp_path, folder, "dags", "list-import-errors", "-o", "json", extra=env)
    assert errors.returncode == 0 and json.loads(errors.stdout or "[]") == [], errors.stdout + errors.stderr
    tasks = _cli(tmp_path, folder, "tasks", "list", str(path), extra=env)
    assert tasks.returncode == 0 and "e" in tasks.stdout.split(), tasks.stderr
    # A run of the CLI leaves the DAG active for a scheduler beside it: listing again still shows it.
    again = _cli(tmp_path, folder, "dags", "list", "-o", "json", extra=env)
    assert [d["dag_id"] for d in json.loads(again.stdout)] == ["uses_vars"]
    without = _cli(tmp_path, folder, "tasks", "list", str(path))
    assert without.returncode == 1 and "Variable region does not exist" in without.stderr

"""BashOperator, PythonOperator and ``@task`` as authored: arguments, errors, XCom wiring and the container
options their tries get (the runs themselves are in tests/engine/test_task_image.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from dockyard import BashOperator, PythonOperator
from dockyard.compat import airflow as compat
from dockyard.container.options import ContainerOptions
from dockyard.decorators import python_task
from dockyard.errors import DagDefinitionError, DockyardError
from dockyard.operators.task_image import DAGS_MOUNT
from dockyard.preparation import TryContext, prepare
from dockyard.serialized import SerializedTask
from dockyard.settings import Settings
from tests.helpers import make_dag

WHEN = dt.datetime(2024, 1, 31, tzinfo=dt.timezone.utc)


def total(rows: list[int], ds: str | None = None) -> int:
    return sum(rows)


def options_of(task: Any, settings: Settings) -> ContainerOptions:
    context = TryContext(dag_id=task.dag.dag_id, task_id=task.task_id, run_id="r1", logical_date=WHEN)
    prepared = prepare(task.dag, task, context, settings=settings)
    return ContainerOptions.from_json(prepared.options)


def test_a_bash_task_runs_bash_in_the_task_image(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_TASK_IMAGE": "debian:12"})
    with make_dag():
        task = BashOperator(task_id="b", bash_command="echo {{ ds }}", env={"A": "{{ ds_nodash }}"}, cwd="/work")
    options = options_of(task, settings)
    assert options.image == "debian:12"
    assert options.command == ("bash", "-c", "echo 2024-01-31")
    assert options.environment["A"] == "20240131"
    assert options.environment["AIRFLOW_CTX_TASK_ID"] == "b"
    assert options.working_dir == "/work"
    assert options.skip_on_exit_code == frozenset({99})
    assert SerializedTask.of(task).runs_container


def test_executor_config_picks_the_image_per_task_or_per_dag(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    with make_dag(default_args={"executor_config": {"image": "dag-image:1", "mem_limit": "1g"}}) as dag:
        by_dag = BashOperator(task_id="a", bash_command="true")
        by_task = BashOperator(task_id="b", bash_command="true", executor_config={"image": "task-image:2"})
        default = BashOperator(task_id="c", bash_command="true", executor_config={"pod_override": object()})
    assert dag.task_dict
    assert options_of(by_dag, settings).image == "dag-image:1"
    assert options_of(by_dag, settings).mem_limit == 1024**3
    assert options_of(by_task, settings).image == "task-image:2"
    assert options_of(default, settings).image == "python:3.11-slim"


def test_bad_arguments_are_one_clear_error() -> None:
    with make_dag(), pytest.raises(DagDefinitionError, match="executor_config key 'imgae' is not known"):
        BashOperator(task_id="a", bash_command="true", executor_config={"imgae": "x"})
    with make_dag(), pytest.raises(DagDefinitionError, match="mem_limit='lots' is not a size"):
        BashOperator(task_id="a", bash_command="true", executor_config={"mem_limit": "lots"})
    with make_dag(), pytest.raises(DagDefinitionError, match="output_encoding='latin-1' is not supported"):
        BashOperator(task_id="a", bash_command="true", output_encoding="latin-1")
    with make_dag(), pytest.raises(DagDefinitionError, match="python_callable must be a function"):
        PythonOperator(task_id="p", python_callable="total")  # type: ignore[arg-type]


def test_a_python_task_mounts_its_dag_folder_and_sends_its_arguments(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    (dags / "team").mkdir(parents=True)
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DAGS_FOLDER": str(dags)})
    with make_dag() as dag:
        task = PythonOperator(task_id="p", python_callable=total, op_kwargs={"rows": [1, 2], "day": "{{ ds }}"})
    dag.fileloc = str(dags / "team" / "etl.py")
    options = options_of(task, settings)
    assert options.command is not None and options.command[:2] == ("python3", "-c")
    assert options.retrieve_output and options.retrieve_output_path
    mount = options.parsed_mounts[0]
    assert (mount.source, mount.target, mount.read_only) == (str(dags.resolve()), DAGS_MOUNT, True)
    assert options.environment["PYTHONPATH"] == f"{DAGS_MOUNT}:{DAGS_MOUNT}/team"
    payload = json.loads(options.environment["DOCKYARD_TASK"] or "")
    assert payload["dag_file"] == f"{DAGS_MOUNT}/team/etl.py"
    assert payload["op_kwargs"] == {"rows": [1, 2], "day": "2024-01-31"}
    assert payload["callable"]["qualname"] == "total"
    assert payload["context"]["ds"] == "2024-01-31"


def test_a_python_task_needs_its_dag_file(tmp_path: Path) -> None:
    with make_dag() as dag:
        task = PythonOperator(task_id="p", python_callable=total)
    dag.fileloc = ""
    with pytest.raises(DockyardError, match="its DAG was not loaded from a file"):
        options_of(task, Settings.from_env({"DOCKYARD_HOME": str(tmp_path)}))


def test_taskflow_results_become_dependencies_and_xcom_pulls() -> None:
    @python_task
    def extract() -> dict[str, int]:
        return {"a": 1}

    @python_task()
    def load(value: int, whole: Any) -> None:
        return None

    with make_dag() as dag:
        parts = extract()
        load(parts["a"], whole=parts)
    assert dag.task_dict["extract"].multiple_outputs  # a dict return annotation, as in Airflow
    task = dag.task_dict["load"]
    assert task.upstream_task_ids == {"extract"}
    assert isinstance(task, PythonOperator)
    assert task.op_args == [{"__dockyard_pulled__": "{{ ti.xcom_pull(task_ids='extract', key='a') | tojson }}"}]
    assert task.op_kwargs == {"whole": {"__dockyard_pulled__": "{{ ti.xcom_pull(task_ids='extract') | tojson }}"}}


def test_the_airflow_import_paths_serve_the_operators() -> None:
    compat.install()
    from airflow.operators.bash import BashOperator as AirflowBash  # type: ignore[import-not-found]
    from airflow.operators.python import PythonOperator as AirflowPython  # type: ignore[import-not-found]
    from airflow.operators.python import get_current_context  # type: ignore[import-not-found]

    assert AirflowBash is BashOperator and AirflowPython is PythonOperator
    with pytest.raises(DockyardError, match="call it inside the task's callable"):
        get_current_context()


def test_a_scheduler_in_a_container_mounts_the_dag_folder_from_its_host_path(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path),
            "DOCKYARD_DAGS_FOLDER": str(dags),
            "DOCKYARD_HOST_DAGS_FOLDER": "/srv/dockyard/dags",
        }
    )
    with make_dag() as dag:
        task = PythonOperator(task_id="p", python_callable=total)
    dag.fileloc = str(dags / "etl.py")
    assert options_of(task, settings).parsed_mounts[0].source == "/srv/dockyard/dags"

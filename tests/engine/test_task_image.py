"""Airflow's BashOperator, PythonOperator and ``@task`` under the scheduler, each in a container of the task
image (the locally built ``dockyard/python:latest``), from a DAG file written as Airflow users write it."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from dockyard.settings import Settings
from dockyard.store import Store
from tests.engine.test_scheduler import env, run_once, states  # noqa: F401 - env is a fixture
from tests.helpers import IMAGE, TEST_LABEL, TOKEN, labelled, write_dag

pytestmark = pytest.mark.engine
TASK_IMAGE = "dockyard/python:latest"
CONFIG = f'{{"image": "{TASK_IMAGE}", "network_mode": "none", "labels": {{"{TEST_LABEL}": "{TOKEN}"}}}}'

AIRFLOW_DAG = f"""
import json

import pendulum
from airflow.decorators import dag, task
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator
from airflow.providers.docker.operators.docker import DockerOperator

from helpers_mod import shout

CONFIG = {CONFIG}


def report(greeting, ds=None, **context):
    return {{"greeting": shout(greeting), "ds": ds, "run_id": context["run_id"], "task": context["ti"].task_id,
             "n": context["params"]["n"], "upstream": context["ti"].xcom_pull(task_ids="echo_date")}}


@dag(dag_id="airflow_tasks", start_date=START, schedule=None, params={{"n": 7}},
     default_args={{"executor_config": CONFIG, "retry_delay": 0, **ARGS}})
def airflow_tasks():
    docker = DockerOperator(task_id="docker", command="echo from-docker")
    echo_date = BashOperator(task_id="echo_date", bash_command='echo "day={{{{ ds }}}} $GREETING"',
                             env={{"GREETING": "hi"}})
    skipped = BashOperator(task_id="skipped", bash_command="echo before; exit 99")
    script = BashOperator(task_id="script", bash_command="count.sh", output_processor=lambda line: json.loads(line),
                          start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
    python = PythonOperator(task_id="python", python_callable=report, op_kwargs={{"greeting": "hello {{{{ ds }}}}"}})

    @task
    def extract():
        return {{"rows": [1, 2, 3]}}

    @task
    def transform(data: dict):
        return {{"total": sum(data["rows"]), "count": len(data["rows"])}}

    @task(multiple_outputs=True)
    def split(summary):
        return {{"total": summary["total"], "label": shout("sum")}}

    @task
    def load(total, label):
        return f"{{label}}={{total}}"

    parts = split(transform(extract()))
    load(parts["total"], parts["label"])
    docker >> echo_date >> python
    docker >> [skipped, script]


airflow_tasks()
"""


def test_bash_python_and_taskflow_tasks_run_in_the_task_image(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
) -> None:
    settings, store = env
    (settings.dags_folder / "helpers_mod.py").write_text("def shout(text):\n    return text.upper()\n")
    (settings.dags_folder / "count.sh").write_text("echo counting for {{ ds_nodash }}\necho '{\"n\": 3}'\n")
    write_dag(settings.dags_folder, "airflow_tasks", AIRFLOW_DAG)
    run_id = run_once(settings, store, "airflow_tasks", timeout=180)
    assert states(store, "airflow_tasks", run_id) == {
        "docker": "success",
        "echo_date": "success",
        "skipped": "skipped",
        "script": "success",
        "python": "success",
        "extract": "success",
        "transform": "success",
        "split": "success",
        "load": "success",
    }
    run = store.get_run("airflow_tasks", run_id)
    ds = run.logical_date.strftime("%Y-%m-%d")
    assert store.get_xcom("airflow_tasks", run_id, "docker") == "from-docker"
    assert store.get_xcom("airflow_tasks", run_id, "echo_date") == f"day={ds} hi"
    assert store.get_xcom("airflow_tasks", run_id, "script") == {"n": 3}
    script = store.get_task_instance("airflow_tasks", run_id, "script").rendered
    assert script is not None and script["bash_command"].startswith(f"echo counting for {ds.replace('-', '')}")
    assert store.get_xcom("airflow_tasks", run_id, "python") == {
        "greeting": f"HELLO {ds}",
        "ds": ds,
        "run_id": run_id,
        "task": "python",
        "n": 7,
        "upstream": f"day={ds} hi",
    }
    assert store.get_xcom("airflow_tasks", run_id, "transform") == {"total": 6, "count": 3}
    assert store.get_xcom("airflow_tasks", run_id, "split") == {"total": 6, "label": "SUM"}
    assert store.get_xcom("airflow_tasks", run_id, "split", key="total") == 6
    assert store.get_xcom("airflow_tasks", run_id, "split", key="label") == "SUM"
    assert store.get_xcom("airflow_tasks", run_id, "load") == "SUM=6"
    assert labelled(engine, dag_id="airflow_tasks") == []  # every container removed once it succeeded


def test_an_image_without_bash_and_a_non_json_result_fail_clearly(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "bad_tasks",
        f"""
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

CONFIG = {CONFIG}


def make_set():
    return {{1, 2}}


with DAG("bad_tasks", start_date=START, schedule=None, default_args={{"executor_config": CONFIG}}) as dag:
    BashOperator(task_id="no_bash", bash_command="echo hi", executor_config={{**CONFIG, "image": "{IMAGE}"}})
    PythonOperator(task_id="a_set", python_callable=make_set)
""",
    )
    run_id = run_once(settings, store, "bad_tasks", timeout=120)
    assert states(store, "bad_tasks", run_id) == {"no_bash": "failed", "a_set": "failed"}
    no_bash = store.list_tries("bad_tasks", run_id, "no_bash")[-1].error
    assert no_bash is not None
    assert f"the task image {IMAGE} has no bash" in no_bash
    a_set = store.list_tries("bad_tasks", run_id, "a_set")[-1].error
    assert a_set is not None
    assert "make_set() returned a value of type 'set'" in a_set
    for container in labelled(engine, dag_id="bad_tasks"):  # failed containers are kept: remove them here
        engine.remove_container(container["Id"], force=True, v=True)


def test_the_task_image_setting_is_read(tmp_path: Path) -> None:
    assert Settings.from_env({"DOCKYARD_HOME": str(tmp_path)}).task_image == "python:3.11-slim"
    assert Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_TASK_IMAGE": "x:1"}).task_image == "x:1"

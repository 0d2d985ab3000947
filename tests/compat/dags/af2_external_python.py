# ExternalPythonOperator and @task.external_python: an interpreter inside the task image.
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.operators.python import ExternalPythonOperator
from airflow.providers.docker.operators.docker import DockerOperator

PYTHON = "/usr/bin/python3"


def version_tag():
    import sys

    return f"py{sys.version_info[0]}"


with DAG("af2_external_python", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    tag = ExternalPythonOperator(task_id="tag", python=PYTHON, python_callable=version_tag)

    @task.external_python(python=PYTHON)
    def shout(value):
        return value.upper()

    show = DockerOperator(
        task_id="show",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo {{ ti.xcom_pull(task_ids='shout') }}",
    )
    shout(tag.output) >> show

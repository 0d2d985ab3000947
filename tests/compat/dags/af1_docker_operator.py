# An Airflow 1.10-era DAG file: old import paths, schedule_interval, dag=dag, days_ago, provide_context.
from datetime import timedelta

from airflow import DAG
from airflow.operators.docker_operator import DockerOperator
from airflow.operators.dummy_operator import DummyOperator
from airflow.utils.dates import days_ago

default_args = {
    "owner": "data-eng",
    "depends_on_past": False,
    "email_on_failure": False,
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
}

dag = DAG(
    "af1_docker_operator",
    default_args=default_args,
    description="nightly export, written for Airflow 1.10",
    schedule_interval="0 2 * * *",
    start_date=days_ago(2),
    catchup=False,
)

start = DummyOperator(task_id="start", dag=dag)

export = DockerOperator(
    task_id="export",
    image="dockyard/busybox:latest",
    api_version="auto",
    auto_remove=True,
    command="echo exporting {{ ds }} for {{ dag.dag_id }}",
    docker_url="unix://var/run/docker.sock",
    network_mode="none",
    provide_context=True,
    dag=dag,
)

start >> export

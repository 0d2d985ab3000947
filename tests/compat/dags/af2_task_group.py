from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.utils.task_group import TaskGroup

with DAG(
    "af2_task_group",
    start_date=datetime(2023, 1, 1),
    schedule=None,
    default_args={"image": "dockyard/busybox:latest", "network_mode": "none"},
) as dag:
    start = EmptyOperator(task_id="start")
    with TaskGroup("transform", tooltip="clean then enrich") as transform:
        clean = DockerOperator(task_id="clean", command="echo clean")
        enrich = DockerOperator(task_id="enrich", command="echo enrich {{ ti.xcom_pull(task_ids='transform.clean') }}")
        clean >> enrich
    publish = DockerOperator(task_id="publish", command="echo publish {{ ti.xcom_pull(task_ids='transform.enrich') }}")
    start >> transform >> publish

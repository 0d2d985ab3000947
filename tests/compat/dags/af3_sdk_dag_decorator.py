from datetime import datetime

from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import dag


@dag(dag_id="af3_sdk_dag_decorator", start_date=datetime(2024, 1, 1), schedule=None, catchup=False)
def pipeline():
    first = DockerOperator(
        task_id="first",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo {{ data_interval_start | ds }}",
    )
    second = DockerOperator(
        task_id="second",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo after {{ ti.xcom_pull(task_ids='first') }}",
    )
    first >> second


pipeline()

# Airflow 3 style: the task SDK.
from datetime import datetime

from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import DAG, task

with DAG(dag_id="af3_sdk", start_date=datetime(2024, 1, 1), schedule=None):

    @task.docker(image="dockyard/python:latest", network_mode="none", serializer="pickle")
    def stats():
        import datetime as dt

        return {"when": dt.date(2024, 1, 2), "rows": (1, 2)}

    report = DockerOperator(
        task_id="report",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo rows {{ ti.xcom_pull(task_ids='stats')['rows'] | length }}",
    )
    stats() >> report

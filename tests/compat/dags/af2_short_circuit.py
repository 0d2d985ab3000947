# ShortCircuitOperator: no new files, so everything after it is skipped, even an all_done task.
from datetime import datetime

from airflow import DAG
from airflow.operators.python import ShortCircuitOperator
from airflow.providers.docker.operators.docker import DockerOperator


def has_new_files(**kwargs):
    return []  # nothing arrived


with DAG("af2_short_circuit", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    listing = DockerOperator(
        task_id="list_files", image="dockyard/busybox:latest", network_mode="none", command="echo 0 files"
    )
    gate = ShortCircuitOperator(task_id="has_new_files", python_callable=has_new_files)
    ingest = DockerOperator(
        task_id="ingest", image="dockyard/busybox:latest", network_mode="none", command="echo ingesting"
    )
    notify = DockerOperator(
        task_id="notify",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo notify",
        trigger_rule="all_done",
    )
    listing >> gate >> ingest >> notify

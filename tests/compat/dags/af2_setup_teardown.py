# Setup and teardown with containers: the work fails, the teardown still cleans up, the run fails
# because of the work (teardowns do not decide the run's state).
from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator

common = dict(image="dockyard/busybox:latest", network_mode="none")

with DAG("af2_setup_teardown", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    create = DockerOperator(task_id="create_cluster", command="echo cluster-17", **common)
    query = DockerOperator(task_id="run_query", command="sh -c 'echo query failed; exit 3'", **common)
    delete = DockerOperator(
        task_id="delete_cluster", command="echo deleting {{ ti.xcom_pull(task_ids='create_cluster') }}", **common
    )
    create >> query >> delete.as_teardown(setups=create)

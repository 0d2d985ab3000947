# The DAG that af2_trigger_dag_run starts: it echoes the conf it was given.
from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator

with DAG("af2_trigger_target", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    DockerOperator(
        task_id="echo_conf",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo table={{ dag_run.conf.get('table', 'none') }}",
    )

from datetime import datetime

from airflow import DAG
from airflow.hooks.base import BaseHook
from airflow.providers.docker.operators.docker import DockerOperator

REGISTRY = BaseHook.get_connection("my_registry").host

with DAG("af2_docker_conn", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    pull_and_run = DockerOperator(
        task_id="pull_and_run",
        image="dockyard/busybox:latest",
        docker_conn_id="my_registry",
        network_mode="none",
        command="echo registry {{ conn.my_registry.host }} user {{ conn.my_registry.login }} parsed " + REGISTRY,
    )

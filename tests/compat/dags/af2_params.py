from datetime import datetime

from airflow import DAG
from airflow.models.param import Param
from airflow.providers.docker.operators.docker import DockerOperator

with DAG(
    "af2_params",
    start_date=datetime(2023, 1, 1),
    schedule=None,
    params={
        "region": Param("eu-west-1", type="string", enum=["eu-west-1", "us-east-1"]),
        "batch_size": Param(500, type="integer", minimum=1),
    },
) as dag:
    run_batch = DockerOperator(
        task_id="run_batch",
        image="dockyard/busybox:latest",
        network_mode="none",
        command=(
            "echo region={{ params.region }} batch={{ params.batch_size }} conf={{ dag_run.conf.get('note', 'none') }}"
        ),
    )

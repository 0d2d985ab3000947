from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator

with DAG(
    dag_id="af2_provider_basic",
    start_date=datetime(2023, 1, 1),
    schedule_interval=None,
    catchup=False,
    tags=["docker", "example"],
) as dag:
    hello = DockerOperator(
        task_id="hello",
        image="dockyard/busybox:latest",
        command='sh -c "echo hello from {{ ts_nodash }}"',
        docker_url="unix:///var/run/docker.sock",
        network_mode="none",
        mount_tmp_dir=False,
    )
    bye = DockerOperator(
        task_id="bye",
        image="dockyard/busybox:latest",
        command=["echo", "bye", "{{ ds_nodash }}"],
        network_mode="none",
    )
    hello >> bye

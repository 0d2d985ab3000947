# A Mount built from an environment variable that is not set: only that task fails, when it runs.
import os
from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import Mount

with DAG("af2_mount_from_env", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    with_data = DockerOperator(
        task_id="with_data",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="ls /data",
        mounts=[Mount(source=os.environ.get("CORPUS_DATA_DIR_NOT_SET"), target="/data", type="bind")],
    )
    without = DockerOperator(
        task_id="without", image="dockyard/busybox:latest", network_mode="none", command="echo fine"
    )
    cleanup = DockerOperator(
        task_id="cleanup",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo cleanup",
        trigger_rule="all_done",
    )
    [with_data, without] >> cleanup

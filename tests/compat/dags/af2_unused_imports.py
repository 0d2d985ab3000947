# Real DAG files import more than they use: none of this may stop the DAG from loading.
from datetime import datetime

from airflow import DAG
from airflow.exceptions import AirflowException  # noqa: F401
from airflow.operators.bash import BashOperator  # noqa: F401
from airflow.operators.python import PythonOperator, get_current_context  # noqa: F401
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.docker.operators.docker_swarm import DockerSwarmOperator  # noqa: F401
from airflow.sensors.external_task import ExternalTaskSensor  # noqa: F401

with DAG("af2_unused_imports", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    DockerOperator(task_id="only_docker", image="dockyard/busybox:latest", network_mode="none", command="echo fine")

# A teardown that fails does not fail the run (on_failure_fail_dagrun is False by default), as in Airflow.
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.docker.operators.docker import DockerOperator

with DAG("af2_teardown_failure", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    mount = BashOperator(task_id="mount_scratch", bash_command="echo mounted").as_setup()
    work = DockerOperator(task_id="work", image="dockyard/busybox:latest", network_mode="none", command="echo worked")
    unmount = BashOperator(task_id="unmount_scratch", bash_command="echo busy >&2; exit 1")
    mount >> work >> unmount.as_teardown(setups=mount)

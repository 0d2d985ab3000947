# The `with teardown.as_teardown(setups=...)` form (Airflow 2.7+): the tasks made inside the block run
# between the setup and the teardown.
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.docker.operators.docker import DockerOperator

with DAG("af2_setup_teardown_context", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    create = BashOperator(task_id="create_env", bash_command="echo env-5")
    destroy = BashOperator(
        task_id="destroy_env", bash_command="echo destroyed {{ ti.xcom_pull(task_ids='create_env') }}"
    )
    with destroy.as_teardown(setups=create):
        train = DockerOperator(
            task_id="train", image="dockyard/busybox:latest", network_mode="none", command="echo trained"
        )
        score = DockerOperator(
            task_id="score",
            image="dockyard/busybox:latest",
            network_mode="none",
            command="echo scored on {{ ti.xcom_pull(task_ids='create_env') }}",
        )
        train >> score

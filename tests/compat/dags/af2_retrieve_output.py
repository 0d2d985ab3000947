from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator

default_args = {"retries": 0, "execution_timeout": timedelta(minutes=10)}

with DAG("af2_retrieve_output", start_date=datetime(2023, 1, 1), schedule=None, default_args=default_args) as dag:
    produce = DockerOperator(
        task_id="produce",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="""sh -c 'printf "{\\"files\\": 3, \\"day\\": \\"{{ ds }}\\"}" > /tmp/out.json; echo written'""",
        retrieve_output=True,
        retrieve_output_path="/tmp/out.json",
    )
    consume = DockerOperator(
        task_id="consume",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo got {{ ti.xcom_pull(task_ids='produce')['files'] }} files",
    )
    produce >> consume

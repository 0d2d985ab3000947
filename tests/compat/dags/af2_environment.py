import warnings
from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator

warnings.simplefilter("default")

with DAG("af2_environment", start_date=datetime(2023, 1, 1), schedule_interval=None) as dag:
    show_env = DockerOperator(
        task_id="show_env",
        image="dockyard/busybox:latest",
        network_mode="none",
        environment={"RUN_DATE": "{{ ds }}", "WORKERS": 4, "RATIO": 0.5, "UNSET_ME": None},
        private_environment={"API_KEY": "compat-secret-value"},
        env_file="FROM_FILE=yes\nEXEC_DATE={{ execution_date | ds }}",
        auto_remove=False,
        command="sh -c 'echo $RUN_DATE $WORKERS $RATIO [$UNSET_ME] $FROM_FILE $EXEC_DATE key=$API_KEY'",
    )

from datetime import datetime

from airflow import DAG
from airflow.models import Variable
from airflow.providers.docker.operators.docker import DockerOperator

TARGET_BUCKET = Variable.get("target_bucket", default_var="s3://fallback")
SETTINGS = Variable.get("pipeline_settings", deserialize_json=True, default_var={"threads": 1})

with DAG("af2_variables", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    upload = DockerOperator(
        task_id="upload",
        image="dockyard/busybox:latest",
        network_mode="none",
        command=f"echo upload to {TARGET_BUCKET} with {SETTINGS['threads']} threads as {{{{ var.value.uploader }}}}",
    )

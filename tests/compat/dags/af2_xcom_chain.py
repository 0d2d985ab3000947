from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator

with DAG("af2_xcom_chain", start_date=datetime(2023, 6, 1), schedule=None, catchup=False) as dag:
    count = DockerOperator(
        task_id="count",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="sh -c 'echo counting rows; echo 42'",
    )
    listing = DockerOperator(
        task_id="listing",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="sh -c 'echo a; echo b; echo c'",
        xcom_all=True,
    )
    double = DockerOperator(
        task_id="double",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="sh -c 'echo $(( {{ ti.xcom_pull(task_ids=\"count\") }} * 2 ))'",
    )
    summary = DockerOperator(
        task_id="summary",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo {{ ti.xcom_pull(task_ids='listing') | join('-') }} {{ ti.xcom_pull(task_ids='double') }}",
        do_xcom_push=True,
    )
    quiet = DockerOperator(
        task_id="quiet",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo nothing to keep",
        do_xcom_push=False,
    )
    count >> double
    [listing, double] >> summary >> quiet

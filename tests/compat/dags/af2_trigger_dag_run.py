# A controller DAG: prepare in a container, start another DAG with conf and wait for it, then report.
from datetime import datetime

from airflow import DAG
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.docker.operators.docker import DockerOperator

with DAG("af2_trigger_dag_run", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    prepare = DockerOperator(
        task_id="prepare", image="dockyard/busybox:latest", network_mode="none", command="echo orders"
    )
    trigger = TriggerDagRunOperator(
        task_id="trigger_target",
        trigger_dag_id="af2_trigger_target",
        trigger_run_id="from_controller_{{ ds_nodash }}",
        conf={"table": "{{ ti.xcom_pull(task_ids='prepare') }}"},
        wait_for_completion=True,
        poke_interval=1,
        allowed_states=["success"],
        failed_states=["failed"],
    )
    report = DockerOperator(
        task_id="report",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo triggered {{ ti.xcom_pull(task_ids='trigger_target', key='trigger_run_id') }}",
    )
    prepare >> trigger >> report

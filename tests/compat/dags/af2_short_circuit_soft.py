# @task.short_circuit with ignore_downstream_trigger_rules=False: only the next task is skipped; a later
# task with trigger_rule="all_done" still runs, as in Airflow.
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.providers.docker.operators.docker import DockerOperator

with DAG("af2_short_circuit_soft", start_date=datetime(2024, 1, 1), schedule=None) as dag:

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def quality_ok(count):
        return int(count) > 100

    count = DockerOperator(task_id="count", image="dockyard/busybox:latest", network_mode="none", command="echo 7")
    publish = DockerOperator(
        task_id="publish", image="dockyard/busybox:latest", network_mode="none", command="echo publishing"
    )
    audit = DockerOperator(
        task_id="audit",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo audit done",
        trigger_rule="all_done",
    )
    quality_ok(count.output) >> publish >> audit

# Labels on edges (shown by Airflow's graph view); a branch on an upstream container's XCom.
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.utils.edgemodifier import Label


def check(ti):
    errors = int(ti.xcom_pull(task_ids="validate"))
    return "quarantine" if errors else "publish"


with DAG("af2_labels", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    validate = DockerOperator(
        task_id="validate", image="dockyard/busybox:latest", network_mode="none", command="echo 2"
    )
    decide = BranchPythonOperator(task_id="decide", python_callable=check)
    publish = EmptyOperator(task_id="publish")
    quarantine = DockerOperator(
        task_id="quarantine", image="dockyard/busybox:latest", network_mode="none", command="echo quarantined"
    )
    validate >> decide
    decide >> Label("no errors") >> publish
    decide >> Label("errors found") >> quarantine

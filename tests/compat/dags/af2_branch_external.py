# Branches decided by another interpreter (@task.branch_external_python) and in a virtualenv
# (BranchPythonVirtualenvOperator), each in front of container tasks.
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonVirtualenvOperator
from airflow.providers.docker.operators.docker import DockerOperator


def second_only():
    return ["second"]


with DAG("af2_branch_external", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:

    @task.branch_external_python(python="/usr/bin/python3")
    def route():
        import sys

        return "modern" if sys.version_info >= (3, 8) else "legacy"

    modern = DockerOperator(
        task_id="modern", image="dockyard/busybox:latest", network_mode="none", command="echo modern"
    )
    legacy = DockerOperator(
        task_id="legacy", image="dockyard/busybox:latest", network_mode="none", command="echo legacy"
    )
    pick = BranchPythonVirtualenvOperator(
        task_id="pick", python_callable=second_only, requirements=[], trigger_rule="none_failed_min_one_success"
    )
    first = EmptyOperator(task_id="first")
    second = DockerOperator(
        task_id="second", image="dockyard/busybox:latest", network_mode="none", command="echo second"
    )
    route() >> [modern, legacy] >> pick >> [first, second]

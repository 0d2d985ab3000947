# A weekday/weekend branch in front of container tasks, joined again afterwards (Airflow 2.x style).
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.utils.trigger_rule import TriggerRule

common = dict(image="dockyard/busybox:latest", network_mode="none")


def choose_load(ds, **context):
    weekday = datetime.strptime(ds, "%Y-%m-%d").weekday()
    return "weekend_load" if weekday >= 5 else "weekday_load"


with DAG("af2_branch_python", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False) as dag:
    start = EmptyOperator(task_id="start")
    branch = BranchPythonOperator(task_id="choose_load", python_callable=choose_load)
    weekday = DockerOperator(task_id="weekday_load", command="echo full load {{ ds }}", **common)
    weekend = DockerOperator(task_id="weekend_load", command="echo light load {{ ds }}", **common)
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    report = DockerOperator(
        task_id="report", command="echo report after {{ ti.xcom_pull(task_ids='choose_load') }}", **common
    )
    start >> branch >> [weekday, weekend] >> join >> report

# Airflow 1.10 spelling: python_operator module, provide_context, xcom_push, DummyOperator.
from datetime import datetime

from airflow import DAG
from airflow.operators.docker_operator import DockerOperator
from airflow.operators.dummy_operator import DummyOperator
from airflow.operators.python_operator import BranchPythonOperator, PythonOperator

default_args = {"owner": "data", "start_date": datetime(2019, 1, 1), "retries": 0}

dag = DAG("af1_branch_operators", default_args=default_args, schedule_interval=None)


def pick_format(**kwargs):
    return "to_csv" if (kwargs["dag_run"].conf or {}).get("format", "csv") == "csv" else "to_parquet"


def count_rows(**kwargs):
    return 10


pick = BranchPythonOperator(task_id="pick_format", python_callable=pick_format, provide_context=True, dag=dag)
count = PythonOperator(task_id="count_rows", python_callable=count_rows, provide_context=True, dag=dag)
to_csv = DockerOperator(
    task_id="to_csv", image="dockyard/busybox:latest", network_mode="none", command="echo csv", xcom_push=True, dag=dag
)
to_parquet = DockerOperator(
    task_id="to_parquet",
    image="dockyard/busybox:latest",
    network_mode="none",
    command="echo parquet",
    xcom_push=True,
    dag=dag,
)
quiet = DockerOperator(
    task_id="quiet",
    image="dockyard/busybox:latest",
    network_mode="none",
    command="echo ignored",
    retrieve_output=True,
    dag=dag,
)
end = DummyOperator(task_id="end", trigger_rule="none_failed_or_skipped", dag=dag)

count >> pick >> [to_csv, to_parquet] >> end
quiet >> end

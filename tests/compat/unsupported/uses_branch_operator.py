from datetime import datetime

from airflow import DAG
from airflow.operators.python import BranchPythonOperator


def pick():
    return "left"


with DAG("uses_branch_operator", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    BranchPythonOperator(task_id="pick", python_callable=pick)

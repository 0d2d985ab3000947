from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator


def transform():
    return 1


with DAG("af2_python_operator", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="transform", python_callable=transform)

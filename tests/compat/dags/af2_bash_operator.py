from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("af2_bash_operator", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")

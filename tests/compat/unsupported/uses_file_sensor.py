from datetime import datetime

from airflow import DAG
from airflow.sensors.filesystem import FileSensor

with DAG("uses_file_sensor", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    FileSensor(task_id="wait", filepath="/data/ready")

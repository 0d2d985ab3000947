from datetime import datetime

from airflow import DAG
from airflow.providers.common.sql.sensors.sql import SqlSensor

with DAG("uses_sql_sensor", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    SqlSensor(task_id="wait", conn_id="warehouse", sql="select count(*) from events")

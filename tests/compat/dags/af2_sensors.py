from datetime import datetime, timedelta
from pathlib import Path

from airflow import DAG
from airflow.decorators import task
from airflow.operators.bash import BashOperator
from airflow.sensors.base import PokeReturnValue
from airflow.sensors.date_time import DateTimeSensor
from airflow.sensors.filesystem import FileSensor
from airflow.sensors.python import PythonSensor
from airflow.sensors.time_delta import TimeDeltaSensor

LANDING = str(Path(__file__).parent / "af2_sensors.py")


def table_ready(ds=None):
    return PokeReturnValue(is_done=True, xcom_value=f"rows for {ds}")


with DAG("af2_sensors", start_date=datetime(2023, 1, 1), schedule=None, catchup=False) as dag:
    wait_file = FileSensor(task_id="wait_file", filepath=LANDING, poke_interval=5, mode="reschedule")
    wait_table = PythonSensor(task_id="wait_table", python_callable=table_ready, poke_interval=5, timeout=60)
    wait_interval = TimeDeltaSensor(task_id="wait_interval", delta=timedelta(0))
    wait_date = DateTimeSensor(task_id="wait_date", target_time="{{ data_interval_end }}", mode="reschedule")

    @task.sensor(poke_interval=5, timeout=60)
    def upstream_done():
        return True

    load = BashOperator(task_id="load", bash_command="echo loading {{ ti.xcom_pull(task_ids='wait_table') }}")
    [wait_file, wait_table, wait_interval, wait_date] >> load
    upstream_done() >> load

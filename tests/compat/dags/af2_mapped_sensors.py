"""One sensor per region and per file, mapped: each instance pokes and finishes on its own."""

from datetime import datetime
from pathlib import Path

from airflow import DAG
from airflow.decorators import task
from airflow.operators.python import get_current_context
from airflow.sensors.base import PokeReturnValue
from airflow.sensors.python import PythonSensor


def partition_landed(region, pokes_needed):
    """Ready after ``pokes_needed`` pokes (a counter file in the sensor's own container)."""
    counter = Path(f"/tmp/pokes-{region}")
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    print(f"poke {count} for {region}")
    return count >= pokes_needed


def never_lands(region):
    return False


with DAG("af2_mapped_sensors", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    partitions = PythonSensor.partial(
        task_id="wait_partition", python_callable=partition_landed, poke_interval=1, timeout=120
    ).expand(op_kwargs=[{"region": "eu", "pokes_needed": 1}, {"region": "us", "pokes_needed": 3}])
    late = PythonSensor.partial(
        task_id="wait_late", python_callable=never_lands, poke_interval=1, timeout=2, soft_fail=True
    ).expand(op_kwargs=[{"region": "apac"}])

    @task.sensor(poke_interval=1, timeout=60, mode="poke")
    def wait_for_file(name):
        get_current_context()["ti"].xcom_push(key="checked", value=name)
        return PokeReturnValue(is_done=True, xcom_value=f"{name}.csv")

    @task
    def load(files):
        return sorted(files)

    files = wait_for_file.expand(name=["orders", "customers"])
    loaded = load(files)
    partitions >> loaded

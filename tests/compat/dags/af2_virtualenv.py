# PythonVirtualenvOperator and @task.virtualenv without requirements: the callable runs in the task image.
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.operators.python import PythonVirtualenvOperator


def summarize(values):
    import statistics

    return {"mean": statistics.mean(values), "n": len(values)}


with DAG("af2_virtualenv", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    stats = PythonVirtualenvOperator(
        task_id="summarize",
        python_callable=summarize,
        op_args=[[2, 4, 6]],
        requirements=[],
        system_site_packages=True,
    )

    @task.virtualenv(system_site_packages=True)
    def label(summary):
        return f"mean {summary['mean']} over {summary['n']}"

    label(stats.output)

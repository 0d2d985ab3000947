# LatestOnlyOperator in a daily DAG: a scheduled run of an old day skips the publishing steps.
import pendulum
from airflow import DAG
from airflow.operators.latest_only import LatestOnlyOperator
from airflow.providers.docker.operators.docker import DockerOperator

with DAG(
    dag_id="af2_latest_only",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    compute = DockerOperator(
        task_id="compute", image="dockyard/busybox:latest", network_mode="none", command="echo computed {{ ds }}"
    )
    latest_only = LatestOnlyOperator(task_id="latest_only")
    publish = DockerOperator(
        task_id="publish", image="dockyard/busybox:latest", network_mode="none", command="echo publishing"
    )
    compute >> latest_only >> publish

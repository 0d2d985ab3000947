# @task_group, called twice: two groups with their own ids, container and Python tasks inside.
from datetime import datetime

from airflow.decorators import dag, task, task_group
from airflow.providers.docker.operators.docker import DockerOperator


@dag(start_date=datetime(2024, 1, 1), schedule=None, catchup=False)
def af2_task_group_decorator():
    @task
    def region_rows(region):
        return {"eu": 3, "us": 5}[region]

    @task
    def double(n):
        return n * 2

    @task_group
    def per_region(region):
        return double(region_rows(region))

    eu = per_region("eu")
    us = per_region("us")
    total = DockerOperator(
        task_id="total",
        image="dockyard/busybox:latest",
        network_mode="none",
        command="echo total {{ ti.xcom_pull(task_ids='per_region.double') "
        "+ ti.xcom_pull(task_ids='per_region__1.double') }}",
    )
    [eu, us] >> total


af2_task_group_decorator()

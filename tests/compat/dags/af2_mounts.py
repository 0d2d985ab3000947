from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import Mount

with DAG("af2_mounts", start_date=datetime(2023, 1, 1), schedule=None, catchup=False) as dag:
    write = DockerOperator(
        task_id="write",
        image="dockyard/busybox:latest",
        network_mode="none",
        mounts=[Mount(source="af2-mounts-data", target="/data", type="volume")],
        command="sh -c 'echo {{ ds }} > /data/day.txt && echo stored'",
    )
    read = DockerOperator(
        task_id="read",
        image="dockyard/busybox:latest",
        network_mode="none",
        mounts=[
            Mount(source="af2-mounts-data", target="/data", type="volume", read_only=True),
            Mount(source="/etc", target="/host-etc", type="bind", read_only=True),
        ],
        command="sh -c 'test -f /host-etc/hostname && cat /data/day.txt'",
    )
    write >> read

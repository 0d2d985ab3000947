from datetime import datetime

from airflow.models import DAG
from airflow.models.baseoperator import chain, cross_downstream
from airflow.providers.docker.operators.docker import DockerOperator


def step(name):
    return DockerOperator(task_id=name, image="dockyard/busybox:latest", network_mode="none", command=f"echo {name}")


with DAG("af2_chain_helpers", start_date=datetime(2023, 1, 1), schedule=None) as dag:
    a, b1, b2, c1, c2, d = (step(n) for n in ["a", "b1", "b2", "c1", "c2", "d"])
    chain(a, [b1, b2], [c1, c2])
    cross_downstream([c1, c2], [d])

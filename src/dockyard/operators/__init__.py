"""The operators a DAG file uses: what each task is. They describe work; they never run it."""

from dockyard.operators.base import BaseOperator, EmptyOperator, TriggerRule, chain, cross_downstream
from dockyard.operators.bash import BashOperator
from dockyard.operators.docker import DockerOperator
from dockyard.operators.python import PythonOperator

__all__ = [
    "BaseOperator",
    "BashOperator",
    "DockerOperator",
    "EmptyOperator",
    "PythonOperator",
    "TriggerRule",
    "chain",
    "cross_downstream",
]

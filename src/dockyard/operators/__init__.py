"""The operators a DAG file uses: what each task is. They describe work; they never run it."""

from dockyard.operators.base import BaseOperator, EmptyOperator, TriggerRule, chain, cross_downstream
from dockyard.operators.docker import DockerOperator

__all__ = ["BaseOperator", "DockerOperator", "EmptyOperator", "TriggerRule", "chain", "cross_downstream"]

"""The operators a DAG file uses: what each task is. They describe work; they never run it."""

from dockyard.operators.base import BaseOperator, EmptyOperator, TriggerRule, chain, cross_downstream
from dockyard.operators.bash import BashOperator
from dockyard.operators.branch import BranchPythonOperator, ShortCircuitOperator
from dockyard.operators.docker import DockerOperator
from dockyard.operators.docker_swarm import DockerSwarmOperator
from dockyard.operators.edges import Label
from dockyard.operators.orchestration import LatestOnlyOperator, TriggerDagRunOperator
from dockyard.operators.python import PythonOperator
from dockyard.operators.python_env import ExternalPythonOperator, PythonVirtualenvOperator

__all__ = [
    "BaseOperator",
    "BashOperator",
    "BranchPythonOperator",
    "DockerOperator",
    "DockerSwarmOperator",
    "EmptyOperator",
    "ExternalPythonOperator",
    "Label",
    "LatestOnlyOperator",
    "PythonOperator",
    "PythonVirtualenvOperator",
    "ShortCircuitOperator",
    "TriggerDagRunOperator",
    "TriggerRule",
    "chain",
    "cross_downstream",
]

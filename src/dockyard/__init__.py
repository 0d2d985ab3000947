"""dockyard: a lean workflow orchestrator in which every task runs as a container.

DAG files use Airflow's authoring API::

    from dockyard import DAG, DockerOperator
"""

from dockyard.dag import DAG
from dockyard.datasets import Asset, Dataset, DatasetAll, DatasetAny
from dockyard.errors import DockyardError
from dockyard.operators import (
    BaseOperator,
    BashOperator,
    DockerOperator,
    DockerSwarmOperator,
    EmptyOperator,
    PythonOperator,
    TriggerRule,
    chain,
    cross_downstream,
)
from dockyard.params import Param

__version__ = "0.1.0"

__all__ = [
    "DAG",
    "Asset",
    "BaseOperator",
    "BashOperator",
    "Dataset",
    "DatasetAll",
    "DatasetAny",
    "DockerOperator",
    "DockerSwarmOperator",
    "DockyardError",
    "EmptyOperator",
    "Param",
    "PythonOperator",
    "TriggerRule",
    "__version__",
    "chain",
    "cross_downstream",
]

"""Capture the arguments of Apache Airflow's ``BaseOperator`` and ``DAG`` for tests/data/airflow_signatures.json
(run with Airflow installed, not dockyard)::

    /tmp/af/bin/python tests/data/capture_signatures.py

``tests/unit/test_airflow_arguments.py`` reads the file: every argument dockyard accepts must be honoured or warned
about, and the others must be refused at load.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import airflow
from airflow.models.baseoperator import BaseOperator
from airflow.models.dag import DAG


def arguments(function: object) -> list[str]:
    return [
        p.name
        for p in inspect.signature(function).parameters.values()  # type: ignore[arg-type]
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


if __name__ == "__main__":
    data = {
        "airflow_version": airflow.__version__,
        "BaseOperator": arguments(BaseOperator.__init__),
        "DAG": arguments(DAG.__init__),
    }
    target = Path(__file__).with_name("airflow_signatures.json")
    target.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {target} for Airflow {airflow.__version__}")

"""``dockyard compat check PATH``: does each DAG file run unchanged under dockyard, and if not, why."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dockyard.cli.common import open_store
from dockyard.cli.output import emit, output_option
from dockyard.compat import airflow as airflow_compat
from dockyard.dagbag import load_dag_file
from dockyard.errors import DagFileError
from dockyard.operators.base import EmptyOperator
from dockyard.operators.docker import DockerOperator
from dockyard.settings import Settings


@click.group()
def compat() -> None:
    """Check DAG files written for Apache Airflow."""


@compat.command("check")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@output_option
@click.pass_obj
def compat_check(settings: Settings, path: Path, output: str) -> None:
    """Report, for each DAG file under PATH, whether it runs unchanged and, if not, why. Exits 1 if any does not."""
    if airflow_compat.real_airflow_installed():
        click.secho(
            "Note: Apache Airflow is installed here; its own modules are used, not dockyard's.", fg="yellow", err=True
        )
    open_store(settings)  # Variable.get and BaseHook.get_connection in DAG files read the store
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    rows = []
    for file in files:
        try:
            dags = load_dag_file(file)
        except DagFileError as exc:
            rows.append(
                {
                    "file": str(file),
                    "runs_unchanged": False,
                    "dags": [],
                    "reason": exc.reason if exc.lineno is None else f"line {exc.lineno}: {exc.reason}",
                }
            )
            continue
        if not dags:
            rows.append({"file": str(file), "runs_unchanged": False, "dags": [], "reason": "defines no DAG"})
            continue
        odd = [
            f"{d.dag_id}.{t.task_id} ({type(t).__name__})"
            for d in dags
            for t in d.tasks
            if not isinstance(t, (DockerOperator, EmptyOperator))
        ]
        rows.append(
            {
                "file": str(file),
                "runs_unchanged": not odd,
                "dags": [d.dag_id for d in dags],
                "reason": f"tasks dockyard cannot run: {', '.join(odd)}" if odd else "ok",
            }
        )
    emit(rows, output, empty=f"No Python files under {path}.")
    if any(not row["runs_unchanged"] for row in rows):
        sys.exit(1)

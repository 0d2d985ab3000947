"""``dockyard compat check PATH``: does each DAG file run unchanged under dockyard, and if not, why."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dockyard.cli.common import open_store
from dockyard.cli.output import emit, output_option
from dockyard.compat import airflow as airflow_compat
from dockyard.processor import parse_files
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
    open_store(settings)  # migrates the store that Variable.get and BaseHook.get_connection in DAG files read
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    results = parse_files([str(f.resolve()) for f in files], settings)
    rows = []
    for file in files:
        result = results[str(file.resolve())]
        odd = [
            f"{d.dag_id}.{t.task_id} ({t.operator})"
            for d in result.dags
            for t in d.tasks
            if not t.runs_container and t.operator != "EmptyOperator" and not t.flow  # flow: run by the scheduler
        ]
        reasons = list(result.problems)
        if odd:
            reasons.append(f"tasks dockyard cannot run: {', '.join(odd)}")
        if not result.dags and not result.problems:
            reasons.append("defines no DAG")
        rows.append(
            {
                "file": str(file),
                "runs_unchanged": not reasons,
                "dags": [d.dag_id for d in result.dags],
                "reason": "; ".join(reasons) or "ok",
            }
        )
    emit(rows, output, empty=f"No Python files under {path}.")
    if any(not row["runs_unchanged"] for row in rows):
        sys.exit(1)

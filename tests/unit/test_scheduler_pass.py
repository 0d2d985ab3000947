"""An idle scheduler pass costs a handful of queries, however many DAGs there are: DAGs are decided from
their stored form, and a DAG is looked at only once its next run may be due."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dockyard.scheduler import Scheduler
from dockyard.settings import Settings
from dockyard.store import Store

DAG_FILE = """
from datetime import datetime, timedelta
from dockyard import DAG, DockerOperator, chain
for n in range({first}, {last}):
    with DAG(f"idle_{{n}}", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False,
             end_date=datetime(2024, 1, 3)) as dag:
        chain(*[DockerOperator(task_id=f"t{{i}}", image="busybox", command="true") for i in range(5)])
"""


@pytest.mark.parametrize("dags", [20, 200])
def test_an_idle_pass_costs_the_same_few_queries_for_20_or_200_dags(tmp_path: Path, dags: int) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    for first in range(0, dags, 50):  # several DAGs per file keeps the parse short
        (folder / f"dags_{first}.py").write_text(DAG_FILE.format(first=first, last=min(first + 50, dags)))
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_DAGS_FOLDER": str(folder)})
    settings = dataclasses.replace(settings, dag_file_processor_timeout=60)
    settings.home.mkdir()
    store = Store.open(settings)
    scheduler = Scheduler(settings, store)
    try:
        scheduler.refresh_dags(force=True)
        assert len(scheduler.dags) == dags
        scheduler.step()  # the first pass looks at every DAG once (their runs are all in the past)
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(" ".join(statement.split()[:6]))

        sa.event.listen(store.engine, "before_cursor_execute", count)
        scheduler.step()
        sa.event.remove(store.engine, "before_cursor_execute", count)
    finally:
        scheduler.shutdown()
        store.close()
    queries = [s for s in statements if not s.startswith("BEGIN")]
    assert len(queries) <= 6, "\n".join(queries)

"""Which task instances a clear or a "mark as" touches: Airflow's options (``include_upstream``,
``include_downstream``, ``include_past``, ``include_future``, ``only_failed``, ``only_running``) over the
stored DAG's graph and the runs' logical dates, resolved in the store's queries.

Example: ``task_ids=["load"], include_upstream=True`` on ``extract >> load`` selects both tasks of the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.serialized import SerializedDag
from dockyard.states import TaskState
from dockyard.store.queries import Queries, TaskInstanceFilter, TaskInstanceRecord

FAILED = (TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value)
SELECT_LIMIT = 100_000
"""A clear touches at most this many task instances at once."""


@dataclass(frozen=True)
class Selection:
    task_ids: Sequence[str] | None = None
    run_id: str | None = None
    logical_date: tuple[dt.datetime | None, dt.datetime | None] = (None, None)
    include_upstream: bool = False
    include_downstream: bool = False
    include_past: bool = False
    include_future: bool = False
    only_failed: bool = False
    only_running: bool = False


def related(dag: SerializedDag, task_ids: Sequence[str], *, upstream: bool, downstream: bool) -> list[str]:
    """``task_ids`` and, transitively, their upstream and/or downstream tasks, in the DAG's order."""
    chosen = set(task_ids)
    for wanted, step in ((upstream, "upstream"), (downstream, "downstream")):
        if not wanted:
            continue
        todo = list(task_ids)
        while todo:
            for other in getattr(dag.task(todo.pop()), step):
                if other not in chosen:
                    chosen.add(other)
                    todo.append(other)
    return [t for t in dag.task_ids if t in chosen]


def select(q: Queries, dag: SerializedDag, how: Selection) -> list[TaskInstanceRecord]:
    task_ids = None
    if how.task_ids is not None:
        for task_id in how.task_ids:
            dag.task(task_id)  # an unknown task is a 404 that names the DAG's tasks
        task_ids = related(dag, how.task_ids, upstream=how.include_upstream, downstream=how.include_downstream)
    low, high = how.logical_date
    run_ids = None
    if how.run_id is not None:
        when = q.run(dag.dag_id, how.run_id).logical_date
        low = None if how.include_past else when
        high = None if how.include_future else when
        run_ids = None if how.include_past or how.include_future else [how.run_id]
    states: list[str | None] | None = None
    if how.only_failed:
        states = list(FAILED)
    if how.only_running:
        states = [*(states or []), TaskState.RUNNING.value]
    flt = TaskInstanceFilter(
        dag_ids=[dag.dag_id], run_ids=run_ids, task_ids=task_ids, states=states, logical_date=(low, high)
    )
    return q.task_instances(flt, order_by="execution_date", limit=SELECT_LIMIT).items

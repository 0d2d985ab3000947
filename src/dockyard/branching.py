"""What a finished branching task skips: Airflow's ``BranchPythonOperator``, ``@task.branch``,
``LatestOnlyOperator`` and ``ShortCircuitOperator`` rules, over the stored DAG.

The branching task's callable runs in its container (or, for ``LatestOnlyOperator``, in the scheduler); its
result comes back as the try's XCom, and the scheduler marks the tasks this module names as skipped before
it looks at readiness again. Pure logic, no store.

Example::

    skipped_after(dag, dag.task("pick"), "weekday")     # ['weekend'] when pick >> [weekday, weekend]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dockyard.errors import TaskError
from dockyard.serialized import SerializedDag, SerializedTask

BRANCH = "branch"
SHORT_CIRCUIT = "short_circuit"


def chosen_ids(task: SerializedTask, result: Any, dag: SerializedDag) -> set[str]:
    """The task ids a branch's result names (a task id, a task group id or a list of them; None for none).
    A group id stands for the group's first tasks, as in Airflow. An unknown id fails the branching task."""
    if result is None:
        return set()
    values = [result] if isinstance(result, str) else result
    if not isinstance(values, (list, tuple, set)) or not all(isinstance(v, str) for v in values):
        raise TaskError(
            f"task {task.task_id!r}: a branch must return a task_id, a task group id or a list of them (or None), "
            f"got {result!r}"
        )
    groups: dict[str, list[str]] = task.flow.get("groups") or {}
    chosen: set[str] = set()
    for value in values:
        chosen.update(groups.get(value, [value]))
    invalid = sorted(chosen - set(dag.task_dict))
    if invalid:
        raise TaskError(
            f"task {task.task_id!r}: 'branch_task_ids' must contain only valid task_ids. Invalid tasks found: "
            f"{invalid}; the DAG's tasks are {', '.join(dag.task_ids)}"
        )
    return chosen


def descendants(dag: SerializedDag, task_ids: Iterable[str]) -> set[str]:
    """Every task downstream of ``task_ids``, directly or not."""
    seen: set[str] = set()
    stack = list(task_ids)
    while stack:
        for down in dag.task_dict[stack.pop()].downstream:
            if down not in seen:
                seen.add(down)
                stack.append(down)
    return seen


def skipped_after(dag: SerializedDag, task: SerializedTask, result: Any) -> list[str]:
    """The tasks to mark skipped now that ``task`` finished with ``result`` (none for a plain task).

    A branch skips its direct downstream tasks that it did not choose, except those downstream of a chosen
    one (the "join" after an empty branch); trigger rules carry the skip further. A short circuit whose
    result is false skips every task downstream of it (``ignore_downstream_trigger_rules=True``, the default)
    or only its direct downstream tasks, teardowns never."""
    kind = task.flow.get("kind")
    if kind == BRANCH:
        chosen = chosen_ids(task, result, dag)
        after_chosen = descendants(dag, chosen)
        return [d for d in task.downstream if d not in chosen and d not in after_chosen]
    if kind == SHORT_CIRCUIT:
        if result:
            return []
        if task.flow.get("ignore_downstream_trigger_rules", True):
            targets: Iterable[str] = sorted(descendants(dag, [task.task_id]))
        else:
            targets = task.downstream
        return [t for t in targets if not dag.task_dict[t].is_teardown]
    return []

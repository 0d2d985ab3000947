"""The scheduler's part of dynamic task mapping, for one run at a time: expand a mapped task whose upstream
tasks are done into one instance per element (:func:`expand`), decide the instances of an expanded task
(:func:`advance`: trigger rules on cleared instances, retries), and fail a task whose result a downstream task
cannot map over (:func:`mappable_or_failed`), as Airflow does.

``states`` holds one state per task (a mapped task's instances combined, for the run's end state) and
``each`` the state of every instance of each expanded task (what trigger rules count), as
:meth:`dockyard.scheduler.Scheduler._advance_runs` keeps them during a pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dockyard import defaults
from dockyard.errors import UnmappableResultError
from dockyard.mapping import count, mapped_sources
from dockyard.operators.base import TriggerRule
from dockyard.readiness import Counts, Decision, decide
from dockyard.states import FINISHED_STATES, TaskState

if TYPE_CHECKING:
    from dockyard.execution import TryOutcome
    from dockyard.serialized import SerializedDag, SerializedTask
    from dockyard.store import Store
    from dockyard.store.models import DagRunModel, TaskInstanceModel

log = logging.getLogger(__name__)


# -- instance states and results that cannot be mapped ---------------------------------------------------
def combined_state(states: Sequence[str | None]) -> str | None:
    """One state for all instances of a mapped task, for the run's end state: an unfinished instance's
    state while any is unfinished, else the worst (failed, upstream_failed, success, skipped)."""
    for state in states:
        if state not in FINISHED_STATES:
            return state
    for worst in (TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SUCCESS):
        if worst in states:
            return str(worst.value)
    return str(TaskState.SKIPPED.value)


def unmappable(mappings: Sequence[Mapping[str, Any] | None], task_id: str, value: Any, *, limit: int) -> str | None:
    """Why the result ``value`` of task ``task_id`` cannot be mapped over by the tasks whose mappings are
    ``mappings``, or None. Airflow fails the task that returned it, so its retries and callbacks apply."""
    for mapping in mappings:
        if not mapping or task_id not in mapped_sources(mapping):
            continue
        try:
            count(mapping, lambda t, key: value if key == "return_value" else _key_of(value, key), limit=limit)
        except UnmappableResultError as exc:
            return f"a downstream task maps over this result: {exc}"
    return None


def _key_of(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def upstream_counts(task: SerializedTask, states: dict[str, str | None], each: dict[str, list[str | None]]) -> Counts:
    """The states of ``task``'s upstream task instances, each instance of a mapped upstream counted."""
    return Counts.of(s for u in task.upstream for s in each.get(u, [states.get(u)]))


def expand(
    store: Store,
    dag: SerializedDag,
    run: DagRunModel,
    task: SerializedTask,
    instances: dict[str, list[TaskInstanceModel]],
    states: dict[str, str | None],
    each: dict[str, list[str | None]],
) -> list[TaskInstanceModel]:
    """A mapped task whose upstream tasks are done: one scheduled instance per element of what it maps
    over (none, and the task skipped, for an empty input, as in Airflow). Returns the new instances."""

    def result(task_id: str, key: str) -> Any:
        upstream = dag.task_dict.get(task_id)
        if upstream is not None and upstream.is_mapped:
            return store.mapped_xcoms(run.dag_id, run.run_id, task_id, key)
        return store.get_xcom(run.dag_id, run.run_id, task_id, key)

    try:
        size = count(task.mapping or {}, result, limit=defaults.DEFAULT_MAX_MAP_LENGTH)
    except UnmappableResultError as exc:
        log.error("task %s.%s of run %s cannot expand: %s", run.dag_id, task.task_id, run.run_id, exc)
        store.set_ti_state(run.dag_id, run.run_id, [task.task_id], TaskState.FAILED, only_if=[None])
        states[task.task_id] = TaskState.FAILED.value
        return []
    made = store.expand_task(run.dag_id, run.run_id, task.task_id, size)
    if size == 0:
        log.info("task %s.%s of run %s maps over nothing: skipped", run.dag_id, task.task_id, run.run_id)
        states[task.task_id] = TaskState.SKIPPED.value
    if made:
        instances[task.task_id] = made
        each[task.task_id] = [TaskState.SCHEDULED.value] * len(made)
        states[task.task_id] = TaskState.SCHEDULED.value
    return made


def advance(
    store: Store,
    run: DagRunModel,
    task: SerializedTask,
    instances: dict[str, list[TaskInstanceModel]],
    states: dict[str, str | None],
    each: dict[str, list[str | None]],
    now: dt.datetime,
) -> list[TaskInstanceModel]:
    """The instances of an expanded mapped task that are ready to run (the scheduled ones, and those
    cleared or due for a retry whose trigger rule allows it); cleared entirely, it expands anew."""
    group = instances[task.task_id]
    if all(ti.state is None for ti in group):
        store.collapse_mapped(run.dag_id, run.run_id, task.task_id)
        states[task.task_id] = None
        return []
    waiting = [
        ti
        for ti in group
        if ti.state is None
        or (ti.state == TaskState.UP_FOR_RETRY.value and (ti.next_retry_at is None or ti.next_retry_at <= now))
    ]
    if waiting:
        counts = Counts.of(s for u in task.upstream for s in each.get(u, [states.get(u)]))
        decision = decide(TriggerRule(task.trigger_rule), counts)
        if decision is not Decision.WAIT:
            new = {
                Decision.RUN: TaskState.SCHEDULED,
                Decision.UPSTREAM_FAILED: TaskState.UPSTREAM_FAILED,
                Decision.SKIP: TaskState.SKIPPED,
            }[decision]
            changed = store.set_instance_states(
                run.dag_id, run.run_id, task.task_id, [ti.map_index for ti in waiting], new
            )
            for ti in changed:
                group[[g.map_index for g in group].index(ti.map_index)] = ti
    each[task.task_id] = [ti.state for ti in group]
    states[task.task_id] = combined_state(each[task.task_id])
    return [ti for ti in group if ti.state == TaskState.SCHEDULED.value]


def expanded(tis: list[TaskInstanceModel]) -> dict[str, list[TaskInstanceModel]]:
    """The instances of each expanded mapped task (``map_index`` 0, 1, ...), in order."""
    found: dict[str, list[TaskInstanceModel]] = {}
    for ti in sorted((ti for ti in tis if ti.map_index >= 0), key=lambda ti: ti.map_index):
        found.setdefault(ti.task_id, []).append(ti)
    return found


def mappable_or_failed(dag: SerializedDag, task_id: str, outcome: TryOutcome) -> TryOutcome:
    """A successful try whose result a downstream task maps over, but cannot (not a list or dict, too
    long), fails, as in Airflow: the task that returned it is the one to fix."""
    if outcome.state is not TaskState.SUCCESS:
        return outcome
    mappings = [dag.task_dict[t].mapping for t in dag.task(task_id).downstream if t in dag.task_dict]
    reason = unmappable(mappings, task_id, outcome.xcom, limit=defaults.DEFAULT_MAX_MAP_LENGTH)
    if reason is None:
        return outcome
    return dataclasses.replace(outcome, state=TaskState.FAILED, message=reason, xcom=None)

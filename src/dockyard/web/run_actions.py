"""What a person can do to a run or a task instance from the UI, as a plan first and a change second: the
confirmation dialog shows the plan (a dry run), and only the confirmed form carries it out.

Options as in Airflow's clear and mark dialogs: ``downstream`` (on by default), ``upstream``, ``past`` and
``future`` (the same tasks in earlier or later runs), ``only_failed``.

Example::

    plan = plan_action(store, dag, "clear", run_id, task_id="extract", options=Options())
    [(c.run_id, c.task_id, c.before, c.after) for c in plan.changes]   # what the dialog lists
    carry_out(settings, store, dag, plan)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dockyard import roles
from dockyard.errors import ConflictError, InvalidInputError
from dockyard.runs import notify_scheduler
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.states import FINISHED_STATES, RunState, TaskState
from dockyard.store import Store
from dockyard.store.views import runs_around, task_states

ACTIONS = ("clear", "success", "failed", "delete", "stop")


def right_for(action: str, task_id: str | None) -> tuple[str, str]:
    """The ``(action, resource)`` right an action takes, in Airflow's names (:mod:`dockyard.roles`): deleting a
    run takes can_delete on DAG Runs, changing a run can_edit on DAG Runs, changing a task instance can_edit on
    Task Instances. The pages show a button only to those who hold its right, and the routes check it again."""
    if action == "delete":
        return roles.DELETE, roles.DAG_RUNS
    return roles.EDIT, roles.DAG_RUNS if task_id is None else roles.TASK_INSTANCES


FAILED_STATES = ("failed", "upstream_failed")


@dataclass(frozen=True)
class Options:
    downstream: bool = True
    upstream: bool = False
    past: bool = False
    future: bool = False
    only_failed: bool = False


@dataclass(frozen=True)
class Change:
    run_id: str
    task_id: str
    before: str | None
    after: str | None


@dataclass
class Plan:
    action: str
    run_id: str
    task_id: str | None
    options: Options
    changes: list[Change] = field(default_factory=list)
    run_state: str | None = None
    """The run's state afterwards (None: unchanged, "deleted" for a delete)."""
    blocked: str | None = None
    """Why the action cannot be carried out as planned (e.g. a running task to clear)."""


def _closure(dag: SerializedDag, start: str, direction: str) -> set[str]:
    found: set[str] = set()
    todo = [start]
    while todo:
        for other in getattr(dag.task(todo.pop()), direction):
            if other not in found:
                found.add(other)
                todo.append(other)
    return found


def chosen_tasks(dag: SerializedDag, task_id: str | None, options: Options) -> list[str]:
    """The tasks an action on ``task_id`` touches (every task for a run action), in the DAG's order."""
    if task_id is None:
        return dag.task_ids
    ids = {task_id}
    if options.downstream:
        ids |= _closure(dag, task_id, "downstream")
    if options.upstream:
        ids |= _closure(dag, task_id, "upstream")
    return [t for t in dag.task_ids if t in ids]


def plan_action(
    store: Store, dag: SerializedDag, action: str, run_id: str, *, task_id: str | None, options: Options
) -> Plan:
    if action not in ACTIONS:
        raise InvalidInputError(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    run = store.get_run(dag.dag_id, run_id)
    if task_id is not None:
        dag.task(task_id)  # an unknown task: an error naming the DAG's tasks
    plan = Plan(action, run_id, task_id, options)
    if action == "delete":
        plan.run_state = "deleted"
        plan.changes = [
            Change(run_id, t.task_id, str(t.state) if t.state else None, None)
            for t in store.list_task_instances(dag.dag_id, run_id)
        ]
        return plan
    run_ids = [run_id]
    if task_id is not None and options.past:
        run_ids += runs_around(store, dag.dag_id, run.logical_date, before=True)
    if task_id is not None and options.future:
        run_ids += runs_around(store, dag.dag_id, run.logical_date, before=False)
    tis = task_states(store, dag.dag_id, run_ids)
    ids = chosen_tasks(dag, task_id, options) if action in ("clear", "success", "failed") else [str(task_id)]
    for rid in run_ids:
        for tid in ids:
            ti = tis.get((rid, tid))
            if ti is None:
                continue
            before = str(ti.state) if ti.state else None
            after = _after(action, before, options, whole_run=task_id is None)
            if after != before or (action == "clear" and after is None and before is not None):
                plan.changes.append(Change(rid, tid, before, after))
    if action == "clear" and any(c.before == "running" for c in plan.changes):
        running = ", ".join(sorted({c.task_id for c in plan.changes if c.before == "running"}))
        plan.blocked = f"{running} is running: stop it before clearing it"
    if task_id is None and action in ("success", "failed"):
        plan.run_state = action
    elif action == "clear" and plan.changes:
        plan.run_state = "running"
    return plan


def _after(action: str, before: str | None, options: Options, *, whole_run: bool) -> str | None:
    if action == "clear":
        if options.only_failed and before not in FAILED_STATES:
            return before
        return None if before is not None else before
    if action == "stop":
        return "failed" if before == "running" else before
    if action == "failed" and whole_run:  # a run marked failed: its unfinished tasks fail, its finished ones stay
        finished = before is not None and TaskState(before) in FINISHED_STATES
        return before if finished else "failed"
    return "success"


def _by_run(plan: Plan) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for change in plan.changes:
        grouped.setdefault(change.run_id, []).append(change.task_id)
    return grouped


def carry_out(settings: Settings, store: Store, dag: SerializedDag, plan: Plan) -> int:
    """Make the planned change; returns how many task instances changed."""
    if plan.blocked:
        raise ConflictError(plan.blocked)
    retries = {t.task_id: t.retries for t in dag.tasks}
    if plan.action == "delete":
        store.delete_run(dag.dag_id, plan.run_id)
        return len(plan.changes)
    changed = 0
    for run_id, task_ids in _by_run(plan).items():
        if plan.action == "clear":
            changed += store.clear(dag.dag_id, run_id, task_ids, retries)
        else:
            for after in {c.after for c in plan.changes if c.run_id == run_id}:
                same = [c.task_id for c in plan.changes if c.run_id == run_id and c.after == after]
                changed += store.set_ti_state(dag.dag_id, run_id, same, TaskState(after) if after else None)
    if plan.run_state in ("success", "failed"):
        store.finish_run(dag.dag_id, plan.run_id, RunState(plan.run_state))
    notify_scheduler(settings)
    return changed


def options_from(values: Iterable[tuple[str, str]], *, first_time: bool, action: str) -> Options:
    """The dialog's checkboxes; the first time it opens, Airflow's defaults (a clear takes the downstream
    tasks along, a mark only the task itself)."""
    if first_time:
        return Options(downstream=action == "clear")
    ticked = {key for key, value in values if value in ("on", "true", "1")}
    return Options(
        downstream="downstream" in ticked,
        upstream="upstream" in ticked,
        past="past" in ticked,
        future="future" in ticked,
        only_failed="only_failed" in ticked,
    )

"""``TriggerDagRunOperator``'s work in the scheduler: create the run of the other DAG, and with
``wait_for_completion`` watch it until it ends, as Airflow's operator does.

The operator's templated fields were rendered in the preparation child; the plan comes back as the try's
result (:meth:`~dockyard.operators.orchestration.TriggerDagRunOperator.run_in_scheduler`). This runs in the
scheduler's worker thread, so a long wait holds a thread, never the scheduling loop, and a stop request
(the task marked, a timeout, a shutdown) ends the wait.

Airflow's rules: the run id is ``trigger_run_id`` or ``manual__<logical date>``; an existing run with that id
is cleared and run again with ``reset_dag_run``, skips the task with ``skip_when_already_exists``, and fails
it otherwise. The XComs ``trigger_run_id`` and ``trigger_logical_date_iso`` name the run.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

from dockyard.container import RunControl
from dockyard.errors import ConflictError, DockyardError, NotFoundError, TaskError
from dockyard.execution import TryOutcome
from dockyard.runs import trigger_run
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.states import TaskState
from dockyard.store import Store
from dockyard.store.api import KeyedXCom


def _parse_date(text: str | None) -> dt.datetime:
    if not text:
        return dt.datetime.now(dt.timezone.utc)
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TaskError(
            f"logical_date {text!r} is not a date; give an ISO date such as 2024-01-31T00:00:00+00:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def trigger_dag_run(
    settings: Settings,
    store: Store,
    dags: Mapping[str, SerializedDag],
    outcome: TryOutcome,
    control: RunControl,
) -> TryOutcome:
    """Carry out the plan in ``outcome.xcom``; the outcome says how the task ended."""
    plan: dict[str, Any] = dict(outcome.xcom or {})
    try:
        outcome.xcom = _trigger(settings, store, dags, plan, control)
        outcome.state = TaskState.SUCCESS
        said = f"Triggered run {outcome.xcom['trigger_run_id']} of {plan.get('trigger_dag_id')}"
    except _Skip as skip:
        outcome.state, outcome.xcom, outcome.message = TaskState.SKIPPED, None, str(skip)
        said = f"Skipped: {skip}"
    except DockyardError as exc:
        said = outcome.fail(exc)
    outcome.say(said)
    return outcome


class _Skip(Exception):
    pass


def _trigger(
    settings: Settings, store: Store, dags: Mapping[str, SerializedDag], plan: dict[str, Any], control: RunControl
) -> KeyedXCom:
    dag_id = plan["trigger_dag_id"]
    target = dags.get(dag_id)
    if target is None:  # `dags test` knows one DAG: the others are in the store
        try:
            target = SerializedDag.from_row(store.get_dag(dag_id))
        except NotFoundError as exc:
            raise TaskError(f"TriggerDagRunOperator: there is no DAG {dag_id!r} to trigger ({exc})") from None
    when = _parse_date(plan.get("logical_date"))
    run_id = plan.get("trigger_run_id") or f"manual__{when.isoformat()}"
    try:
        run = trigger_run(settings, store, target, conf=plan.get("conf") or {}, logical_date=when, run_id=run_id)
    except ConflictError:
        if plan.get("skip_when_already_exists"):
            raise _Skip(f"a run {run_id!r} of {dag_id!r} already exists: the task is skipped") from None
        if not plan.get("reset_dag_run"):
            raise TaskError(
                f"a run {run_id!r} of DAG {dag_id!r} already exists; set reset_dag_run=True to clear it and run it "
                "again, or skip_when_already_exists=True"
            ) from None
        existing = store.get_run(dag_id, run_id)
        store.clear(dag_id, run_id, [t.task_id for t in target.tasks])
        run = existing
    result = KeyedXCom(trigger_run_id=run.run_id, trigger_logical_date_iso=run.logical_date.isoformat())
    if not plan.get("wait_for_completion"):
        return result
    allowed, failed = set(plan["allowed_states"]), set(plan["failed_states"])
    interval = max(float(plan.get("poke_interval") or 60), 0.2)
    while True:
        try:
            state = str(store.get_run(dag_id, run.run_id).state)
        except NotFoundError as exc:
            raise TaskError(f"the triggered run {run.run_id!r} of {dag_id!r} is gone: {exc}") from None
        if state in failed:
            raise TaskError(f"{dag_id} failed with failed states {state}")
        if state in allowed:
            return result
        if control.cancelled:
            raise TaskError(f"stopped while waiting for run {run.run_id!r} of {dag_id!r}")
        _sleep(interval, control)


def _sleep(seconds: float, control: RunControl) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not control.cancelled:
        time.sleep(min(1.0, deadline - time.monotonic()))

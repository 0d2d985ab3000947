"""Sensors in the scheduler: the pokes of clock and store sensors, and what every sensor's verdict becomes.

A sensor try ends with a *verdict* (:mod:`dockyard.sensor_program`): from its container, or from
:func:`poke_loop` here for the sensors that poke in the scheduler. :func:`settle` turns it into the task
instance's state, with Airflow's rules:

- ``done``: success, with the ``PokeReturnValue``'s ``xcom_value`` as the XCom;
- ``waiting`` (reschedule mode): ``up_for_reschedule`` until the next poke time, which the store keeps; the
  try number stays, nothing is held in between; once ``timeout`` has passed since the first poke of the
  first try (retries do not restart it, a clear does), the sensor times out instead. Each instance of a mapped
  sensor is a task instance of its own here: its own pokes, next poke time and timeout;
- ``timeout`` and ``fail``: failed without retries, or skipped with ``soft_fail``;
- ``error`` (an external task failed): failed (retried as ``retries`` allow), or skipped with ``soft_fail``;
- ``skip``: skipped.

Example::

    settle(spec, {"sensor": "waiting"}, started_at=first_poke, poke_count=3, now=utcnow())
    # Settlement(state=TaskState.UP_FOR_RESCHEDULE, reschedule_at=..., ...)
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pendulum

from dockyard.container.control import RunControl, StopReason
from dockyard.container.runtime import Abandoned
from dockyard.errors import DagDefinitionError, NotFoundError, TaskCancelledError, TaskTimeoutError
from dockyard.sensor_program import (
    DONE,
    FAIL,
    TIMEOUT,
    WAITING,
    next_poke_interval,
    timed_out,
    timeout_message,
    with_timing,
)
from dockyard.states import TaskState
from dockyard.store.sensors import count_in_states, poke_history, reschedule_try
from dockyard.timetable import decode_timezone

if TYPE_CHECKING:
    from dockyard.execution import TryOutcome
    from dockyard.preparation import PreparedTry, TryContext
    from dockyard.serialized import SerializedTask
    from dockyard.store import Store

ERROR = "error"
SKIP = "skip"
UTC = dt.timezone.utc


@dataclass(frozen=True)
class Settlement:
    """What a sensor try's verdict makes of its task instance."""

    state: TaskState
    xcom: Any = None
    message: str = ""
    retry: bool = True
    """Whether a failure may be retried (a sensor's timeout may not, as in Airflow)."""
    reschedule_at: dt.datetime | None = None


def settle(
    spec: Mapping[str, Any], verdict: Mapping[str, Any], *, started_at: dt.datetime, poke_count: int, now: dt.datetime
) -> Settlement:
    """The state a sensor's verdict leads to (see the module docstring); pure, so every rule is tested fast.
    The timing the verdict carries (the poking instance's own) wins over the stored ``spec``."""
    spec = {**spec, **(verdict.get("timing") or {})}
    kind = verdict.get("sensor")
    message = str(verdict.get("message") or "")
    if kind == DONE:
        return Settlement(TaskState.SUCCESS, xcom=verdict.get("xcom") if spec.get("push", True) else None)
    if kind == WAITING:
        duration = (now - started_at).total_seconds()
        if not timed_out(spec, duration):
            wait = next_poke_interval(spec, started_at.isoformat(), poke_count, duration)
            return Settlement(TaskState.UP_FOR_RESCHEDULE, reschedule_at=now + dt.timedelta(seconds=wait))
        kind, message = TIMEOUT, timeout_message(spec, duration)
    if kind == SKIP:
        return Settlement(TaskState.SKIPPED, message=message)
    if kind in (TIMEOUT, FAIL, ERROR):
        if spec.get("soft_fail") or (kind == ERROR and spec.get("never_fail")):
            return Settlement(TaskState.SKIPPED, message=f"{message} (soft_fail: the task is skipped)")
        return Settlement(TaskState.FAILED, message=message, retry=kind == ERROR)
    return Settlement(TaskState.FAILED, message=f"the sensor ended without a verdict ({dict(verdict)!r})")


# -- pokes in the scheduler -------------------------------------------------------------------
def _parse(value: str) -> dt.datetime:
    parsed = pendulum.parse(value)
    if not isinstance(parsed, dt.datetime):
        raise DagDefinitionError(f"DateTimeSensor target_time {value!r} is not a date and time (ISO 8601)")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def watched_dates(spec: Mapping[str, Any], logical_date: dt.datetime) -> list[dt.datetime]:
    """The logical dates of the external runs an ``ExternalTaskSensor`` watches."""
    if spec.get("dates") is not None:
        return [_parse(d) for d in spec["dates"]]
    return [logical_date - dt.timedelta(seconds=float(spec.get("delta") or 0))]


def poke_once(
    spec: Mapping[str, Any], context: TryContext, store: Store, now: dt.datetime
) -> tuple[dict[str, Any], str]:
    """One poke of a clock or store sensor: ``(verdict, what it waits for)``, the latter as "until ..." or
    "for ..." (the task log says "waiting until 2024-02-01T06:00:00+00:00")."""
    kind = spec.get("kind")
    if kind == "time_delta":
        end = context.data_interval[1] if context.data_interval else context.logical_date
        target = end + dt.timedelta(seconds=float(spec["delta"]))
        return {"sensor": DONE if now > target else WAITING}, f"until {target.isoformat()}"
    if kind == "date_time":
        target = _parse(str(spec["target"]))
        return {"sensor": DONE if now > target else WAITING}, f"until {target.isoformat()}"
    if kind == "time":
        local = pendulum.instance(now).in_timezone(decode_timezone(spec["timezone"]))
        target_time = dt.time.fromisoformat(spec["target"])
        return {"sensor": DONE if local.time() > target_time else WAITING}, f"until {spec['target']} ({local.tzname()})"
    if kind == "external_task":
        return _external(spec, context, store)
    raise DagDefinitionError(f"task {context.task_id!r}: unknown sensor kind {kind!r}; parse the DAG file again")


def _external(spec: Mapping[str, Any], context: TryContext, store: Store) -> tuple[dict[str, Any], str]:
    dag_id = str(spec["external_dag_id"])
    task_ids, group = spec.get("task_ids"), spec.get("task_group_id")
    if group and not task_ids:
        task_ids = _group_tasks(store, dag_id, group)
        if not task_ids and spec.get("check_existence"):
            return {"sensor": FAIL, "message": f"the task group {group} does not exist in DAG {dag_id}"}, ""
        if not task_ids:
            return {"sensor": WAITING}, f"for the task group {group} of DAG {dag_id} (not there yet)"
    dates = watched_dates(spec, context.logical_date)
    watched = f"tasks {', '.join(task_ids)} of DAG {dag_id}" if task_ids else f"the run of DAG {dag_id}"
    what = f"for {watched} at {', '.join(d.isoformat() for d in dates)}"
    if spec.get("check_existence"):
        try:
            stored = store.get_dag(dag_id)
        except NotFoundError:
            return {"sensor": FAIL, "message": f"the external DAG {dag_id} does not exist"}, what
        known = {t["task_id"] for t in (stored.structure or {}).get("tasks", [])}
        missing = [t for t in task_ids or [] if t not in known]
        if missing:
            return {"sensor": FAIL, "message": f"the external task {missing[0]} does not exist in DAG {dag_id}"}, what
    if spec.get("failed") and count_in_states(store, dag_id, dates, spec["failed"], task_ids):
        who = f"Some of the external tasks {task_ids} in DAG {dag_id}" if task_ids else f"The external DAG {dag_id}"
        return {"sensor": ERROR, "message": f"{who} failed."}, what
    if spec.get("skipped") and count_in_states(store, dag_id, dates, spec["skipped"], task_ids):
        who = f"Some of the external tasks {task_ids} in DAG {dag_id}" if task_ids else f"The external DAG {dag_id}"
        return {"sensor": SKIP, "message": f"{who} reached a state in our states-to-skip-on list. Skipping."}, what
    allowed = count_in_states(store, dag_id, dates, spec["allowed"], task_ids)
    return {"sensor": DONE if allowed == len(dates) else WAITING}, what


def _group_tasks(store: Store, dag_id: str, group_id: str) -> list[str]:
    """The tasks of ``group_id`` in the stored DAG ``dag_id`` (their ids start with the group's id and a dot)."""
    try:
        tasks = (store.get_dag(dag_id).structure or {}).get("tasks", [])
    except NotFoundError:
        return []
    return [t["task_id"] for t in tasks if t["task_id"].startswith(f"{group_id}.")]


def poke_loop(
    spec: Mapping[str, Any],
    context: TryContext,
    store: Store,
    say: Callable[[str], None],
    control: RunControl | None,
    *,
    execution_timeout: float | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
) -> dict[str, Any]:
    """Poke a clock or store sensor: once in reschedule mode, else until done or timed out (poke mode, which
    holds this executor thread as Airflow's poke mode holds a worker slot). Returns the verdict, with the timing
    it was poked by (``spec``: a mapped instance's own)."""
    return with_timing(_poke_until(spec, context, store, say, control, execution_timeout, clock), spec)


def _poke_until(
    spec: Mapping[str, Any],
    context: TryContext,
    store: Store,
    say: Callable[[str], None],
    control: RunControl | None,
    execution_timeout: float | None,
    clock: Callable[[], dt.datetime],
) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + execution_timeout if execution_timeout is not None else None
    count = 1
    while True:
        verdict, what = poke_once(spec, context, store, clock())
        if verdict["sensor"] != WAITING:
            say(f"Poke {count}: {verdict['sensor']} (waited {what}) {verdict.get('message', '')}".rstrip())
            return verdict
        if spec["mode"] == "reschedule":
            say(f"Poke: not yet (waiting {what}); the sensor is rescheduled")
            return verdict
        elapsed = time.monotonic() - started
        if timed_out(spec, elapsed):
            return {"sensor": TIMEOUT, "message": timeout_message(spec, elapsed)}
        wait = next_poke_interval(spec, context.logical_date.isoformat(), count, elapsed)
        say(f"Poke {count}: not yet (waiting {what}); next poke in {wait:g} s")
        _sleep(wait, control, deadline)
        count += 1


def _sleep(seconds: float, control: RunControl | None, deadline: float | None) -> None:
    """Sleep between pokes, waking early for a stop (the try ends), a shutdown (the next scheduler pokes) or
    ``execution_timeout`` (the try fails, as any task's)."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if deadline is not None and time.monotonic() >= deadline:
            raise TaskTimeoutError("the sensor passed its execution_timeout", stop_reason=StopReason.TIMEOUT)
        if control is not None and control.abandoned:
            raise Abandoned()
        if control is not None and control.cancelled:
            raise TaskCancelledError(f"the sensor was stopped: {control.reason}", stop_reason=control.kind)
        time.sleep(min(left, 0.5))


def settle_try(
    store: Store, key: tuple[str, str, str, int], try_number: int, task: SerializedTask, outcome: TryOutcome
) -> Settlement | None:
    """Settle a sensor try's verdict against what the store knows of the earlier pokes of its task instance
    (``key`` is ``(dag_id, run_id, task_id, map_index)``: each instance of a mapped sensor has its own); a
    reschedule is recorded here (and None returned), every other end is the caller's to record as for any task."""
    dag_id, run_id, task_id, map_index = key
    spec, retries = task.sensor or {}, task.retries
    verdict = outcome.xcom if isinstance(outcome.xcom, dict) else {}
    now = dt.datetime.now(UTC)
    started_at, count, poked_at = now, 1, now - dt.timedelta(seconds=outcome.duration)
    if verdict.get("sensor") == WAITING:
        ti = store.get_task_instance(dag_id, run_id, task_id, map_index)
        first_try = ti.max_tries - retries + 1  # the first try since the last clear
        first, earlier = poke_history(
            store, dag_id, run_id, task_id, first_try=first_try, try_number=try_number, map_index=map_index
        )
        started_at, count = first or ti.start_date or now, earlier + 1
        if earlier == 0 and ti.start_date is not None:  # the try's first poke began when the try did
            poked_at = ti.start_date
    settled = settle(spec, verdict, started_at=started_at, poke_count=count, now=now)
    if settled.reschedule_at is None:
        return settled
    container = outcome.container_id
    instance = (store, dag_id, run_id, task_id, try_number)
    reschedule_try(*instance, at=settled.reschedule_at, map_index=map_index, poked_at=poked_at, container_id=container)
    return None


# -- `dockyard tasks test`: a sensor's whole wait, in this process ------------------------------------
def poke_in_process(
    spec: Mapping[str, Any], context: TryContext, store: Store, execution_timeout: float | None
) -> Callable[[PreparedTry, Callable[[str], None], RunControl | None], dict[str, Any]]:
    """How ``tasks test`` runs a clock or store sensor: it pokes here until its condition holds or its timeout
    passes, in poke mode whatever its ``mode`` (a test waits for the answer; nothing is recorded to come
    back to)."""

    def sense(prepared: PreparedTry, say: Callable[[str], None], control: RunControl | None) -> dict[str, Any]:
        values = {**spec, **prepared.options, "mode": "poke"}
        return poke_loop(values, context, store, say, control, execution_timeout=execution_timeout)

    return sense


def settle_in_process(spec: Mapping[str, Any], verdict: Any, started: dt.datetime) -> Settlement:
    """What a sensor's verdict makes of a ``tasks test`` try (the XCom it pushes, or why it failed)."""
    verdict = verdict if isinstance(verdict, dict) else {}
    return settle(spec, verdict, started_at=started, poke_count=1, now=dt.datetime.now(UTC))

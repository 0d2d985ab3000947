"""Sensors that only watch the clock or dockyard's own store: they poke in the scheduler, without a container.

``TimeDeltaSensor``, ``DateTimeSensor``, ``TimeSensor`` and ``ExternalTaskSensor`` run no user code while
they poke (Airflow runs them in its worker only because it runs everything there), so a poke here is a
comparison or one query (:mod:`dockyard.sensing`). Their arguments are described in the stored DAG
(:meth:`sensor_spec`); a templated argument or an ``execution_date_fn`` is rendered or called once per try
in the child process that prepares the try (:meth:`sensor_values`), never in the scheduler itself.

Example::

    ExternalTaskSensor(task_id="wait_for_load", external_dag_id="etl", external_task_id="load",
                       execution_delta=timedelta(hours=1), mode="reschedule", poke_interval=120)
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from dockyard.container.options import has_template
from dockyard.dag import as_utc
from dockyard.errors import DagDefinitionError
from dockyard.operators.base import EmptyOperator
from dockyard.operators.sensors import BaseSensorOperator
from dockyard.states import RunState, TaskState
from dockyard.timetable import encode_timezone, pendulum_timezone

__all__ = [
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "ExternalTaskMarker",
    "ExternalTaskSensor",
    "SchedulerSensor",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeSensor",
    "TimeSensorAsync",
]


class SchedulerSensor(BaseSensorOperator):
    """A sensor whose poke is a clock or store check done by the scheduler (see the module docstring)."""

    pokes_in_scheduler: ClassVar[bool] = True

    def __init__(self, *, deferrable: bool = False, **kwargs: Any) -> None:
        if deferrable:  # no triggerer here: reschedule mode likewise holds nothing between pokes
            kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)

    def watched(self) -> dict[str, Any]:
        """What the poke compares (plain JSON), before rendering."""
        raise NotImplementedError

    def needs_preparing(self) -> bool:
        """Whether a try must render templates or call the user's code first (in the preparing child)."""
        return any(has_template(getattr(self, name, None)) for name in self.template_fields)

    def sensor_spec(self) -> dict[str, Any]:
        if self.runs_in_container:  # a subclass with a poke() of its own
            return super().sensor_spec()
        return {**self.timing(), **self.watched(), "prepare": self.needs_preparing()}

    def sensor_values(self, context: Mapping[str, Any], rendered: Mapping[str, Any]) -> dict[str, Any]:
        """The timing and the watched values with this try's templates rendered (called in the preparing child):
        an instance of a mapped sensor has its own, from ``expand()``."""
        for name, value in rendered.items():
            setattr(self, name, value)
        return {**self.timing(), **self.watched()}


class TimeDeltaSensor(SchedulerSensor):
    """Airflow's ``TimeDeltaSensor``: waits until ``delta`` after the run's data interval ends."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(delta, dt.timedelta):
            raise DagDefinitionError(f"task {self.task_id!r}: delta must be a timedelta, got {delta!r}")
        self.delta = delta

    def watched(self) -> dict[str, Any]:
        return {"kind": "time_delta", "delta": self.delta.total_seconds()}


class DateTimeSensor(SchedulerSensor):
    """Airflow's ``DateTimeSensor``: waits until ``target_time`` (a datetime, or a templated ISO string)."""

    template_fields: ClassVar[Sequence[str]] = ("target_time",)

    def __init__(self, *, target_time: str | dt.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(target_time, dt.datetime):
            target_time = as_utc(target_time).isoformat()  # type: ignore[union-attr]
        elif not isinstance(target_time, str):
            raise DagDefinitionError(
                f"task {self.task_id!r}: target_time must be a datetime or a string such as "
                f"'{{{{ data_interval_end }}}}', got {type(target_time).__name__}"
            )
        self.target_time = target_time

    def watched(self) -> dict[str, Any]:
        return {"kind": "date_time", "target": self.target_time}


class TimeSensor(SchedulerSensor):
    """Airflow's ``TimeSensor``: waits until the time of day passes ``target_time``, in the DAG's timezone."""

    def __init__(self, *, target_time: dt.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, dt.time):
            raise DagDefinitionError(
                f"task {self.task_id!r}: target_time must be a datetime.time such as time(6, 30), got {target_time!r}"
            )
        self.target_time = target_time

    def watched(self) -> dict[str, Any]:
        start = self.dag.start_date if self.dag is not None else None
        zone = pendulum_timezone(start.tzinfo if start is not None and start.tzinfo is not None else "UTC")
        return {"kind": "time", "target": self.target_time.isoformat(), "timezone": encode_timezone(zone)}


class ExternalTaskSensor(SchedulerSensor):
    """Airflow's ``ExternalTaskSensor``: waits for tasks (or a whole run) of another DAG to reach a state.

    The runs watched are those of ``external_dag_id`` at this run's logical date, shifted back by
    ``execution_delta``, or at the dates ``execution_date_fn(logical_date, ...)`` returns.
    """

    template_fields: ClassVar[Sequence[str]] = (
        "external_dag_id",
        "external_task_id",
        "external_task_ids",
        "external_task_group_id",
    )
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Collection[str] | None = None,
        skipped_states: Collection[str] | None = None,
        failed_states: Collection[str] | None = None,
        execution_delta: dt.timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        poll_interval: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"task {self.task_id!r}"
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(
                f"{where}: give only one of external_task_id or external_task_ids to ExternalTaskSensor, not both"
            )
        if external_task_group_id is not None and (external_task_id is not None or external_task_ids is not None):
            raise DagDefinitionError(
                f"{where}: external_task_group_id cannot be given together with external_task_id(s); give one"
            )
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError(
                f"{where}: give only one of execution_delta or execution_date_fn to ExternalTaskSensor, not both"
            )
        ids = [external_task_id] if external_task_id is not None else list(external_task_ids or [])
        if len(set(ids)) != len(ids):
            raise DagDefinitionError(f"{where}: external_task_ids has duplicates: {ids}")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = ids or None
        self.external_task_group_id = external_task_group_id
        by_task = bool(ids) or external_task_group_id is not None
        vocabulary = [s.value for s in TaskState] if by_task else [s.value for s in RunState]
        self.allowed_states = self._states("allowed_states", allowed_states, ["success"], vocabulary)
        self.skipped_states = self._states("skipped_states", skipped_states, [], vocabulary)
        self.failed_states = self._states("failed_states", failed_states, [], vocabulary)
        overlap = (
            set(self.allowed_states) & set(self.failed_states)
            or set(self.allowed_states) & set(self.skipped_states)
            or set(self.skipped_states) & set(self.failed_states)
        )
        if overlap:
            raise DagDefinitionError(
                f"{where}: the state(s) {sorted(overlap)} appear in more than one of allowed_states, skipped_states "
                "and failed_states; each state may be in one list only"
            )
        if execution_delta is not None and not isinstance(execution_delta, dt.timedelta):
            raise DagDefinitionError(f"{where}: execution_delta must be a timedelta, got {execution_delta!r}")
        if execution_date_fn is not None and not callable(execution_date_fn):
            raise DagDefinitionError(f"{where}: execution_date_fn must be a function, got {execution_date_fn!r}")
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence
        self.poll_interval = poll_interval

    def _states(self, name: str, given: Collection[str] | None, default: list[str], vocabulary: list[str]) -> list[str]:
        states = [str(getattr(s, "value", s)) for s in given] if given is not None else default
        wrong = [s for s in states if s not in vocabulary]
        if wrong:
            kind = "task instance" if vocabulary == [s.value for s in TaskState] else "DAG run"
            raise DagDefinitionError(
                f"task {self.task_id!r}: {name} has {wrong[0]!r}, which is not a {kind} state; use "
                f"{', '.join(vocabulary)}"
            )
        return states

    def needs_preparing(self) -> bool:
        return self.execution_date_fn is not None or super().needs_preparing()

    def watched(self) -> dict[str, Any]:
        return {
            "kind": "external_task",
            "external_dag_id": self.external_dag_id,
            "task_ids": self.external_task_ids,
            "task_group_id": self.external_task_group_id,
            "allowed": self.allowed_states,
            "skipped": self.skipped_states,
            "failed": self.failed_states,
            "delta": self.execution_delta.total_seconds() if self.execution_delta is not None else 0.0,
            "check_existence": bool(self.check_existence),
        }

    def sensor_values(self, context: Mapping[str, Any], rendered: Mapping[str, Any]) -> dict[str, Any]:
        values = super().sensor_values(context, rendered)
        if rendered.get("external_task_id") is not None:
            values["task_ids"] = [rendered["external_task_id"]]
        if self.execution_date_fn is not None:
            found = _call_with_context(self.execution_date_fn, context["logical_date"], context)
            dates = found if isinstance(found, (list, tuple)) else [found]
            values["dates"] = [as_utc(d).isoformat() for d in dates]  # type: ignore[union-attr]
        return values


class _Deferred:
    """Airflow's ``*Async`` sensors defer to its triggerer; here they wait in reschedule mode, which likewise
    holds nothing between pokes."""

    deferrable_by_default: ClassVar[bool] = True
    """What a mapped task of this class stores as its mode before any instance is made."""

    def __init__(self, *, end_from_trigger: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("deferrable", True)
        super().__init__(**kwargs)


class TimeDeltaSensorAsync(_Deferred, TimeDeltaSensor):
    """Airflow's ``TimeDeltaSensorAsync``: a :class:`TimeDeltaSensor` in reschedule mode."""


class DateTimeSensorAsync(_Deferred, DateTimeSensor):
    """Airflow's ``DateTimeSensorAsync``: a :class:`DateTimeSensor` in reschedule mode."""


class TimeSensorAsync(_Deferred, TimeSensor):
    """Airflow's ``TimeSensorAsync``: a :class:`TimeSensor` in reschedule mode."""


class ExternalTaskMarker(EmptyOperator):
    """Airflow's ``ExternalTaskMarker``: marks the task an ``ExternalTaskSensor`` elsewhere waits for, so that
    clearing it in Airflow clears that sensor too. It runs nothing; dockyard does not clear across DAGs yet."""

    template_fields: ClassVar[Sequence[str]] = ("external_dag_id", "external_task_id", "logical_date")

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str,
        logical_date: str | dt.datetime | None = "{{ logical_date.isoformat() }}",
        execution_date: str | dt.datetime | None = None,
        recursion_depth: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.logical_date = execution_date or logical_date
        self.recursion_depth = recursion_depth


def _call_with_context(function: Callable[..., Any], logical_date: dt.datetime, context: Mapping[str, Any]) -> Any:
    """Call ``function(logical_date, ...)`` with the context keys it names (all of them for ``**kwargs``), as
    Airflow calls ``execution_date_fn``."""
    parameters = inspect.signature(function).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    first = next(iter(parameters), None)
    kwargs = {k: v for k, v in context.items() if k != first and (takes_all or k in parameters)}
    return function(logical_date, **kwargs)

"""Jinja rendering of templated fields, with Airflow's template context.

The context is handed in (this module reads no store): :func:`build_context` makes it from the run's
dates, ids and facts (:class:`RunFacts`, :class:`TryFacts`, :class:`PreviousRun`), and
:func:`render_fields` renders a task's ``template_fields`` in place of a copy. Dates in the context are
pendulum ``DateTime`` values in UTC, so ``{{ logical_date.add(days=1) }}`` and
``{{ data_interval_end.subtract(minutes=5) }}`` work as in Airflow.

Example::

    context = build_context(dag=dag, task=task, logical_date=datetime(2024, 1, 31, tzinfo=UTC),
                            run_id="scheduled__2024-01-31T00:00:00+00:00", ti=ti)
    render_fields(task, context, make_environment(dag, []))["command"]   # 'echo 2024-01-31'
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import jinja2
import jinja2.nativetypes
import jinja2.sandbox
import pendulum

from dockyard.errors import DockyardError, TemplateError
from dockyard.macros import MACROS, AirflowConfigView, ds_add, ds_format
from dockyard.timetable import DataInterval, timetable_for, to_utc

if TYPE_CHECKING:
    from dockyard.dag import DAG
    from dockyard.operators.base import BaseOperator

__all__ = ["MACROS", "ds_add", "ds_format"]  # the macros were defined here before dockyard.macros existed


class XComSource(Protocol):
    def xcom_pull(
        self,
        task_ids: Any = None,
        dag_id: str | None = None,
        key: str = "return_value",
        include_prior_dates: bool = False,
        **kwargs: Any,
    ) -> Any: ...


def _ts_nodash_with_tz(value: dt.datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


FILTERS: dict[str, Callable[[dt.datetime], str]] = {
    "ds": lambda d: d.strftime("%Y-%m-%d"),
    "ds_nodash": lambda d: d.strftime("%Y%m%d"),
    "ts": lambda d: d.isoformat(),
    "ts_nodash": lambda d: d.strftime("%Y%m%dT%H%M%S"),
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}

RUN_TYPES = ("scheduled", "manual", "backfill", "dataset_triggered", "asset_triggered")


@dataclass(frozen=True)
class RunFacts:
    """What the store knows of the DAG run a try belongs to (``{{ dag_run.* }}``)."""

    run_type: str | None = None
    """``scheduled``, ``manual``, ``backfill``...; None: read from the run id's prefix (``scheduled__...``)."""
    state: str = "running"
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    queued_at: dt.datetime | None = None
    external_trigger: bool | None = None
    """None: true for manual runs, as Airflow sets it."""


@dataclass(frozen=True)
class PreviousRun:
    """The latest successful run of the DAG before this one (``prev_*_success``)."""

    logical_date: dt.datetime
    data_interval: tuple[dt.datetime, dt.datetime] | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None


@dataclass(frozen=True)
class TryFacts:
    """What the store knows of the try being rendered (``{{ ti.* }}`` beyond ids and ``xcom_pull``)."""

    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    state: str = "running"
    hostname: str | None = None
    """None: this machine's name (``socket.getfqdn()``, as Airflow's default ``hostname_callable``)."""
    max_tries: int | None = None
    """None: the task's ``retries`` (Airflow's value until a try is cleared)."""
    pid: int | None = None
    queued_dttm: dt.datetime | None = None
    base_url: str = ""
    """dockyard's web address, for ``ti.log_url``."""


def _utc(value: dt.datetime | None) -> pendulum.DateTime | None:
    return None if value is None else to_utc(value)


class TaskInstanceView:
    """The ``ti`` / ``task_instance`` of the context: Airflow's TaskInstance fields over the try's XCom access.

    Anything it does not know itself (``xcom_push``, ...) is asked of the handed-in ``source``.
    """

    def __init__(self, source: XComSource, **fields: Any) -> None:
        self._source = source
        self.__dict__.update(fields)

    def xcom_pull(
        self,
        task_ids: Any = None,
        dag_id: str | None = None,
        key: str = "return_value",
        include_prior_dates: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Airflow's positional order: ``task_ids, dag_id, key, include_prior_dates``."""
        return self._source.xcom_pull(
            task_ids=task_ids, dag_id=dag_id, key=key, include_prior_dates=include_prior_dates, **kwargs
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_source":
            raise AttributeError(name)
        return getattr(self._source, name)

    def __repr__(self) -> str:
        index = f"map_index={self.map_index} " if self.map_index != -1 else ""
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} {index}[{self.state}]>"


class DagRunView(SimpleNamespace):
    """The ``dag_run`` of the context, with Airflow's DagRun fields and text."""

    def __repr__(self) -> str:
        return (
            f"<DagRun {self.dag_id} @ {self.logical_date}: {self.run_id}, state:{self.state}, "
            f"queued_at: {self.queued_at}. externally triggered: {self.external_trigger}>"
        )


def run_type_of(run_id: str) -> str:
    """A run's type from its id's prefix (``backfill__2024-...`` -> ``backfill``); ``manual`` otherwise."""
    prefix = run_id.partition("__")[0]
    return prefix if prefix in RUN_TYPES else "manual"


def _neighbours(
    dag: DAG, logical_date: pendulum.DateTime, interval: DataInterval, external: bool
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Airflow's ``prev_execution_date``/``next_execution_date``: the run's own date for a manual run."""
    if external:
        return logical_date, logical_date
    try:
        table = timetable_for(dag.schedule, dag.start_date)
    except DockyardError:
        return None, None
    return _utc(table.prev_logical_date(logical_date)), _utc(table.next_logical_date(logical_date, interval))


def _day(value: dt.datetime | None, fmt: str = "%Y-%m-%d") -> str | None:
    return None if value is None else value.strftime(fmt)


def _date_names(logical_date: pendulum.DateTime) -> dict[str, Any]:
    ds = logical_date.strftime("%Y-%m-%d")
    yesterday = (logical_date - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    tomorrow = (logical_date + dt.timedelta(days=1)).strftime("%Y-%m-%d")
    return {
        "logical_date": logical_date,
        "execution_date": logical_date,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": logical_date.isoformat(),
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": _ts_nodash_with_tz(logical_date),
        "yesterday_ds": yesterday,
        "yesterday_ds_nodash": yesterday.replace("-", ""),
        "tomorrow_ds": tomorrow,
        "tomorrow_ds_nodash": tomorrow.replace("-", ""),
    }


def _previous_names(previous: PreviousRun | None) -> dict[str, Any]:
    interval = previous.data_interval if previous is not None else None
    return {
        "prev_data_interval_start_success": _utc(interval[0]) if interval else None,
        "prev_data_interval_end_success": _utc(interval[1]) if interval else None,
        "prev_start_date_success": _utc(previous.start_date) if previous else None,
        "prev_end_date_success": _utc(previous.end_date) if previous else None,
        "prev_execution_date_success": _utc(previous.logical_date) if previous else None,
    }


NEIGHBOUR_NAMES = (
    "prev_ds",
    "prev_ds_nodash",
    "next_ds",
    "next_ds_nodash",
    "prev_execution_date",
    "next_execution_date",
)


def neighbour_dates(prev: dt.datetime | None, nxt: dt.datetime | None) -> dict[str, Any]:
    """Airflow's ``prev_ds``/``next_ds`` family from the previous and next logical dates.

    :func:`build_context` computes these itself from the run's type and data interval; values for these
    names in its ``extra`` are ignored.
    """
    return {
        "prev_ds": _day(prev),
        "prev_ds_nodash": _day(prev, "%Y%m%d"),
        "next_ds": _day(nxt),
        "next_ds_nodash": _day(nxt, "%Y%m%d"),
        "prev_execution_date": _utc(prev),
        "next_execution_date": _utc(nxt),
    }


def _value(param: Any) -> Any:
    return getattr(param, "value", param)


def _merge_params(
    dag: DAG, task: BaseOperator, run_params: Mapping[str, Any] | None, conf: Mapping[str, Any] | None
) -> dict[str, Any]:
    """DAG params, then the task's, then the run's: a run value that only repeats the DAG's default (as
    :func:`~dockyard.params.resolve_params` returns it) does not hide the task's own value."""
    merged = {k: _value(v) for k, v in dag.params.items()}
    merged.update({k: _value(v) for k, v in task.params.items()})
    for key, value in (run_params or {}).items():
        echoed = key in task.params and key in dag.params and _value(dag.params[key]) == _value(value)
        if not echoed or key in (conf or {}):
            merged[key] = _value(value)
    return merged


def build_context(
    *,
    dag: DAG,
    task: BaseOperator,
    logical_date: dt.datetime,
    run_id: str,
    ti: XComSource,
    data_interval: tuple[dt.datetime, dt.datetime] | None = None,
    params: Mapping[str, Any] | None = None,
    conf: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    run: RunFacts | None = None,
    attempt: TryFacts | None = None,
    previous_success: PreviousRun | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    triggering_events: Mapping[str, list[Any]] | None = None,
    test_mode: bool = False,
) -> dict[str, Any]:
    """Airflow's template context for one task try (Airflow 2.11's names and values, and Airflow 3's additions).

    ``params`` are the run's overrides (a trigger's conf); the DAG's and the task's ``params`` are
    their defaults, in that order of precedence (task over DAG, run over both). ``conf`` is the run's
    ``dag_run.conf``; ``config`` holds configuration values for ``{{ conf.get(section, key) }}``.
    """
    run = run or RunFacts()
    attempt = attempt or TryFacts()
    when = to_utc(logical_date)
    start, end = (to_utc(v) for v in (data_interval or (when, when)))
    run_type = run.run_type or run_type_of(run_id)
    external = run.external_trigger if run.external_trigger is not None else run_type == "manual"
    merged_params = _merge_params(dag, task, params, conf)
    events: defaultdict[str, list[Any]] = (
        triggering_events if isinstance(triggering_events, defaultdict) else defaultdict(list, triggering_events or {})
    )  # a TriggeringEvents stays one: a Dataset or an Asset is a key too
    dag_run = DagRunView(
        dag_id=dag.dag_id,
        run_id=run_id,
        run_type=run_type,
        external_trigger=external,
        state=run.state,
        logical_date=when,
        execution_date=when,
        run_after=end if run_type != "manual" else when,
        start_date=_utc(run.start_date),
        end_date=_utc(run.end_date),
        queued_at=_utc(run.queued_at),
        conf=dict(conf or {}),
        data_interval_start=start,
        data_interval_end=end,
        note=None,
        clear_number=0,
    )
    try_number = int(getattr(ti, "try_number", 1) or 1)
    quoted = quote(run_id, safe="")
    view = TaskInstanceView(
        ti,
        dag_id=dag.dag_id,
        task_id=task.task_id,
        run_id=run_id,
        map_index=int(getattr(ti, "map_index", -1)),
        try_number=try_number,
        max_tries=attempt.max_tries if attempt.max_tries is not None else task.retries,
        state=attempt.state,
        hostname=attempt.hostname if attempt.hostname is not None else socket.getfqdn(),
        start_date=_utc(attempt.start_date),
        end_date=_utc(attempt.end_date),
        queued_dttm=_utc(attempt.queued_dttm),
        execution_date=when,
        logical_date=when,
        duration=None,
        pid=attempt.pid,
        operator=type(task).__name__,
        pool=task.pool,
        pool_slots=getattr(task, "pool_slots", 1),
        queue=getattr(task, "queue", "default"),
        priority_weight=task.priority_weight,
        task=task,
        log_url=f"{attempt.base_url}/dags/{dag.dag_id}/runs/{quoted}/tasks/{task.task_id}?try_number={try_number}",
    )
    prev, nxt = _neighbours(dag, when, DataInterval(start, end), external)
    context: dict[str, Any] = {
        "dag": dag,
        "task": task,
        "ti": view,
        "task_instance": view,
        "run_id": run_id,
        "dag_run": dag_run,
        "params": merged_params,
        "conf": AirflowConfigView(config),
        "data_interval_start": start,
        "data_interval_end": end,
        **_date_names(when),
        **_previous_names(previous_success),
        "task_instance_key_str": f"{dag.dag_id}__{task.task_id}__{when.strftime('%Y%m%d')}",
        "macros": MACROS,
        "test_mode": test_mode,
        "inlets": list(getattr(task, "inlets", None) or []),
        "outlets": list(getattr(task, "outlets", None) or []),
        "inlet_events": {},
        "outlet_events": defaultdict(lambda: SimpleNamespace(extra={})),
        "triggering_dataset_events": events,
        "triggering_asset_events": events,
        "templates_dict": getattr(task, "templates_dict", None),
        "expanded_ti_count": None,
        "map_index_template": getattr(task, "map_index_template", None),
        "start_date": _utc(run.start_date),
        "try_number": try_number,
        "task_reschedule_count": 0,
    }
    for name, value in dag.user_defined_macros.items():
        context.setdefault(name, value)  # Airflow's context names win over user macros of the same name
    context.update({k: v for k, v in (extra or {}).items() if k not in NEIGHBOUR_NAMES})
    context.update(neighbour_dates(prev, nxt))
    return context


class _MissingVariable(KeyError):
    pass


class VariableAccessor:
    """``{{ var.value.name }}`` and ``{{ var.json.name }}``; ``var.value.get('name', 'default')`` too."""

    def __init__(self, getter: Callable[[str], str | None], *, as_json: bool = False) -> None:
        self._getter = getter
        self._as_json = as_json

    def get(self, name: str, default_var: Any = _MissingVariable) -> Any:
        raw = self._getter(name)
        if raw is None:
            if default_var is _MissingVariable:
                raise _MissingVariable(
                    f"variable {name!r} does not exist; set it with `dockyard variables set {name} VALUE`"
                )
            return default_var
        return json.loads(raw) if self._as_json else raw

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)


def variables_namespace(getter: Callable[[str], str | None]) -> SimpleNamespace:
    """The ``var`` context entry, reading variables through ``getter`` (None when a variable is missing)."""
    return SimpleNamespace(value=VariableAccessor(getter), json=VariableAccessor(getter, as_json=True))


class SandboxedEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """Airflow's default template environment: sandboxed, but ``_``-prefixed attributes stay readable."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return not jinja2.sandbox.is_internal_attribute(obj, attr)


def make_environment(dag: DAG, searchpath: list[str]) -> jinja2.Environment:
    """The Jinja environment of a DAG, as Airflow builds it: its folder and ``template_searchpath``, its
    macros and filters, ``jinja_environment_kwargs``; sandboxed, or native Python values with
    ``render_template_as_native_obj=True`` (``"{{ [1, 2] }}"`` renders the list, not its text)."""
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(searchpath + dag.template_searchpath),
        "undefined": dag.template_undefined,
        "extensions": ["jinja2.ext.do"],
        "cache_size": 0,
    }
    options.update(getattr(dag, "jinja_environment_kwargs", None) or {})
    env: jinja2.Environment
    if dag.render_template_as_native_obj:
        env = jinja2.nativetypes.NativeEnvironment(**options)
    else:
        env = SandboxedEnvironment(**options)
    env.globals.update(dag.user_defined_macros)
    env.filters.update(FILTERS)
    env.filters.update(dag.user_defined_filters)
    return env


def render_value(value: Any, context: Mapping[str, Any], env: jinja2.Environment, extensions: tuple[str, ...]) -> Any:
    """Render strings inside ``value`` (recursing into lists, tuples, sets and dicts)."""
    if isinstance(value, str):
        if extensions and value.endswith(extensions):
            return env.get_template(value).render(**context)
        if "{{" not in value and "{%" not in value and "{#" not in value:
            return value
        return env.from_string(value).render(**context)
    if isinstance(value, dict):  # docker.types.Mount too: its Engine API keys stay valid
        return {k: render_value(v, context, env, ()) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(render_value(v, context, env, ()) for v in value)
    return value


def render_fields(task: BaseOperator, context: Mapping[str, Any], env: jinja2.Environment) -> dict[str, Any]:
    """The rendered value of each of ``task.template_fields`` (the task itself is not changed)."""
    rendered: dict[str, Any] = {}
    for field in task.template_fields:
        value = getattr(task, field, None)
        try:
            rendered[field] = render_value(value, context, env, tuple(task.template_ext))
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(
                f"task {task.task_id!r}: {field} {value!r} ends with one of {', '.join(task.template_ext)} so it is "
                f"read as a template file, but {exc.name!r} was not found next to the DAG file or in "
                "template_searchpath (add a trailing space to use the value as is)"
            ) from exc
        except _MissingVariable as exc:
            raise TemplateError(
                f"task {task.task_id!r}: the template in {field} does not render: {exc.args[0]}"
            ) from exc
        except jinja2.TemplateError as exc:
            lineno = getattr(exc, "lineno", None)
            where = f" (line {lineno})" if lineno else ""
            raise TemplateError(
                f"task {task.task_id!r}: the template in {field} does not render{where}: {exc.message or exc}. "
                f"Known names: {', '.join(sorted(k for k in context if not k.startswith('_')))}"
            ) from exc
    return rendered

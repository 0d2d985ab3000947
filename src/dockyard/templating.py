"""Jinja rendering of templated fields, with Airflow's context names.

The context is handed in (this module reads no store): :func:`build_context` makes it from the
run's dates and ids, :func:`render_fields` renders a task's ``template_fields`` in place of a copy.

Example::

    context = build_context(dag=dag, task=task, logical_date=datetime(2024, 1, 31, tzinfo=UTC),
                            run_id="manual__2024-01-31", ti=ti)
    render_fields(task, context)["command"]   # 'echo 2024-01-31'
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

import jinja2
import jinja2.nativetypes

from dockyard.errors import TemplateError

if TYPE_CHECKING:
    from dockyard.dag import DAG
    from dockyard.operators.base import BaseOperator


class XComSource(Protocol):
    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **kwargs: Any) -> Any: ...


def ds_add(ds: str, days: int) -> str:
    """``ds_add('2024-01-31', 1)`` -> ``'2024-02-01'`` (Airflow's macro)."""
    if not days:
        return str(ds)
    return (dt.datetime.strptime(str(ds), "%Y-%m-%d") + dt.timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``ds_format('2024-01-31', '%Y-%m-%d', '%d/%m/%y')`` -> ``'31/01/24'`` (Airflow's macro)."""
    return dt.datetime.strptime(str(ds), input_format).strftime(output_format)


MACROS = SimpleNamespace(
    ds_add=ds_add,
    ds_format=ds_format,
    datetime=dt.datetime,
    timedelta=dt.timedelta,
    time=time,
    uuid=uuid,
    random=random,
    json=json,
)


def _ts_nodash_with_tz(value: dt.datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


FILTERS: dict[str, Callable[[dt.datetime], str]] = {
    "ds": lambda d: d.strftime("%Y-%m-%d"),
    "ds_nodash": lambda d: d.strftime("%Y%m%d"),
    "ts": lambda d: d.isoformat(),
    "ts_nodash": lambda d: d.strftime("%Y%m%dT%H%M%S"),
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


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
) -> dict[str, Any]:
    """Airflow's template context for one task try.

    ``params`` are the run's overrides (a trigger's conf); the DAG's and the task's ``params`` are
    their defaults, in that order of precedence (task over DAG, run over both).
    """
    start, end = data_interval or (logical_date, logical_date)
    merged_params: dict[str, Any] = {}
    merged_params.update(dag.params)
    merged_params.update(task.params)
    merged_params.update(params or {})
    merged_params = {k: getattr(v, "value", v) for k, v in merged_params.items()}
    ds = logical_date.strftime("%Y-%m-%d")
    context: dict[str, Any] = {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "dag_run": SimpleNamespace(
            dag_id=dag.dag_id,
            run_id=run_id,
            logical_date=logical_date,
            execution_date=logical_date,
            conf=dict(conf or {}),
            data_interval_start=start,
            data_interval_end=end,
        ),
        "params": merged_params,
        "conf": SimpleNamespace(),
        "logical_date": logical_date,
        "execution_date": logical_date,
        "data_interval_start": start,
        "data_interval_end": end,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": logical_date.isoformat(),
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": _ts_nodash_with_tz(logical_date),
        "macros": MACROS,
        "test_mode": False,
    }
    context.update(dag.user_defined_macros)
    context.update(extra or {})
    return context


def neighbour_dates(prev: dt.datetime | None, nxt: dt.datetime | None) -> dict[str, Any]:
    """Airflow's ``prev_ds``/``next_ds`` family, from the schedule's previous and next logical dates."""
    return {
        "prev_ds": prev.strftime("%Y-%m-%d") if prev else None,
        "prev_ds_nodash": prev.strftime("%Y%m%d") if prev else None,
        "next_ds": nxt.strftime("%Y-%m-%d") if nxt else None,
        "next_ds_nodash": nxt.strftime("%Y%m%d") if nxt else None,
        "prev_execution_date": prev,
        "next_execution_date": nxt,
    }


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


def make_environment(dag: DAG, searchpath: list[str]) -> jinja2.Environment:
    """The Jinja environment of a DAG: its folder and ``template_searchpath``, its macros and filters."""
    cls = jinja2.nativetypes.NativeEnvironment if dag.render_template_as_native_obj else jinja2.Environment
    env = cls(
        loader=jinja2.FileSystemLoader(searchpath + dag.template_searchpath),
        undefined=dag.template_undefined,
        extensions=["jinja2.ext.do"],
        keep_trailing_newline=True,
        autoescape=False,
    )
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

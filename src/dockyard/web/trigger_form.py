"""The trigger form: one typed widget per param, chosen from its JSON schema, and the form's values read
back into a run's ``conf`` with every problem found at once.

Widgets as in Airflow's trigger form: ``integer``/``number`` a number field, ``boolean`` a switch, a string
with ``format`` ``date``/``date-time``/``time`` a date or time picker, ``email`` an email field, ``enum`` a
select (an array whose items have an ``enum``: a multi-select), ``array``/``object`` a JSON editor.

Example::

    fields = param_fields(dag)                     # what the template draws
    conf, problems = read_form(dag, form_values)   # problems: {"count": "0 is less than the minimum of 1"}
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.params import Param
from dockyard.serialized import SerializedDag


@dataclass(frozen=True)
class ParamField:
    name: str
    widget: str
    """number, integer, switch, date, datetime, time, email, select, multiselect, json or text."""
    value: Any
    """What the widget shows: the default, or what the person sent."""
    kinds: tuple[str, ...]
    description: str | None = None
    title: str | None = None
    options: list[Any] = field(default_factory=list)
    required: bool = False
    schema: dict[str, Any] = field(default_factory=dict)

    @property
    def input_name(self) -> str:
        return f"param_{self.name}"


def _kinds(schema: Mapping[str, Any], value: Any) -> tuple[str, ...]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return (kind,)
    if kind:
        return tuple(str(k) for k in kind)
    if "enum" in schema:
        return ()
    return ("string",) if isinstance(value, str) or value is None else (type(value).__name__,)


def _widget(schema: Mapping[str, Any], kinds: tuple[str, ...]) -> str:
    main = next((k for k in kinds if k != "null"), "string")
    if "enum" in schema:
        return "select"
    if main == "array" and isinstance(schema.get("items"), dict) and "enum" in schema["items"]:
        return "multiselect"
    if main in ("array", "object"):
        return "json"
    if main == "boolean":
        return "switch"
    if main in ("integer", "number"):
        return main
    return {"date": "date", "date-time": "datetime", "time": "time", "email": "email"}.get(
        str(schema.get("format")), "text"
    )


def _shown(widget: str, value: Any) -> Any:
    """A param's value as its widget shows it."""
    if value is None:
        return [] if widget == "multiselect" else ""
    if widget == "json":
        return json.dumps(value, indent=2)
    if widget == "datetime" and isinstance(value, str):
        return value[:16]  # an HTML datetime-local field holds minutes
    if widget in ("switch", "multiselect"):
        return value
    return str(value)


def param_fields(dag: SerializedDag, sent: Mapping[str, Any] | None = None) -> list[ParamField]:
    """The form's fields; ``sent`` (the raw form values after an error) replaces the defaults shown."""
    fields = []
    for name, value in dag.param_objects().items():
        param = value if isinstance(value, Param) else Param(value)
        kinds = _kinds(param.schema, param.value)
        widget = _widget(param.schema, kinds)
        shown = _shown(widget, param.value)
        if sent is not None:
            raw = sent.get(f"param_{name}")
            listed = list(raw) if isinstance(raw, list) else [] if raw is None else [raw]
            if widget == "switch":
                shown = bool(listed)
            elif widget == "multiselect":
                shown = listed
            else:
                shown = str(listed[-1]) if listed else ""
        options = param.schema.get("enum") or (param.schema.get("items") or {}).get("enum") or []
        fields.append(
            ParamField(
                name=name,
                widget=widget,
                value=shown,
                kinds=kinds,
                description=param.description,
                title=param.schema.get("title"),
                options=list(options),
                required=not param.has_default,
                schema=param.schema,
            )
        )
    return fields


def _number(kind: str) -> Callable[[str], Any]:
    def read(raw: str) -> Any:
        try:
            return int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not {'an integer' if kind == 'integer' else 'a number'}") from None

    return read


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _option(options: list[Any]) -> Callable[[str], Any]:
    def read(raw: str) -> Any:
        for option in options:
            if str(option) == raw:
                return option
        raise ValueError(f"{raw!r} is not one of {', '.join(map(str, options))}")

    return read


def _value(item: ParamField, raw: Any) -> Any:
    """The form's text read as the param's type; an empty field is null (the schema then says if it may be)."""
    if item.widget == "switch":
        return bool(raw)
    if item.widget == "multiselect":
        return [_option(item.options)(str(v)) for v in raw]
    text = str(raw)
    if text == "" and (item.widget != "text" or "null" in item.kinds):
        return None
    if item.widget in ("integer", "number"):
        return _number(item.widget)(text)
    if item.widget == "json":
        return _json(text)
    if item.widget == "select":
        return _option(item.options)(text)
    if item.widget == "datetime":
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).isoformat() if len(text) == 16 else text
    return text


def read_form(dag: SerializedDag, sent: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The run's ``conf`` from the form, and every problem by param name (empty when all fit)."""
    conf: dict[str, Any] = {}
    problems: dict[str, str] = {}
    objects = dag.param_objects()
    for item in param_fields(dag, sent):
        try:
            value = _value(item, item.value)
        except ValueError as exc:
            problems[item.name] = str(exc)
            continue
        declared = objects[item.name]
        if isinstance(declared, Param):
            problem = declared.problem(value)
            if problem:
                problems[item.name] = problem
                continue
        conf[item.name] = value
    return conf, problems

"""``Param``: a DAG or task parameter with a default, a type and limits, validated when a run is triggered.

Written like Airflow's ``Param`` (its JSON-schema keywords)::

    DAG("train", params={"epochs": Param(10, type="integer", minimum=1), "region": Param("eu", enum=["eu", "us"])})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dockyard.errors import DagDefinitionError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}
_NOT_SET = object()


class Param:
    """A parameter's default and its schema (``type``, ``enum``, ``minimum``, ``maximum``, ``minLength``,
    ``maxLength``, ``pattern``, ``description``, ``title``)."""

    def __init__(self, default: Any = _NOT_SET, description: str | None = None, **schema: Any) -> None:
        self.value = None if default is _NOT_SET else default
        self.has_default = default is not _NOT_SET
        self.description = description
        self.schema = dict(schema)
        kinds = schema.get("type")
        for kind in [kinds] if isinstance(kinds, str) else list(kinds or []):
            if kind not in _TYPES:
                raise DagDefinitionError(f"Param type {kind!r} is not one of {', '.join(_TYPES)}")

    def __repr__(self) -> str:
        return f"Param({self.value!r}, {self.schema!r})"

    def resolve(self, name: str, value: Any = _NOT_SET) -> Any:
        """The value to use (``value`` if given, else the default), checked against the schema."""
        if value is _NOT_SET:
            if not self.has_default:
                raise ValueError(f"param {name!r} has no default; give it a value")
            value = self.value
        problem = self.problem(value)
        if problem:
            raise ValueError(f"param {name!r}: {problem}")
        return value

    def problem(self, value: Any) -> str | None:
        schema = self.schema
        kinds = schema.get("type")
        if kinds is not None:
            names = [kinds] if isinstance(kinds, str) else list(kinds)
            ok = False
            for kind in names:
                types = _TYPES[kind]
                if isinstance(value, types) and not (kind in ("integer", "number") and isinstance(value, bool)):
                    ok = True
            if not ok:
                return f"{value!r} is not of type {' or '.join(names)}"
        if "enum" in schema and value not in schema["enum"]:
            return f"{value!r} is not one of {schema['enum']!r}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                return f"{value!r} is less than the minimum of {schema['minimum']!r}"
            if "maximum" in schema and value > schema["maximum"]:
                return f"{value!r} is greater than the maximum of {schema['maximum']!r}"
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                return f"{value!r} is shorter than {schema['minLength']} characters"
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                return f"{value!r} is longer than {schema['maxLength']} characters"
            if "pattern" in schema and not re.search(schema["pattern"], value):
                return f"{value!r} does not match the pattern {schema['pattern']!r}"
        return None

    def describe(self) -> dict[str, Any]:
        """The param as the UI and API show it: default, description and schema."""
        return {"value": self.value, "description": self.description, "schema": self.schema}


def resolve_params(defaults: Mapping[str, Any], conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge a trigger's ``conf`` over the params' defaults, validating every ``Param``.

    Raises ``ValueError`` naming the first param that does not validate.
    """
    conf = dict(conf or {})
    result: dict[str, Any] = {}
    for name, default in defaults.items():
        if isinstance(default, Param):
            result[name] = default.resolve(name, conf[name]) if name in conf else default.resolve(name)
        else:
            result[name] = conf.get(name, default)
    for name, value in conf.items():
        result.setdefault(name, value)
    return result

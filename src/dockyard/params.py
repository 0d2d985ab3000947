"""``Param``: a DAG or task parameter with a default and a JSON schema, validated when a run is triggered.

Written like Airflow's ``Param``, validated as Airflow validates it (the ``jsonschema`` library, with
formats such as ``date``, ``date-time`` and ``email`` checked)::

    DAG("train", params={
        "epochs": Param(10, type="integer", minimum=1),
        "region": Param("eu", enum=["eu", "us"]),
        "day": Param("2024-01-31", type="string", format="date"),
        "tags": Param([], type="array", items={"type": "string"}),
    })

Every problem of a trigger's values is reported at once (:class:`ParamsValidationError`), one line per
param, so the CLI, the API and the UI can show them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema
import jsonschema.exceptions

from dockyard.errors import DagDefinitionError

_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")
_NOT_SET = object()
_FORMATS = jsonschema.FormatChecker()
_VALIDATOR = jsonschema.Draft202012Validator


class ParamsValidationError(ValueError):
    """Values that do not fit their params; ``problems`` maps each param's name to what is wrong with it."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("\n".join(f"param {name!r}: {problem}" for name, problem in self.problems.items()))


class Param:
    """A parameter's default and its JSON schema (any keyword of JSON Schema: ``type``, ``enum``, ``const``,
    ``minimum``, ``maximum``, ``minLength``, ``pattern``, ``format``, ``items``, ``oneOf``, ``title``...);
    ``schema={...}`` gives the whole schema as one dict, as in Airflow."""

    def __init__(self, default: Any = _NOT_SET, description: str | None = None, **schema: Any) -> None:
        self.value = None if default is _NOT_SET else default
        self.has_default = default is not _NOT_SET
        self.description = description
        self.schema: dict[str, Any] = dict(schema.pop("schema")) if "schema" in schema else dict(schema)
        kinds = self.schema.get("type")
        for kind in [kinds] if isinstance(kinds, str) else list(kinds or []):
            if kind not in _TYPES:
                raise DagDefinitionError(f"Param type {kind!r} is not one of {', '.join(_TYPES)}")
        try:
            _VALIDATOR.check_schema(self.schema)
        except jsonschema.exceptions.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "the schema"
            raise DagDefinitionError(f"Param schema is not valid JSON Schema at {where}: {exc.message}") from None

    def __repr__(self) -> str:
        return f"Param({self.value!r}, {self.schema!r})"

    def resolve(self, name: str, value: Any = _NOT_SET) -> Any:
        """The value to use (``value`` if given, else the default), checked against the schema."""
        if value is _NOT_SET and not self.has_default:
            raise ParamsValidationError({name: "no value was given and it has no default"})
        final = self.value if value is _NOT_SET else value
        problem = self.problem(final)
        if problem:
            raise ParamsValidationError({name: problem})
        return final

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (every schema violation, joined), or None if it fits."""
        errors = sorted(_VALIDATOR(self.schema, format_checker=_FORMATS).iter_errors(value), key=_error_order)
        if not errors:
            return None
        return "; ".join(_describe(error) for error in errors)

    def describe(self) -> dict[str, Any]:
        """The param as the UI and API show it: default, description and schema."""
        return {"value": self.value, "description": self.description, "schema": self.schema}


def _error_order(error: jsonschema.exceptions.ValidationError) -> tuple[int, str]:
    return (len(error.absolute_path), str(list(error.absolute_path)))


def _describe(error: jsonschema.exceptions.ValidationError) -> str:
    """jsonschema's message (Airflow shows the same), with the place inside an array or object."""
    where = "".join(f"[{p!r}]" for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def resolve_params(defaults: Mapping[str, Any], conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge a trigger's ``conf`` over the params' defaults, validating every ``Param``.

    Raises :class:`ParamsValidationError` (a ``ValueError``) naming every param that does not validate.
    """
    conf = dict(conf or {})
    result: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, default in defaults.items():
        if not isinstance(default, Param):
            result[name] = conf.get(name, default)
            continue
        try:
            result[name] = default.resolve(name, conf[name]) if name in conf else default.resolve(name)
        except ParamsValidationError as exc:
            problems.update(exc.problems)
    if problems:
        raise ParamsValidationError(problems)
    for name, value in conf.items():
        result.setdefault(name, value)
    return result

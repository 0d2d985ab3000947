"""Params validated as Airflow validates them (JSON Schema), every problem reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import DagDefinitionError
from dockyard.params import Param, ParamsValidationError, resolve_params


def test_defaults_and_overrides() -> None:
    params = {"n": Param(3, type="integer", minimum=1), "region": Param("eu", enum=["eu", "us"]), "plain": "x"}
    assert resolve_params(params, None) == {"n": 3, "region": "eu", "plain": "x"}
    expected = {"n": 5, "region": "us", "plain": "x", "extra": True}
    assert resolve_params(params, {"n": 5, "region": "us", "extra": True}) == expected


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"n": 0}, "param 'n': 0 is less than the minimum of 1"),
        ({"n": "3"}, "param 'n': '3' is not of type 'integer'"),
        ({"n": True}, "param 'n': True is not of type 'integer'"),
        ({"region": "asia"}, "param 'region': 'asia' is not one of \\['eu', 'us'\\]"),
        ({"name": "x" * 20}, "param 'name': 'x{20}' is too long"),
        ({"name": "ab1"}, "param 'name': 'ab1' does not match '\\^\\[a-z\\]\\+\\$'"),
    ],
)
def test_validation_names_the_param(conf: dict[str, object], message: str) -> None:
    params = {
        "n": Param(3, type="integer", minimum=1),
        "region": Param("eu", enum=["eu", "us"]),
        "name": Param("abc", type="string", maxLength=10, pattern="^[a-z]+$"),
    }
    with pytest.raises(ValueError, match=message):
        resolve_params(params, conf)


SCHEMAS: list[tuple[Param, Any, str | None]] = [
    (Param("2024-01-31", type="string", format="date"), "2024-02-30", "'2024-02-30' is not a 'date'"),
    (Param("2024-01-31", type="string", format="date"), "2024-02-29", None),
    (Param(None, type="string", format="date-time"), "2024-01-31 25:00", "is not a 'date-time'"),
    (Param(None, type="string", format="date-time"), "2024-01-31T10:00:00+01:00", None),
    (Param("a@b.c", type="string", format="email"), "nobody", "'nobody' is not a 'email'"),
    (Param([], type="array", items={"type": "string"}), ["a", 2], "[1]: 2 is not of type 'string'"),
    (Param([], type="array", minItems=1, uniqueItems=True), [1, 1], "has non-unique elements"),
    (Param("x", const="x"), "y", "'x' was expected"),
    (Param(1, oneOf=[{"type": "integer"}, {"type": "string"}]), 1.5, "is not valid under any of the given schemas"),
    (Param(5, type="number", exclusiveMaximum=10, multipleOf=5), 10, "greater than or equal to the maximum of 10"),
    (
        Param({}, type="object", properties={"k": {"type": "integer"}}, required=["k"], additionalProperties=False),
        {"k": "1", "other": 1},
        "Additional properties are not allowed",
    ),
    (Param(None, type=["null", "string"]), None, None),
    (Param(schema={"type": "integer", "maximum": 3}), 4, "4 is greater than the maximum of 3"),
]


@pytest.mark.parametrize(("param", "value", "message"), SCHEMAS)
def test_json_schema_keywords(param: Param, value: Any, message: str | None) -> None:
    problem = param.problem(value)
    if message is None:
        assert problem is None
    else:
        assert problem is not None and message in problem


def test_every_problem_is_reported_at_once_one_line_per_param() -> None:
    params = {
        "n": Param(3, type="integer", minimum=1),
        "day": Param("2024-01-01", type="string", format="date"),
        "ok": Param("x"),
        "needed": Param(type="string"),
    }
    with pytest.raises(ParamsValidationError) as caught:
        resolve_params(params, {"n": 0, "day": "tomorrow"})
    assert str(caught.value).splitlines() == [
        "param 'n': 0 is less than the minimum of 1",
        "param 'day': 'tomorrow' is not a 'date'",
        "param 'needed': no value was given and it has no default",
    ]
    assert set(caught.value.problems) == {"n", "day", "needed"}


def test_a_param_without_default_needs_a_value() -> None:
    with pytest.raises(ValueError, match="param 'day': no value was given and it has no default"):
        resolve_params({"day": Param(type="string")}, {})
    assert resolve_params({"day": Param(type="string")}, {"day": "mon"}) == {"day": "mon"}


def test_unknown_types_and_bad_schemas_fail_when_the_dag_loads() -> None:
    with pytest.raises(DagDefinitionError, match="Param type 'int' is not one of"):
        Param(1, type="int")
    with pytest.raises(DagDefinitionError, match="Param schema is not valid JSON Schema at minimum: 'one'"):
        Param(1, type="integer", minimum="one")


def test_nullable_types_and_describe() -> None:
    assert resolve_params({"x": Param(None, type=["null", "integer"])}, {}) == {"x": None}
    assert Param(2, "two", type="integer").describe() == {
        "value": 2,
        "description": "two",
        "schema": {"type": "integer"},
    }

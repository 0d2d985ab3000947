from __future__ import annotations

import pytest

from dockyard.errors import DagDefinitionError
from dockyard.params import Param, resolve_params


def test_defaults_and_overrides() -> None:
    params = {"n": Param(3, type="integer", minimum=1), "region": Param("eu", enum=["eu", "us"]), "plain": "x"}
    assert resolve_params(params, None) == {"n": 3, "region": "eu", "plain": "x"}
    expected = {"n": 5, "region": "us", "plain": "x", "extra": True}
    assert resolve_params(params, {"n": 5, "region": "us", "extra": True}) == expected


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"n": 0}, "param 'n': 0 is less than the minimum of 1"),
        ({"n": "3"}, "param 'n': '3' is not of type integer"),
        ({"n": True}, "param 'n': True is not of type integer"),
        ({"region": "asia"}, "param 'region': 'asia' is not one of"),
        ({"name": "x" * 20}, "is longer than 10 characters"),
        ({"name": "ab1"}, "does not match the pattern"),
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


def test_a_param_without_default_needs_a_value() -> None:
    with pytest.raises(ValueError, match="param 'day' has no default"):
        resolve_params({"day": Param(type="string")}, {})
    assert resolve_params({"day": Param(type="string")}, {"day": "mon"}) == {"day": "mon"}


def test_unknown_types_fail_when_the_dag_loads() -> None:
    with pytest.raises(DagDefinitionError, match="Param type 'int' is not one of"):
        Param(1, type="int")


def test_nullable_types() -> None:
    assert resolve_params({"x": Param(None, type=["null", "integer"])}, {}) == {"x": None}

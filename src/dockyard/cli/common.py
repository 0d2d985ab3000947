"""What every command shares: settings, the store, the DAG folder, errors printed as one clear line."""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from dockyard.compat import airflow as airflow_compat
from dockyard.connections import Connections
from dockyard.dag import DAG
from dockyard.dagbag import DagBag, find_dag
from dockyard.errors import DockyardError
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.variables import variable_source

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


def friendly(function: F) -> F:
    """Turn dockyard's errors into one red line and exit code 1, instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except DockyardError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def open_store(settings: Settings) -> Store:
    """The store, with Airflow DAG files' ``Variable.get`` and ``BaseHook.get_connection`` pointed at it."""
    store = Store.open(settings)
    airflow_compat.configure(variables=variable_source(settings, store), connections=Connections(settings, store).get)
    return store


def load_dag(settings: Settings, dag_file_or_id: str) -> DAG:
    return find_dag(dag_file_or_id, settings.dags_folder)


def load_bag(settings: Settings) -> DagBag:
    return DagBag.from_folder(settings.dags_folder)


def parse_logical_date(value: str | None, *, hint: str = "LOGICAL_DATE") -> dt.datetime:
    """``2024-01-31`` or an ISO datetime; naive values are UTC. Default: now, to the second."""
    if value is None:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use 2024-01-31 or 2024-01-31T06:00:00+00:00", param_hint=hint
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def parse_conf(text: str | None, hint: str = "--conf") -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON ({exc}); e.g. '{{\"n\": 3}}'", param_hint=hint) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object, e.g. '{\"n\": 3}'", param_hint=hint)
    return value

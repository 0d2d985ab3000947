"""The CLI's entries in the event log: every command that changes something records who ran it, when, and
what it was given, as Airflow's CLI writes ``cli_<command>`` lines to its ``log`` table.

The owner is the operating-system user (``getpass.getuser()``, as Airflow records it): the CLI has no login.
Arguments are stored with their secrets replaced by ``***``: passwords, the password inside a connection URI,
sensitive fields of a connection's JSON or extra, and the value of a variable whose key names a secret.
A command is recorded once it has finished without an error: a refused command changed nothing.

Example::

    dockyard variables set api_token s3cret   # event "cli_variables_set", extra {"args": {"key": "api_token",
                                               #  "value": "***"}, "command": "variables set", ...}
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import socket
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import click
from click.core import ParameterSource

from dockyard import defaults
from dockyard.errors import DockyardError
from dockyard.masking import SecretsMasker, is_sensitive_name
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.changes import Changes

READ_ONLY = frozenset(
    {
        "cheat-sheet",
        "compat check",
        "config get-value",
        "config list",
        "connections get",
        "connections list",
        "connections test",
        "dags details",
        "dags list",
        "dags list-import-errors",
        "dags list-runs",
        "dags next-execution",
        "dags report",
        "dags show",
        "dags state",
        "db check",
        "info",
        "jobs check",
        "pools export",
        "pools get",
        "pools list",
        "tasks failed-deps",
        "tasks list",
        "tasks logs",
        "tasks render",
        "tasks state",
        "tasks states-for-dag-run",
        "tasks test",
        "users export",
        "users list",
        "variables get",
        "variables list",
        "version",
    }
)
"""Commands that only read: not recorded. Every other command is (a new command is recorded unless it is
named here). ``connections export`` and ``variables export`` are recorded although they change nothing,
because they copy secrets out of the store."""

SERVICES = frozenset({"scheduler", "standalone", "webserver"})
"""Long-running services: they record what they do themselves, not their start."""

_URI_PARAMS = frozenset({"conn_uri"})
_JSON_PARAMS = frozenset({"conn_json", "conn_extra"})


CANCELLED = "dockyard.audit.cancelled"
"""The key in a command's context ``meta`` that says the person answered no: nothing changed, nothing recorded."""


def cancelled() -> None:
    """Say that this command was declined at its confirmation question, so the event log leaves it out."""
    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta[CANCELLED] = True


def os_user() -> str:
    """Who ran the command, as Airflow's CLI records it; the uid where the account has no name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no LOGNAME/USER
        return str(os.getuid())


def _mask_uri(uri: str, masker: SecretsMasker) -> str:
    """The URI with its password and the values of its secret query fields (a connection's extras) masked."""
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:
        return defaults.MASK
    for name, value in parse_qsl(parts.query):
        if is_sensitive_name(name) and value:
            masker.add(value)
            masker.add(quote_plus(value))
    if password:
        masker.add(password)
        return uri.replace(f":{password}@", f":{defaults.MASK}@", 1)
    return uri


def _mask_mapping(value: Any, masker: SecretsMasker) -> Any:
    """A JSON value with every field whose name names a secret replaced (and its value remembered)."""
    if isinstance(value, dict):
        masked: dict[str, Any] = {}
        for key, item in value.items():
            if is_sensitive_name(str(key)) and item not in (None, ""):
                masker.add(json.dumps(item) if not isinstance(item, str) else item)
                masked[key] = defaults.MASK
            elif key == "extra" and isinstance(item, str) and item:  # a connection's extra inside its JSON
                masked[key] = _mask_json(item, masker)
            else:
                masked[key] = _mask_mapping(item, masker)
        return masked
    if isinstance(value, list):
        return [_mask_mapping(item, masker) for item in value]
    return value


def _mask_json(text: str, masker: SecretsMasker) -> str:
    try:
        parsed = json.loads(text)
    except ValueError:  # not JSON: nothing tells which part is secret, so none of it is kept
        masker.add(text)
        return defaults.MASK
    if isinstance(parsed, dict) and isinstance(parsed.get("uri"), str):
        parsed["uri"] = _mask_uri(parsed["uri"], masker)
    return json.dumps(_mask_mapping(parsed, masker), sort_keys=True)


def masked_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The command's given arguments with every secret replaced by ``***``.

    Secrets are replaced by field first (so short ones go too), then every secret found (of three characters
    or more, as everywhere else) is masked wherever else it appears in the arguments (a password repeated in a
    description, a secret query field of a URI).
    """
    masker = SecretsMasker()
    sensitive_value = is_sensitive_name(str(params.get("key") or ""))
    args: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or value is False or value == ():
            continue
        if isinstance(value, (tuple, list)):
            value = [str(v) for v in value]
        elif not isinstance(value, (bool, int, float)):
            value = str(value)
        if is_sensitive_name(name) or (name == "value" and sensitive_value):
            masker.add(value)
            value = defaults.MASK
        elif name in _URI_PARAMS and isinstance(value, str):
            value = _mask_uri(value, masker)
        elif name in _JSON_PARAMS and isinstance(value, str):
            value = _mask_json(value, masker)
        args[name] = value
    return masker.mask_value(args) if masker else args


def _given(context: click.Context) -> dict[str, Any]:
    """The parameters a person set (on the command line, by environment or at a prompt), not defaults."""
    return {
        name: value
        for name, value in context.params.items()
        if context.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
    }


def record_cli_event(settings: Settings, command: str, context: click.Context) -> None:
    """One ``cli_<command>`` line of the event log. A database that cannot take it (``db reset
    --skip-init`` leaves no tables) gives a warning, not a failure: the command itself succeeded."""
    params = context.params
    run_id = params.get("run_id")
    if run_id is None and "execution_date_or_run_id" in params:
        run_id = params["execution_date_or_run_id"]
    extra = {"command": command, "args": masked_arguments(_given(context)), "host_name": socket.gethostname()}
    event = "cli_" + command.replace(" ", "_").replace("-", "_")
    try:
        store = Store.open(settings, migrate_schema=False)
    except DockyardError as exc:
        click.secho(f"Warning: the event log did not record {command!r}: {exc}", fg="yellow", err=True)
        return
    try:
        Changes(store).record_event(
            event,
            owner=os_user(),
            dag_id=_text(params.get("dag_id")),
            task_id=_text(params.get("task_id")),
            run_id=_text(run_id),
            extra=extra,
        )
    except Exception as exc:  # noqa: BLE001 - any database failure: the command's own work is done
        click.secho(f"Warning: the event log did not record {command!r}: {exc}", fg="yellow", err=True)
    finally:
        store.close()


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, (tuple, list)) else str(value)


def _recording(command: click.Command, name: str) -> None:
    callback = command.callback
    if callback is None:
        return

    @functools.wraps(callback)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        context = click.get_current_context()
        result = callback(*args, **kwargs)
        settings = context.find_object(Settings)
        if settings is not None and not context.meta.get(CANCELLED):
            record_cli_event(settings, name, context)
        return result

    command.callback = recorded


def record_changes(group: click.Group, prefix: tuple[str, ...] = ()) -> None:
    """Make every command of ``group`` that is neither read-only nor a service record itself when it succeeds."""
    for name, command in group.commands.items():
        full = (*prefix, name)
        if isinstance(command, click.Group):
            record_changes(command, full)
        elif " ".join(full) not in READ_ONLY | SERVICES:
            _recording(command, " ".join(full))

"""The connection form: the fields each connection type uses (as Airflow's form shows them per type), the
typed extras (a docker connection's ``email`` and ``reauth``, an smtp connection's ``from_email``, ...), and
the reading of a sent form into a :class:`~dockyard.connections.Connection`.

No secret goes back to the browser: an edit form leaves the password empty (empty keeps the stored one) and
shows a sensitive extra as ``***`` (sent back as ``***``, it keeps the stored value).

Example::

    conn = read_connection_form({"conn_id": "registry", "conn_type": "docker", "host": "r.example.com",
                                 "x_email": "ci@example.com", "extra": "{}"}, stored=None)
    conn.extra_dejson   # {"email": "ci@example.com", "reauth": False}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard import defaults
from dockyard.connection_requests import ask_scheduler
from dockyard.connections import Connection, parse_bool
from dockyard.errors import InvalidConnectionError, StoreError
from dockyard.masking import is_sensitive_name
from dockyard.registry_login import LoginResult
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.web.api_v1.monitor import heartbeat_is_recent
from dockyard.web.inputs import check_connection_fields

MASK = "***"


@dataclass(frozen=True)
class ExtraField:
    """One typed key of ``extra``: ``kind`` is ``text``, ``bool``, ``number`` or ``select``."""

    name: str
    label: str
    kind: str = "text"
    default: Any = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnType:
    label: str
    fields: dict[str, str]
    """The standard fields this type uses, with the label each has for it."""
    extras: tuple[ExtraField, ...] = field(default_factory=tuple)


STANDARD_FIELDS = ("host", "port", "schema", "login", "password")
CONN_TYPES: dict[str, ConnType] = {
    "docker": ConnType(
        "Docker registry",
        {"host": "Registry host (e.g. registry.example.com)", "port": "Port", "login": "Login", "password": "Password"},
        (
            ExtraField("email", "Email (for registries that ask for one)"),
            ExtraField("reauth", "Log in again even if the engine holds a login", "bool", True),
        ),
    ),
    "postgres": ConnType(
        "PostgreSQL",
        {
            "host": "Host",
            "port": "Port (5432 by default)",
            "schema": "Database",
            "login": "Login",
            "password": "Password",
        },
        (
            ExtraField(
                "sslmode",
                "SSL mode",
                "select",
                "",
                ("", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
            ),
        ),
    ),
    "http": ConnType(
        "HTTP",
        {
            "host": "Host (or a base URL)",
            "port": "Port",
            "schema": "Scheme (http or https)",
            "login": "Login",
            "password": "Password",
        },
    ),
    "smtp": ConnType(
        "SMTP (mail alerts)",
        {"host": "Host", "port": "Port", "login": "Login", "password": "Password"},
        (
            ExtraField("from_email", "From address"),
            ExtraField("disable_ssl", "Do not use SSL", "bool", False),
            ExtraField("disable_tls", "Do not use STARTTLS", "bool", False),
            ExtraField("timeout", f"Timeout in seconds (empty: {defaults.DEFAULT_SMTP_TIMEOUT_SECONDS:g})", "number"),
        ),
    ),
    "generic": ConnType(
        "Generic",
        {"host": "Host", "port": "Port", "schema": "Schema", "login": "Login", "password": "Password"},
    ),
}
"""The types the form knows; a stored connection of any other type is edited with the generic fields."""


def form_type(conn_type: str | None) -> str:
    """The form a type is edited with: its own, or the generic one."""
    return conn_type if conn_type in CONN_TYPES else "generic"


def shown_extras(conn: Connection) -> tuple[dict[str, Any], str]:
    """A stored connection's typed extras (by name) and the rest as JSON text, sensitive values as ``***``."""
    try:
        extra = conn.extra_dejson
    except InvalidConnectionError:
        return {}, "{}"
    typed = {x.name: x for x in CONN_TYPES[form_type(conn.conn_type)].extras}
    values = {k: v for k, v in extra.items() if k in typed}
    for name, value in values.items():
        if typed[name].kind == "bool":  # "false", "0", "no" from a URI's query are off too
            try:
                values[name] = parse_bool(name, value, bool(typed[name].default))
            except InvalidConnectionError:
                values[name] = bool(typed[name].default)
    rest = {k: _masked(k, v) for k, v in extra.items() if k not in typed}
    return values, json.dumps(rest, indent=2)


def _masked(key: str, value: Any) -> Any:
    if is_sensitive_name(key):
        return MASK
    if isinstance(value, dict):
        return {k: _masked(k, v) for k, v in value.items()}
    return value


def _kept(sent: Any, stored: Any) -> Any:
    """``sent`` with each ``***`` that stands for a stored value replaced by that value."""
    if sent == MASK and stored is not None:
        return stored
    if isinstance(sent, dict) and isinstance(stored, dict):
        return {k: _kept(v, stored.get(k)) for k, v in sent.items()}
    return sent


def _typed_value(conn_id: str, spec: ExtraField, raw: str | None) -> Any:
    if spec.kind == "bool":
        return raw is not None and raw not in ("", "off", "false")
    text = (raw or "").strip()
    if not text:
        return None
    if spec.kind == "number":
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            raise InvalidConnectionError(f"connection {conn_id!r}: {spec.name} {text[:40]!r} is not a number") from None
    if spec.kind == "select" and text not in spec.options:
        raise InvalidConnectionError(
            f"connection {conn_id!r}: {spec.name} {text[:40]!r} is not one of {', '.join(o for o in spec.options if o)}"
        )
    return text


def read_connection_form(form: Mapping[str, str], stored: Connection | None) -> Connection:
    """The connection a sent form describes. ``stored`` is the connection being edited (None for a new one):
    an empty password and each ``***`` in extra keep its values. Every problem is an
    :class:`InvalidConnectionError` naming the field and what it should be."""
    conn_id = form.get("conn_id", "").strip()
    if not conn_id:
        raise InvalidConnectionError("give the connection an id, such as my_registry")
    conn_type = form.get("conn_type", "").strip() or "generic"
    kind = CONN_TYPES[form_type(conn_type)]
    values = {name: form.get(name, "").strip() if name in kind.fields else "" for name in STANDARD_FIELDS}
    check_connection_fields(conn_id, {"conn_type": conn_type, "description": form.get("description", ""), **values})
    raw_extra = form.get("extra", "").strip() or "{}"
    try:
        extra = json.loads(raw_extra)
    except ValueError as exc:
        raise InvalidConnectionError(
            f'connection {conn_id!r}: extra is not valid JSON ({exc}); write an object such as {{"key": "value"}}'
        ) from None
    if not isinstance(extra, dict):
        raise InvalidConnectionError(
            f'connection {conn_id!r}: extra must be a JSON object such as {{"key": "value"}}, '
            f"not {type(extra).__name__}"
        )
    for spec in kind.extras:
        value = _typed_value(conn_id, spec, form.get(f"x_{spec.name}"))
        if value is None:
            extra.pop(spec.name, None)
        else:
            extra[spec.name] = value
    if stored is not None:
        try:
            extra = _kept(extra, stored.extra_dejson)
        except InvalidConnectionError:
            pass  # a stored extra that is not JSON has nothing to keep
    password = values["password"] or (stored.password if stored is not None else None)
    return Connection(
        conn_id=conn_id,
        conn_type=conn_type,
        host=values["host"] or None,
        schema=values["schema"] or None,
        login=values["login"] or None,
        password=password or None,
        port=int(values["port"]) if values["port"] else None,
        extra=json.dumps(extra) if extra else None,
        description=form.get("description", "").strip() or None,
    )


def check_message(conn: Connection) -> str:
    """What the form's Test button says of a well-formed connection (a docker connection's login follows)."""
    return f"Connection {conn.conn_id} ({conn.conn_type}) is well-formed."


def login_test(settings: Settings, store: Store, conn: Connection) -> LoginResult | None:
    """A docker connection's registry login, made by a scheduler (the web server reaches no engine); None for
    the other types, which are only checked for form. Blocks up to the scheduler's answer."""
    if (conn.conn_type or "").lower() != "docker":
        return None
    try:
        beat = store.get_meta("scheduler_heartbeat")
    except StoreError:
        beat = None
    return ask_scheduler(settings, store, conn, scheduler_seen=heartbeat_is_recent(beat))

"""Checks of request values that the API and the pages share, so both refuse the same input the same way
(400 with a message naming the field), before anything reaches the store."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dockyard.errors import InvalidInputError


def parse_logical_date(value: object) -> dt.datetime:
    """An ISO date-time from a request (naive is UTC), refused when it is not one or lies outside the years
    1 to 9998 once in UTC (``0001-01-01T00:00:00+14:00`` is before year 1)."""
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"logical_date {str(value)[:60]!r} is not an ISO date-time; write it like 2024-01-31T00:00:00+00:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    try:
        utc = when.astimezone(dt.timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not 1 <= utc.year <= 9998:
        raise InvalidInputError(f"logical_date {str(value)[:60]!r} lies outside the years 1 to 9998 in UTC")
    return when


CONNECTION_FIELD_LENGTHS = {"conn_id": 250, "conn_type": 500, "host": 500, "schema": 500}
"""The widths of the ``connection`` table's columns (PostgreSQL refuses longer values)."""


def check_connection_fields(conn_id: str, body: dict[str, Any]) -> None:
    """Text fields are strings that fit their columns and the port is a whole number 0 to 65535, before
    anything is stored."""
    for name in ("conn_type", "host", "schema", "login", "password", "description"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(
                f"connection {conn_id[:60]!r}: {name} must be a string (or null), not {type(value).__name__}"
            )
    for name, width in CONNECTION_FIELD_LENGTHS.items():
        value = conn_id if name == "conn_id" else body.get(name)
        if isinstance(value, str) and len(value) > width:
            raise InvalidInputError(f"connection {conn_id[:60]!r}: {name} has {len(value)} characters; at most {width}")
    port = body.get("port")
    if port is None or port == "":
        return
    if isinstance(port, bool) or not isinstance(port, (int, str)) or not str(port).strip().isdigit():
        raise InvalidInputError(
            f"connection {conn_id!r}: port {str(port)[:30]!r} is not a number; give a whole number 0 to 65535"
        )
    if int(str(port)) > 65535:
        raise InvalidInputError(f"connection {conn_id!r}: port {str(port)[:30]} is above 65535")

"""Plain-data JSON for values people and databases see (XComs, CLI output): no layer of its own."""

from __future__ import annotations

import datetime
from typing import Any


def json_default(value: Any) -> Any:
    """Used when an XCom value is shown as JSON: dates as ISO strings, bytes as text."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)

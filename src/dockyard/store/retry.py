"""Writes that must not be lost: tried again until the database takes them or the caller stops.

A try's result is the one write the scheduler cannot drop. A database on a full disk, a PostgreSQL server
that restarts or refuses connections for half a minute: each of these makes a write fail with
:class:`~dockyard.errors.StoreError` while the container's outcome is known and nothing else has it. So
the write is tried again, with waits that double up to ``DEFAULT_STORE_RETRY_MAX_SECONDS``, until it
succeeds; when the scheduler stops meanwhile the caller gets :class:`WriteAbandoned`, leaves the
container where it is, and the next scheduler reads the outcome from it.

Only a failure of the database itself is retried: :class:`~dockyard.errors.NotFoundError` (the row is
gone, e.g. a deleted run) is an answer, not a fault, and propagates at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from dockyard import defaults
from dockyard.errors import NotFoundError, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")


class WriteAbandoned(Exception):
    """The caller stopped while a write kept failing; the write was not made (and must be made later)."""


def retry_write(
    write: Callable[[], T],
    *,
    stopping: threading.Event,
    what: str,
    first_wait: float = defaults.DEFAULT_STORE_RETRY_FIRST_SECONDS,
    max_wait: float = defaults.DEFAULT_STORE_RETRY_MAX_SECONDS,
) -> T:
    """Call ``write`` until it does not raise :class:`StoreError`; raise :class:`WriteAbandoned` once
    ``stopping`` is set while it still fails. ``what`` names the write in the log."""
    wait = first_wait
    failures = 0
    while True:
        try:
            value = write()
        except NotFoundError:
            raise
        except (StoreError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            failures += 1
            if stopping.is_set():
                raise WriteAbandoned(f"{what}: not written before the scheduler stopped ({exc})") from exc
            if failures == 1 or failures % 10 == 0:
                log.warning("%s failed (%d times so far), trying again in %g s: %s", what, failures, wait, exc)
            stopping.wait(wait)
            wait = min(wait * 2, max_wait)
            continue
        if failures:
            log.warning("%s succeeded after %d failed attempts", what, failures)
        return value

"""What a ``dag_run_id`` may look like, checked in one place for the API, the UI, the CLI and the scheduler.

A run id ends up in file paths (task logs), URLs, container labels and HTML pages, so it is held to
Airflow's ``[scheduler] allowed_run_id_pattern`` (``^[A-Za-z0-9_.~:+-]+$``), which also admits the ids
dockyard makes itself (``manual__2024-01-31T00:00:00+00:00``), and to the 250 characters of the
``dag_run.run_id`` column. ``..`` is refused as well: the pattern allows dots, and a log path must never
climb out of its folder.

Example::

    check_run_id("nightly-2024-01-31")      # returns it
    check_run_id("../../etc")               # InvalidRunIdError naming what is allowed
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidRunIdError

MAX_RUN_ID_LENGTH = 250
"""The width of the ``run_id`` column (Airflow's too)."""

ALLOWED_RUN_ID = re.compile(r"[A-Za-z0-9_.~:+-]+")
"""Airflow's default ``allowed_run_id_pattern``, without its anchors (``fullmatch`` anchors it)."""

RULE = (
    f"a dag_run_id is 1 to {MAX_RUN_ID_LENGTH} characters of letters, digits and - _ . ~ : + "
    "(no spaces, slashes, quotes, <, > or control characters, and no '..'), "
    "for example manual__2024-01-31T00:00:00+00:00 or nightly-2024-01-31"
)


def check_run_id(run_id: object) -> str:
    """``run_id`` if it is allowed; else :class:`InvalidRunIdError` saying what is wrong and what is allowed."""
    if not isinstance(run_id, str):
        raise InvalidRunIdError(f"dag_run_id must be a string, not {type(run_id).__name__}; {RULE}")
    if not run_id:
        raise InvalidRunIdError(f"dag_run_id is empty; {RULE}")
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise InvalidRunIdError(f"dag_run_id has {len(run_id)} characters, more than {MAX_RUN_ID_LENGTH}; {RULE}")
    bad = sorted({c for c in run_id if not ALLOWED_RUN_ID.fullmatch(c)})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:8])
        raise InvalidRunIdError(f"dag_run_id {run_id[:60]!r} has characters that are not allowed ({shown}); {RULE}")
    if ".." in run_id:
        raise InvalidRunIdError(f"dag_run_id {run_id[:60]!r} contains '..'; {RULE}")
    return run_id

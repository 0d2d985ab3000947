"""Creating runs by hand (CLI, API, UI) and waking the scheduler: store-only, so the web server can do it
without importing the scheduler, the container runtime or a DAG file.

Example::

    run = trigger_run(settings, store, SerializedDag.from_row(store.get_dag("etl")), conf={"n": 3})
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidParamsError
from dockyard.params import resolve_params
from dockyard.serialized import SerializedDag, serialize_dag
from dockyard.settings import Settings
from dockyard.store import Store, utcnow

if TYPE_CHECKING:
    from dockyard.dag import DAG
    from dockyard.store.models import DagRunModel

WAKE_SOCKETS = "scheduler-*.sock"
"""Each scheduler on this machine listens on its own socket in ``$DOCKYARD_HOME`` (several may share it)."""


def wake_socket_path(home: Path, pid: int) -> Path:
    return home / WAKE_SOCKETS.replace("*", str(pid))


def notify_scheduler(settings: Settings) -> None:
    """Wake the schedulers on this machine at once (best effort: they also poll)."""
    for path in settings.home.glob(WAKE_SOCKETS):
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(b"1", str(path))


def trigger_run(
    settings: Settings,
    store: Store,
    dag: SerializedDag | DAG,
    *,
    conf: dict[str, Any] | None = None,
    logical_date: dt.datetime | None = None,
    run_id: str | None = None,
    run_type: str = "manual",
) -> DagRunModel:
    """Create a manual run (validating ``conf`` against the DAG's params) and wake the scheduler."""
    stored = dag if isinstance(dag, SerializedDag) else serialize_dag(dag)
    try:
        resolve_params(stored.param_objects(), conf)
    except ValueError as exc:
        raise InvalidParamsError(f"DAG {stored.dag_id!r}: {exc}") from None
    when = logical_date or utcnow()
    interval = stored.timetable().manual_interval(when)
    run = store.create_run(
        stored.dag_id,
        run_id or f"{run_type}__{when.isoformat()}",
        logical_date=when,
        run_type=run_type,
        data_interval=(interval.start, interval.end),
        conf=conf,
    )
    notify_scheduler(settings)
    return run

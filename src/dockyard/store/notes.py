"""Notes people leave on runs and task instances, and requests to parse a DAG file again.

Both come from the web (Airflow's ``setNote`` and ``PUT /parseDagFile/{file_token}``). A parsing request is a
row the DAG processor reads at its next look at the folder: the web server never imports a DAG file, and it
may run on another host than the processor, so the store carries the request.

Example::

    set_run_note(store, "etl", "manual__2024-01-01", "re-run after the upstream fix")
    request_parse(store, "/opt/dags/etl.py")
    take_parse_requests(store)      # ['/opt/dags/etl.py'], and the request is gone
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.store.api import Store, utcnow
from dockyard.store.mapped import NOT_MAPPED, no_instance
from dockyard.store.models import DagRunModel, ParsingRequestModel, TaskInstanceModel

MAX_NOTE_LENGTH = 1000
"""Airflow keeps a note in a ``String(1000)`` column; a longer one is refused rather than cut."""


def _checked(note: str | None) -> str | None:
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        raise InvalidInputError(f"the note has {len(note)} characters; a note may have at most {MAX_NOTE_LENGTH}")
    return note


def set_run_note(store: Store, dag_id: str, run_id: str, note: str | None) -> None:
    """Set (or with None remove) the note of a run; NotFoundError when the run does not exist."""
    note = _checked(note)
    with store.session() as s:
        row = s.scalars(
            sa.select(DagRunModel).where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == run_id)
        ).first()
        if row is None:
            raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}; `dockyard dags list-runs {dag_id}` lists them")
        row.note = note


def set_ti_note(
    store: Store, dag_id: str, run_id: str, task_id: str, note: str | None, map_index: int = NOT_MAPPED
) -> None:
    """Set (or with None remove) the note of a task instance; NotFoundError when it does not exist."""
    note = _checked(note)
    with store.session() as s:
        row = s.get(TaskInstanceModel, (dag_id, run_id, task_id, map_index))
        if row is None:
            raise NotFoundError(no_instance(s, dag_id, run_id, task_id, map_index))
        row.note = note


def request_parse(store: Store, fileloc: str) -> None:
    """Ask the DAG processor to parse ``fileloc`` again at its next look; a second request before then is one."""
    values = {"fileloc": fileloc, "requested_at": utcnow()}
    insert = pg_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    with store.session() as s:
        s.execute(insert(ParsingRequestModel).values(**values).on_conflict_do_nothing(index_elements=["fileloc"]))


def take_parse_requests(store: Store) -> list[str]:
    """The files asked for since the last call, oldest request first; the requests are removed as they are read."""
    with store.session() as s:
        rows = s.scalars(sa.select(ParsingRequestModel).order_by(ParsingRequestModel.requested_at)).all()
        found = [row.fileloc for row in rows]
        if found:
            s.execute(sa.delete(ParsingRequestModel).where(ParsingRequestModel.fileloc.in_(found)))
        return found


__all__ = ["MAX_NOTE_LENGTH", "request_parse", "set_run_note", "set_ti_note", "take_parse_requests"]

"""Connection tests the web server asks a scheduler to run, and their answers.

Testing a docker connection means logging in to its registry with the engine the tasks use, and only the
scheduler talks to the engine. So the web server files a request (the connection, Fernet-encrypted by the
caller: this module never sees a secret in plain text), a scheduler takes it at its next pass, logs in and
writes the answer back (clearing the encrypted connection), and the web server reads the answer and deletes
the row. A request nobody takes is withdrawn by the web server when it stops waiting.

Example::

    request_id = file_request(store, "registry", token)
    take_requests(store)                # [PendingRequest(id=1, conn_id='registry', secret=token)]; taken once
    answer(store, 1, ok=True, message="Logged in to registry.example.com as 'robot'")
    read_answer(store, 1)               # Answer(taken=True, ok=True, message=...); the row is gone
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from dockyard.store.api import Store, utcnow
from dockyard.store.models import ConnectionTestModel

SUCCESS = "success"
FAILED = "failed"
MAX_TAKEN = 100
"""The most requests one pass looks at (a pass on an idle table reads nothing more than one empty select)."""


@dataclass(frozen=True)
class PendingRequest:
    """A request a scheduler took: ``secret`` is the connection as the caller encrypted it."""

    id: int
    conn_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Answer:
    """Where a request stands: ``taken`` once a scheduler took it; ``ok`` is None until it answered."""

    taken: bool
    ok: bool | None = None
    message: str = ""


def file_request(store: Store, conn_id: str, secret: str) -> int:
    """File a test of ``conn_id`` (``secret``: the encrypted connection); returns the request's id."""
    with store.session() as s:
        row = ConnectionTestModel(conn_id=conn_id, secret=secret, requested_at=utcnow())
        s.add(row)
        s.flush()
        return int(row.id)


def take_requests(store: Store, *, stale_before: dt.datetime | None = None) -> list[PendingRequest]:
    """The requests no scheduler has taken yet, oldest first, each taken by exactly one caller (several
    schedulers may share a PostgreSQL database). Requests filed before ``stale_before`` are deleted unanswered:
    the web server that filed them has stopped waiting (or died while it waited)."""
    with store.session() as s:
        rows = s.execute(
            sa.select(
                ConnectionTestModel.id,
                ConnectionTestModel.conn_id,
                ConnectionTestModel.secret,
                ConnectionTestModel.requested_at,
                ConnectionTestModel.taken_at,
            )
            .order_by(ConnectionTestModel.id)
            .limit(MAX_TAKEN)
        ).all()
        stale = [row.id for row in rows if stale_before is not None and row.requested_at < stale_before]
        if stale:
            s.execute(sa.delete(ConnectionTestModel).where(ConnectionTestModel.id.in_(stale)))
    pending = [row for row in rows if row.id not in stale and row.taken_at is None and row.secret is not None]
    taken: list[PendingRequest] = []
    for request_id, conn_id, secret, _, _ in pending:
        with store.session() as s:
            changed = s.execute(
                sa.update(ConnectionTestModel)
                .where(ConnectionTestModel.id == request_id, ConnectionTestModel.taken_at.is_(None))
                .values(taken_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
        if changed and secret is not None:
            taken.append(PendingRequest(id=request_id, conn_id=conn_id, secret=secret))
    return taken


def answer(store: Store, request_id: int, *, ok: bool, message: str) -> None:
    """Write the test's outcome and drop the encrypted connection (a withdrawn request stays gone)."""
    with store.session() as s:
        s.execute(
            sa.update(ConnectionTestModel)
            .where(ConnectionTestModel.id == request_id)
            .values(status=SUCCESS if ok else FAILED, message=message, secret=None)
        )


def read_answer(store: Store, request_id: int) -> Answer:
    """Where the request stands; once answered, the answer is returned and the row deleted."""
    with store.session() as s:
        row = s.get(ConnectionTestModel, request_id)
        if row is None:
            return Answer(taken=False)
        if row.status is None:
            return Answer(taken=row.taken_at is not None)
        found = Answer(taken=True, ok=row.status == SUCCESS, message=row.message or "")
        s.delete(row)
        return found


def withdraw(store: Store, request_id: int) -> Answer:
    """Give up waiting: delete the request (and its encrypted connection), saying where it stood. An answer
    that came in meanwhile is returned rather than lost."""
    found = read_answer(store, request_id)
    if found.ok is None:
        with store.session() as s:
            s.execute(sa.delete(ConnectionTestModel).where(ConnectionTestModel.id == request_id))
    return found


__all__ = [
    "FAILED",
    "SUCCESS",
    "Answer",
    "PendingRequest",
    "answer",
    "file_request",
    "read_answer",
    "take_requests",
    "withdraw",
]

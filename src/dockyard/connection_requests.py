"""Connection tests the web server has a scheduler run: the web server reaches no engine, the scheduler does.

The web server encrypts the connection under test with the key stored connections use (its password may be
one typed into a form and never saved), files it in the store (:mod:`dockyard.store.conn_tests`), wakes the
schedulers on this machine and waits. A scheduler takes the request at its next pass, logs in to the registry
in a thread of its own (:func:`~dockyard.registry_login.check_docker_login`, the engine's ``/auth`` as a task's
pull does) and writes the answer back; the web server reads it and deletes the request. When no scheduler
answers, the web server says so instead of guessing.

Example::

    result = ask_scheduler(settings, store, conn, scheduler_seen=True)   # in the web server
    answer_connection_tests(settings, store, clients)                     # in each scheduler pass
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
import time
from typing import TYPE_CHECKING

from dockyard import defaults
from dockyard.connections import Connection, decrypt, encrypt, load_fernet
from dockyard.errors import DockyardError, StoreError
from dockyard.registry_login import LoginResult, check_docker_login
from dockyard.runs import notify_scheduler
from dockyard.settings import Settings
from dockyard.store import Store, conn_tests, utcnow

if TYPE_CHECKING:
    from dockyard.container.engine import EngineClients

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
"""How often the waiting web server looks for the answer."""
STALE_AFTER = dt.timedelta(seconds=4 * defaults.DEFAULT_CONNECTION_TEST_WAIT_SECONDS)
"""A request this old has no one waiting for it any more: a scheduler deletes it unanswered."""


def ask_scheduler(
    settings: Settings,
    store: Store,
    conn: Connection,
    *,
    scheduler_seen: bool,
    wait: float = defaults.DEFAULT_CONNECTION_TEST_WAIT_SECONDS,
) -> LoginResult:
    """Have a scheduler log in with ``conn`` and wait up to ``wait`` seconds for its answer. With no recent
    scheduler heartbeat (``scheduler_seen`` False) nothing is filed: the result says no scheduler runs."""
    if not scheduler_seen:
        return _untested(conn.conn_id, "no scheduler is running to test it")
    fernet = load_fernet(settings.home, settings.fernet_key)
    secret = encrypt(fernet, json.dumps(dataclasses.asdict(conn)))
    assert secret is not None  # a str in, a token out
    request_id = conn_tests.file_request(store, conn.conn_id, secret)
    notify_scheduler(settings)
    deadline = time.monotonic() + wait
    while True:
        found = conn_tests.read_answer(store, request_id)
        if found.ok is not None:
            return LoginResult(found.ok, found.message)
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    found = conn_tests.withdraw(store, request_id)
    if found.ok is not None:
        return LoginResult(found.ok, found.message)
    if found.taken:
        return _untested(conn.conn_id, f"the scheduler took the test but gave no answer within {wait:g} s")
    return _untested(conn.conn_id, f"no scheduler is running to test it (none took the test within {wait:g} s)")


def _untested(conn_id: str, why: str) -> LoginResult:
    return LoginResult(
        False,
        f"The registry login of connection {conn_id!r} was not tested: {why}. Only the scheduler reaches the "
        f"engine that logs in; start `dockyard scheduler`, or run `dockyard connections test {conn_id}` where "
        "the engine is.",
        tested=False,
    )


def answer_connection_tests(settings: Settings, store: Store, clients: EngineClients) -> None:
    """Take the connection tests the web server filed and answer each from a thread of its own (a registry
    that does not answer must not hold up the scheduler's pass). Called once per scheduler pass; a store error
    is logged and the next pass tries again."""
    try:
        taken = conn_tests.take_requests(store, stale_before=utcnow() - STALE_AFTER)
    except StoreError as exc:
        log.warning("connection tests not taken: %s", exc)
        return
    for request in taken:
        threading.Thread(
            target=_answer, args=(settings, store, clients, request), name="dockyard-connection-test", daemon=True
        ).start()


def _answer(settings: Settings, store: Store, clients: EngineClients, request: conn_tests.PendingRequest) -> None:
    try:
        fernet = load_fernet(settings.home, settings.fernet_key)
        data = json.loads(decrypt(fernet, request.secret, conn_id=request.conn_id, what="test request") or "{}")
        conn = Connection(**data)
        result = check_docker_login(conn, clients, settings.default_docker_url)
    except DockyardError as exc:  # a key the web server has and this scheduler has not
        result = LoginResult(False, f"{exc} (the web server and the scheduler must share DOCKYARD_FERNET_KEY)")
    except Exception:  # a bug must still give the waiting web server an answer
        log.exception("the test of connection %s failed", request.conn_id)
        result = LoginResult(
            False, f"the test of connection {request.conn_id!r} failed in the scheduler; its log says why"
        )
    log.info("connection test of %s: %s", request.conn_id, "success" if result.ok else "failed")
    try:
        conn_tests.answer(store, request.id, ok=result.ok, message=result.message)
    except StoreError as exc:
        log.warning("the answer to the test of connection %s was not written: %s", request.conn_id, exc)


__all__ = ["answer_connection_tests", "ask_scheduler"]

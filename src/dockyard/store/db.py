"""Database engines and migrations. The only place that knows which database is behind the store.

SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` transactions, so the scheduler, its worker threads and
CLI processes can share one file without "database is locked" surprises. PostgreSQL (psycopg 3) is
used as is: ``postgresql+psycopg://user:password@host/db``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from dockyard.errors import StoreError
from dockyard.serialization import json_default

MIGRATIONS = Path(__file__).parent / "migrations"
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(malformed URL)"


def create_db_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"DOCKYARD_DATABASE_URL is not a database URL ({exc}); use sqlite:////path/dockyard.db or "
            "postgresql+psycopg://user:password@host:5432/dockyard"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)  # not for a URI (``file:...``)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 60, "check_same_thread": False},
            pool_size=20,
            max_overflow=20,
            json_serializer=_to_json,
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let the "begin" hook below open transactions
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=60000")  # first: switching to WAL may have to wait too
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return sa.create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20, json_serializer=_to_json)
    raise StoreError(f"database {safe_url(url)!r} is not supported; use SQLite or PostgreSQL")


def _to_json(value: Any) -> str:
    """JSON columns (XComs above all) keep plain data: dates become ISO strings, tuples lists, bytes text."""
    return json.dumps(value, default=json_default)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@contextlib.contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Translate "cannot connect" into one clear :class:`StoreError` naming the database (password hidden)."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise StoreError(f"cannot reach the database {safe_url(str(engine.url))}: {str(exc.orig).strip()}") from exc


def current_revision(engine: Engine) -> str | None:
    with reachable(engine), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite database (None for PostgreSQL or an in-memory database)."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    if database.startswith("file:"):  # a SQLite URI: the path before its query
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database)


@contextlib.contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """Across processes, one migrator at a time for a SQLite file.

    Two processes that start on a new database at once (a scheduler and a CLI command) would otherwise both
    find it empty and both migrate; SQLite's own locks let the second fail with "database is locked" while
    the first creates the tables. PostgreSQL takes an advisory lock inside the migration instead.
    """
    database = sqlite_file(engine)
    if database is None:
        yield
        return
    lock_path = database.with_name(database.name + ".migrate-lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # private, as the database file
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def migrate(engine: Engine, *, force: bool = False) -> bool:
    """Bring the schema to the newest revision; True if anything was done. Safe to run any number of times."""
    key = str(engine.url)
    with _migrate_lock, _one_migrator(engine):
        if key in _migrated and not force:
            return False
        if current_revision(engine) == head_revision():
            _migrated.add(key)
            return False
        with reachable(engine):
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # One migrator at a time across processes; released when the transaction ends.
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
                config = _config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        _migrated.add(key)
        return True

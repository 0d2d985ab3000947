"""Private file modes for what dockyard keeps on disk: ``$DOCKYARD_HOME`` and the logs folder 0700, the
SQLite database and its ``-wal``/``-shm`` files 0600, key files 0600 (created so by the code that writes
them).

SQLite gives a new ``-wal`` and ``-shm`` file the mode of the database file, so creating the database
file 0600 before SQLite opens it keeps all three private; files that exist already are narrowed here.
Task logs are written inside the 0700 logs folder, so nobody else can reach them either.

Example::

    secure_home(settings)      # before the store is opened by a long-running process
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dockyard.settings import Settings

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL, else None (PostgreSQL, in-memory, malformed)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def private_dir(path: Path) -> None:
    """Create ``path`` 0700 (parents as needed) or narrow it to 0700 if it exists."""
    if not path.exists():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        path.chmod(PRIVATE_DIR)


def secure_home(settings: Settings) -> None:
    """Make dockyard's own files private: the home (when dockyard creates it), logs, and the SQLite files."""
    if not settings.home.exists():
        settings.home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    private_dir(settings.logs_folder)
    database = sqlite_path(settings.database_url)
    if database is None:
        return
    database.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if not database.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"), Path(f"{database}-journal")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            path.chmod(PRIVATE_FILE)

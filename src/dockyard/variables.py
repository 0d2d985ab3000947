"""Variables: ``DOCKYARD_VAR_<KEY>`` / ``AIRFLOW_VAR_<KEY>`` environment variables first (as in Airflow),
then the store, where values are encrypted with the connections' Fernet key (Airflow's ``is_encrypted``).

Rows written before encryption existed (``is_encrypted`` false) are read as they are and encrypted the
next time they are written or when the key is rotated (``dockyard rotate-fernet-key``).

Example::

    variables = Variables(settings, store)
    variables.set("bucket", "s3://data")
    variables.find("bucket")            # 's3://data'; the database holds a Fernet token
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cryptography.fernet import InvalidToken

from dockyard.connections import Connections
from dockyard.errors import InvalidConnectionError, InvalidInputError, NotFoundError
from dockyard.masking import is_sensitive_name
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.models import VariableModel

MAX_KEY_LENGTH = 250
_BAD_KEY = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: object) -> str:
    """A variable key: 1 to 250 characters without control characters (they break pages, logs and SQL)."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError("a variable key is 1 to 250 characters of text; it is missing")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(f"variable key {key[:40]!r}... has {len(key)} characters; at most {MAX_KEY_LENGTH}")
    if _BAD_KEY.search(key) or not _encodable(key):
        raise InvalidInputError(
            f"variable key {key[:40]!r} holds control characters or invalid Unicode; use printable text"
        )
    return key


def check_value(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"the value of variable {key!r} must be a string, not {type(value).__name__}")
    if "\x00" in value or not _encodable(value):
        raise InvalidInputError(
            f"the value of variable {key!r} holds a NUL character or a lone surrogate (invalid Unicode); "
            "store text, or base64 for binary data"
        )
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Variables:
    """Reads and writes variables in the store, encrypted at rest with the connections' Fernet key."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._keys = Connections(settings, store)

    def _clear(self, row: VariableModel) -> str:
        if not row.is_encrypted:
            return row.val
        try:
            return self._keys.fernet.decrypt(row.val.encode()).decode()
        except InvalidToken:
            raise InvalidConnectionError(
                f"cannot decrypt variable {row.key!r}: it was encrypted with another Fernet key. Set "
                "DOCKYARD_FERNET_KEY (or DOCKYARD_FERNET_KEY_FILE) to the key it was stored with"
            ) from None

    def set(self, key: str, value: str, description: str | None = None) -> None:
        check_key(key)
        check_value(key, value)
        token = self._keys.fernet.encrypt(value.encode()).decode()
        self.store.put_variable(key, token, description, encrypted=True)

    def find(self, key: str) -> str | None:
        if not isinstance(key, str) or _BAD_KEY.search(key) or not _encodable(key):
            return None
        row = self.store.get_variable_row(key)
        return None if row is None else self._clear(row)

    def get(self, key: str) -> str:
        found = self.find(key)
        if found is None:
            raise NotFoundError(f"no variable {key!r}; set it with `dockyard variables set {key} VALUE`")
        return found

    def rows(self) -> list[tuple[VariableModel, str]]:
        """Every stored variable with its clear value (for the callers that mask it themselves)."""
        return [(row, self._clear(row)) for row in self.store.list_variables()]

    def shown(self) -> list[dict[str, Any]]:
        """What a person may see: values of sensitive keys (password, token, ...) as ``***``."""
        return [
            {"key": row.key, "value": "***" if is_sensitive_name(row.key) else value, "description": row.description}
            for row, value in self.rows()
        ]

    def delete(self, key: str) -> None:
        if self.find(key) is None:
            raise NotFoundError(f"no variable {key!r}")
        self.store.delete_variable(key)

    def rotate(self) -> int:
        """Encrypt every value with the first key (clear-text rows from before 0005 too); returns how many."""
        rows = self.rows()
        for row, value in rows:
            self.set(row.key, value, row.description)
        return len(rows)


def variable_source(settings: Settings, store: Store | None) -> Callable[[str], str | None]:
    """A lookup ``key -> value or None`` for templates (``var.value.X``) and ``Variable.get``."""
    variables = Variables(settings, store) if store is not None else None

    def find(key: str) -> str | None:
        for prefix in ("DOCKYARD_VAR_", "AIRFLOW_VAR_"):
            value = settings.engine_env.get(prefix + key.upper())
            if value is not None:
                return value
        return variables.find(key) if variables is not None else None

    return find

"""Connections: Airflow's URI and JSON forms, environment variables, and encryption at rest.

A connection has ``conn_id, conn_type, host, schema, login, password, port, extra`` (JSON), as in
Airflow. They are looked up in ``DOCKYARD_CONN_<ID>`` / ``AIRFLOW_CONN_<ID>`` environment variables
first (URI or JSON), then in the store, where the password and extra are encrypted with Fernet.

Examples::

    Connection.from_uri("registry", "docker://robot:p%40ss@registry.example.com:5000?email=ci%40example.com")
    Connection.from_uri("gcr", "docker://_json_key:%7B...%7D@gcr.io")
    conn.get_uri()   # gives the URI back
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from dockyard.errors import ConfigError, InvalidConnectionError, NotFoundError
from dockyard.masking import is_sensitive_name
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.models import ConnectionModel

EXTRA_KEY = "__extra__"
TRUE_STRINGS = {"true", "t", "yes", "y", "on", "1"}
FALSE_STRINGS = {"false", "f", "no", "n", "off", "0"}
CONN_TYPE_ALIASES = {"postgresql": "postgres"}


@dataclass(frozen=True)
class Connection:
    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    extra: str | None = field(default=None, repr=False)
    description: str | None = None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` parsed as a JSON object (an empty dict when there is none)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError as exc:
            raise InvalidConnectionError(f"connection {self.conn_id!r}: extra is not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise InvalidConnectionError(
                f"connection {self.conn_id!r}: extra must be a JSON object, got {type(value).__name__}"
            )
        return value

    # -- URI ------------------------------------------------------------------------------------
    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Parse Airflow's URI form (percent-encoded parts, extra as query parameters or ``__extra__``)."""

        def bad(why: str) -> InvalidConnectionError:
            return InvalidConnectionError(
                f"connection {conn_id!r}: {why}. Write it like "
                "docker://login:password@registry.example.com:5000?email=me%40example.com "
                "(percent-encode special characters in each part)"
            )

        if not isinstance(uri, str) or "://" not in uri:
            raise bad("the URI has no scheme (conn_type://...)")
        count = uri.count("://")
        if count > 2:
            raise bad("the URI has more than two '://'")
        scheme = uri.split("://", 1)[0]
        if not scheme:
            raise bad("the URI has an empty conn_type before '://'")
        with_protocol = count == 2
        rest = uri[len(scheme) + 3 :]
        if with_protocol:
            head = rest.split("://", 1)[0]
            if "@" in head or ":" in head:
                raise bad("the host's protocol is not followed by a host")
        else:
            rest = "//" + rest
        try:
            parts = urlsplit(rest)
            port = parts.port
        except ValueError as exc:
            raise bad(f"it cannot be parsed ({exc})") from None
        protocol = parts.scheme if with_protocol else None
        host = unquote(parts.hostname or "") or None
        if host and "/" in host:  # an encoded path in the host (a socket path): Airflow keeps the netloc
            host = unquote(parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0])
        if protocol:
            host = f"{protocol}://{host or ''}"
        schema = unquote(parts.path[1:]) if parts.path[1:] else None
        extra = None
        if parts.query:
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            extra = query[EXTRA_KEY] if EXTRA_KEY in query else json.dumps(query)
        conn_type = CONN_TYPE_ALIASES.get(scheme, scheme).replace("-", "_")
        return cls(
            conn_id=conn_id,
            conn_type=conn_type,
            host=host,
            schema=schema,
            login=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            port=port,
            extra=extra,
        )

    def get_uri(self) -> str:
        """The Airflow URI of this connection (``from_uri(get_uri())`` gives it back)."""
        uri = f"{(self.conn_type or '').lower().replace('_', '-')}://"
        host = self.host
        if host and "://" in host:
            protocol, host = host.split("://", 1)
            uri += f"{protocol}://"
        authority = ""
        if self.login is not None:
            authority += quote(self.login, safe="")
        if self.password is not None:
            authority += ":" + quote(self.password, safe="")
        if authority:
            uri += authority + "@"
        block = quote(host, safe="") if host else ""
        if self.port:
            block += f"@:{self.port}" if not block and not authority else f":{self.port}"
        if self.schema:
            block += f"/{quote(self.schema, safe='')}"
        uri += block
        if self.extra:
            extra = self.extra_dejson
            query = None
            if all(isinstance(v, str) for v in extra.values()):
                query = urlencode(extra)
            prefix = "?" if self.schema else "/?"
            if query is not None and dict(parse_qsl(query, keep_blank_values=True)) == extra:
                uri += prefix + query
            else:
                uri += prefix + urlencode({EXTRA_KEY: self.extra})
        return uri

    # -- JSON -----------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, conn_id: str, text: str | Mapping[str, Any]) -> Connection:
        """Airflow's JSON form: ``{"conn_type": ..., "host": ..., "login": ..., "extra": {...}}``."""
        try:
            data = json.loads(text) if isinstance(text, str) else dict(text)
        except ValueError as exc:
            raise InvalidConnectionError(f"connection {conn_id!r}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InvalidConnectionError(f"connection {conn_id!r}: the JSON form must be an object")
        known = {"conn_type", "host", "schema", "login", "password", "port", "extra", "description", "conn_id"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidConnectionError(
                f"connection {conn_id!r}: unknown field(s) {', '.join(unknown)}; "
                f"the fields are {', '.join(sorted(known))}"
            )
        extra = data.get("extra")
        if isinstance(extra, dict):
            extra = json.dumps(extra)
        port = data.get("port")
        if port is not None:
            try:
                port = int(port)
            except (TypeError, ValueError):
                raise InvalidConnectionError(f"connection {conn_id!r}: port {port!r} is not a number") from None
        return cls(
            conn_id=conn_id,
            conn_type=data.get("conn_type"),
            host=data.get("host"),
            schema=data.get("schema"),
            login=data.get("login"),
            password=data.get("password"),
            port=port,
            extra=extra,
            description=data.get("description"),
        )

    @classmethod
    def parse(cls, conn_id: str, text: str) -> Connection:
        """A URI or the JSON form, whichever ``text`` is."""
        return cls.from_json(conn_id, text) if text.lstrip().startswith("{") else cls.from_uri(conn_id, text)

    def secrets(self) -> list[str]:
        """Every secret the connection holds: its password and extra fields with sensitive names."""
        found = [self.password] if self.password else []
        try:
            extra = self.extra_dejson
        except InvalidConnectionError:
            return found
        return found + [str(v) for v in _sensitive_values(extra)]

    def shown(self) -> dict[str, Any]:
        """What a person may see: the password as ``***``, and sensitive extra fields as ``***``."""
        extra = self.extra
        if extra:
            try:
                extra = json.dumps(_redacted(self.extra_dejson))
            except InvalidConnectionError:
                extra = "***"
        return {
            "conn_id": self.conn_id,
            "conn_type": self.conn_type,
            "description": self.description,
            "host": self.host,
            "schema": self.schema,
            "login": self.login,
            "password": "***" if self.password else None,
            "port": self.port,
            "extra": extra,
        }

    def with_id(self, conn_id: str) -> Connection:
        return replace(self, conn_id=conn_id)


def _redacted(value: Any, sensitive: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _redacted(v, sensitive or is_sensitive_name(str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, sensitive) for v in value]
    return "***" if sensitive and value not in (None, "") else value


def _sensitive_values(value: Any, sensitive: bool = False) -> list[Any]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _sensitive_values(v, sensitive or is_sensitive_name(str(k)))]
    if isinstance(value, list):
        return [x for v in value for x in _sensitive_values(v, sensitive)]
    return [value] if sensitive and value not in (None, "") else []


def parse_bool(name: str, value: Any, default: bool) -> bool:
    """Airflow's truthy strings; anything else is an error naming the setting."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_STRINGS:
        return True
    if text in FALSE_STRINGS:
        return False
    raise InvalidConnectionError(f"{name}={value!r} is not a boolean; use true or false")


def from_environment(conn_id: str, environ: Mapping[str, str]) -> Connection | None:
    """``DOCKYARD_CONN_<ID>`` or ``AIRFLOW_CONN_<ID>`` (upper-case id), if set."""
    for prefix in ("DOCKYARD_CONN_", "AIRFLOW_CONN_"):
        value = environ.get(prefix + conn_id.upper())
        if value:
            return Connection.parse(conn_id, value)
    return None


# -- encryption at rest ------------------------------------------------------------------------
FERNET_FILE = "fernet.key"


def load_fernet(home: Path, configured: str | None) -> MultiFernet:
    """The Fernet keys, comma-separated and newest first: ``DOCKYARD_FERNET_KEY`` or the file
    ``DOCKYARD_FERNET_KEY_FILE`` names (``configured``: a mounted secret, kept apart from the database and its
    backups), else a key created once in ``$DOCKYARD_HOME/fernet.key`` with mode 0600."""
    text = configured
    source = "DOCKYARD_FERNET_KEY (or the file DOCKYARD_FERNET_KEY_FILE names)"
    if not text:
        path = home / FERNET_FILE
        source = str(path)
        if not path.exists():
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
        text = path.read_text().strip()
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            keys.append(Fernet(part.encode()))
        except (ValueError, TypeError):
            raise ConfigError(
                f"{source} holds a value that is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    if not keys:
        raise ConfigError(f"{source} is empty; give one key, or new,old keys while rotating")
    return MultiFernet(keys)


def encrypt(fernet: MultiFernet, value: str | None) -> str | None:
    return None if value is None else fernet.encrypt(value.encode()).decode()


def decrypt(fernet: MultiFernet, value: str | None, *, conn_id: str, what: str) -> str | None:
    if value is None:
        return None
    try:
        return fernet.decrypt(value.encode()).decode()
    except InvalidToken:
        raise InvalidConnectionError(
            f"cannot decrypt the {what} of connection {conn_id!r}: it was encrypted with another Fernet key. "
            "Set DOCKYARD_FERNET_KEY to the key it was stored with (or new,old while rotating)"
        ) from None


def not_found(conn_id: str) -> NotFoundError:
    return NotFoundError(
        f"connection {conn_id!r} is not defined: add it with `dockyard connections add {conn_id} --conn-uri ...` "
        f"or set DOCKYARD_CONN_{conn_id.upper()}"
    )


class Connections:
    """Finds connections (environment variables first, then the store) and stores them encrypted."""

    def __init__(self, settings: Settings, store: Store | None) -> None:
        self.settings = settings
        self.store = store
        self._fernet: MultiFernet | None = None

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            self._fernet = load_fernet(self.settings.home, self.settings.fernet_key)
        return self._fernet

    def find(self, conn_id: str) -> Connection | None:
        found = from_environment(conn_id, self.settings.engine_env)
        if found is not None or self.store is None:
            return found
        row = self.store.get_connection(conn_id)
        return None if row is None else self._decrypted(row)

    def get(self, conn_id: str) -> Connection:
        found = self.find(conn_id)
        if found is None:
            raise not_found(conn_id)
        return found

    def _decrypted(self, row: ConnectionModel) -> Connection:
        return Connection(
            conn_id=row.conn_id,
            conn_type=row.conn_type,
            host=row.host,
            schema=row.schema,
            login=row.login,
            password=decrypt(self.fernet, row.password, conn_id=row.conn_id, what="password"),
            port=row.port,
            extra=decrypt(self.fernet, row.extra, conn_id=row.conn_id, what="extra"),
            description=row.description,
        )

    def _store(self) -> Store:
        if self.store is None:
            raise ConfigError("connections can only be stored with a database")
        return self.store

    def add(self, conn: Connection, *, replace: bool = False) -> None:
        conn.extra_dejson  # noqa: B018 - refuse an extra that is not a JSON object before storing it
        self._store().put_connection(
            ConnectionModel(
                conn_id=conn.conn_id,
                conn_type=conn.conn_type,
                description=conn.description,
                host=conn.host,
                schema=conn.schema,
                login=conn.login,
                password=encrypt(self.fernet, conn.password),
                port=conn.port,
                extra=encrypt(self.fernet, conn.extra),
            ),
            replace=replace,
        )

    def list(self) -> list[Connection]:
        return [self._decrypted(row) for row in self._store().list_connections()]

    def delete(self, conn_id: str) -> None:
        if not self._store().delete_connection(conn_id):
            raise not_found(conn_id)

    def rotate(self) -> int:
        """Re-encrypt every stored secret with the first key of ``DOCKYARD_FERNET_KEY``; returns how many."""
        count = 0
        store = self._store()
        for row in store.list_connections():
            for attribute in ("password", "extra"):
                token = getattr(row, attribute)
                if token is None:
                    continue
                try:
                    setattr(row, attribute, self.fernet.rotate(token.encode()).decode())
                except InvalidToken:
                    raise InvalidConnectionError(
                        f"cannot decrypt the {attribute} of connection {row.conn_id!r} with any key of "
                        "DOCKYARD_FERNET_KEY; give new,old keys"
                    ) from None
                count += 1
            store.put_connection(row, replace=True)
        return count


class ConnectionAccessor:
    """``{{ conn.my_conn.host }}`` in templates; each password read this way is masked in the try's log."""

    def __init__(self, lookup: Connections, on_secret: Any) -> None:
        self._lookup = lookup
        self._on_secret = on_secret

    def get(self, conn_id: str) -> Connection:
        conn = self._lookup.get(conn_id)
        for secret in conn.secrets():
            self._on_secret(secret)
        return conn

    def __getattr__(self, name: str) -> Connection:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)

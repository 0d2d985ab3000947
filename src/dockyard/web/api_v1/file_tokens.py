"""The ``file_token`` of a DAG file: its path, signed with the web server's secret key.

``GET /dagSources/{file_token}`` and ``PUT /parseDagFile/{file_token}`` name a file by the token that
``GET /dags`` gives each DAG. Airflow signs the path with its ``[webserver] secret_key`` (itsdangerous'
``URLSafeSerializer``), so a client cannot make a token for a path of its own choosing; a plain encoding of the
path would let anyone ask for any file. dockyard does the same with the key that signs its sessions
(``DOCKYARD_SECRET_KEY`` or ``$DOCKYARD_HOME/webserver_secret_key``): the token is the path in URL-safe base64, a
dot, and an HMAC-SHA256 of the path. A token whose signature does not match is refused as Airflow refuses it, with
404 Not Found, before any file is looked at; a well-signed token still names only a file that defines a stored DAG.

Example::

    token = sign_file("/dags/etl.py", secret)      # "L2RhZ3MvZXRsLnB5.Xk3..."
    read_file_token(token, secret)                 # "/dags/etl.py"
    read_file_token("L2V0Yy9wYXNzd2Q", secret)     # NotFoundError: no signature
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from dockyard.errors import NotFoundError

_PURPOSE = b"dockyard file_token v1"
"""Mixed into the key, so a file_token's signature is never valid as any other signature made with the key."""

_SHOWN = 60
"""How much of a refused token an error repeats."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(fileloc: bytes, secret: str) -> bytes:
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, fileloc, hashlib.sha256).digest()


def sign_file(fileloc: str, secret: str) -> str:
    """The opaque token of the DAG file ``fileloc`` that the API's file routes take."""
    path = fileloc.encode()
    return f"{_b64(path)}.{_b64(_signature(path, secret))}"


def read_file_token(token: str, secret: str) -> str:
    """The path a token this server made names; NotFoundError for any other token (tampered, made up, or
    made with another key), as Airflow answers a bad signature."""
    shown = token[:_SHOWN] + ("..." if len(token) > _SHOWN else "")
    refused = NotFoundError(
        f"file_token {shown!r} is not one this server gave (it is not signed with its secret key); "
        "GET /dags gives each DAG's file_token"
    )
    encoded, dot, signature = token.rpartition(".")
    if not dot:
        raise refused
    try:
        path, sent = _unb64(encoded), _unb64(signature)
    except (binascii.Error, ValueError):  # not base64
        raise refused from None
    if not hmac.compare_digest(sent, _signature(path, secret)):
        raise refused
    try:
        return path.decode()
    except UnicodeDecodeError:  # signed by this key, so never; checked all the same
        raise refused from None

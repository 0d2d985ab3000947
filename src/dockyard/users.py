"""Users of the web app and API: argon2 password hashes and a role (``admin`` or ``viewer``)."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dockyard.errors import ConfigError
from dockyard.store import Store, utcnow
from dockyard.store.models import ApiTokenModel, UserModel

ROLES = ("admin", "viewer")
"""admin: everything; viewer: read DAGs, runs, logs and variables, but not connections, and change nothing."""

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,250}$")


def create_user(
    store: Store,
    username: str,
    password: str,
    role: str,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    replace: bool = False,
) -> UserModel:
    if not _USERNAME.match(username):
        raise ConfigError(f"username {username!r} may use letters, digits and _ . @ - (1 to 250 characters)")
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ConfigError("the password must have at least 8 characters")
    row = UserModel(
        username=username,
        password_hash=_hasher.hash(password),
        role=role,
        email=email,
        first_name=first_name,
        last_name=last_name,
        created_at=utcnow(),
    )
    store.put_user(row, replace=replace)
    return row


def authenticate(store: Store, username: str, password: str) -> UserModel | None:
    """The user if the password is right, else None (the same time either way, as far as argon2 goes)."""
    row = store.get_user(username)
    if row is None:
        _hasher.hash(password)  # spend the same effort, so a missing user is not faster to find
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return row


def create_token(store: Store, username: str, description: str | None = None) -> str:
    """A new bearer token for ``username`` (returned once; only its digest is stored)."""
    if store.get_user(username) is None:
        raise ConfigError(f"no user {username!r}; create it first with `dockyard users create`")
    token = "dky_" + secrets.token_urlsafe(32)
    store.add_token(
        ApiTokenModel(digest=token_digest(token), username=username, description=description, created_at=utcnow())
    )
    return token


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def random_password() -> str:
    return secrets.token_urlsafe(18)

"""Users of the web app and API: argon2 password hashes, one of Airflow's five roles, API tokens.

Every user has a random ``uid`` that is never reused; tokens and web sessions name it, so deleting a user
and creating another of the same name hands the new one nothing of the old one's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dockyard import defaults
from dockyard.errors import ConfigError, NotFoundError
from dockyard.roles import Role
from dockyard.store import Store, utcnow
from dockyard.store.models import ApiTokenModel, UserModel

ROLES = tuple(role.value for role in Role)
"""Airflow's five roles as the store keeps them: admin, op, user, viewer, public (:mod:`dockyard.roles`)."""

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
        uid=uuid.uuid4().hex,
    )
    store.put_user(row, replace=replace)
    return row


class PasswordChecker:
    """Checks passwords with at most ``concurrency`` argon2 verifications at once.

    Each verification takes argon2's 64 MiB for a moment: twenty unauthenticated requests at once would
    take over a gigabyte. The rest wait their turn. A name that is no user is verified against a fixed
    dummy hash under the same limit, so it costs the same and is not faster to find.
    """

    def __init__(self, concurrency: int = defaults.DEFAULT_PASSWORD_HASH_CONCURRENCY) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()
        self._busy = 0
        self.peak = 0
        """The most verifications that ever ran at once (the limit holds if this never passes it)."""

    def _dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = _hasher.hash(secrets.token_urlsafe(16))
            return self._dummy

    def authenticate(self, store: Store, username: str, password: str) -> UserModel | None:
        """The user if the password is right, else None."""
        row = store.get_user(username) if _USERNAME.match(username) else None
        stored = row.password_hash if row is not None else self._dummy_hash()
        with self._slots:
            with self._dummy_lock:
                self._busy += 1
                self.peak = max(self.peak, self._busy)
            try:
                _hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return None
            finally:
                with self._dummy_lock:
                    self._busy -= 1
        return row


_default_checker = PasswordChecker()


def authenticate(store: Store, username: str, password: str) -> UserModel | None:
    """The user if the password is right, else None (checked under the default concurrency limit)."""
    return _default_checker.authenticate(store, username, password)


def parse_lifetime(text: str) -> dt.timedelta | None:
    """``90d``, ``12h``, ``30m`` or ``never`` (None) - the ``--expires`` of ``dockyard users token``."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([dhm])\s*", text.lower())
    if text.strip().lower() == "never":
        return None
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"--expires {text!r} is not a lifetime; write it like 90d, 12h, 30m or never")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return dt.timedelta(**{unit: int(match.group(1))})


def create_token(
    store: Store,
    username: str,
    description: str | None = None,
    *,
    lifetime: dt.timedelta | None = dt.timedelta(days=defaults.DEFAULT_API_TOKEN_EXPIRE_DAYS),
) -> str:
    """A new bearer token for ``username`` (returned once; only its digest is stored), valid for ``lifetime``
    (None: until revoked). Its id, the first 12 characters of :func:`token_digest`, names it for revoking."""
    user = store.get_user(username)
    if user is None or user.uid is None:
        raise ConfigError(f"no user {username!r}; create it first with `dockyard users create`")
    token = "dky_" + secrets.token_urlsafe(32)
    now = utcnow()
    store.add_token(
        ApiTokenModel(
            digest=token_digest(token),
            username=username,
            description=description,
            created_at=now,
            user_uid=user.uid,
            expires_at=None if lifetime is None else now + lifetime,
        )
    )
    return token


TOKEN_ID_LENGTH = 12
"""How many leading characters of a token's digest name it in ``users token --list`` and ``--revoke``."""


def token_id(digest: str) -> str:
    return digest[:TOKEN_ID_LENGTH]


def revoke_token(store: Store, token_or_id: str) -> int:
    """Revoke a token given as itself (``dky_...``) or as its id; NotFoundError when none matches."""
    text = token_or_id.strip()
    prefix = token_digest(text) if text.startswith("dky_") else text.lower()
    if not re.fullmatch(rf"[0-9a-f]{{{TOKEN_ID_LENGTH},64}}", prefix):
        raise ConfigError(
            f"{token_or_id!r} is neither a token (dky_...) nor a token id ({TOKEN_ID_LENGTH} or more hex characters "
            "as `dockyard users token --list` shows)"
        )
    count = store.revoke_tokens(prefix)
    if count == 0:
        raise NotFoundError(f"no token {token_or_id!r}; `dockyard users token --list` shows the tokens")
    return count


def token_user(store: Store, token: str) -> UserModel | None:
    """The user a bearer token stands for, if it is live (not revoked, not expired, its user not replaced)."""
    return store.token_owner(token_digest(token), utcnow())


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def random_password() -> str:
    return secrets.token_urlsafe(18)

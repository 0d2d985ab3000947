"""Who is asking: a session cookie (signed, HttpOnly, SameSite=Lax, Secure behind https) that names a
session row in the database, or HTTP Basic / Bearer auth on the same users; failed logins throttled per
account and per address; CSRF tokens on every state-changing form; security headers on every response.

The session cookie alone proves nothing: it carries a random session id whose digest must still be a
row of ``web_session``. Logging out deletes the row, so a copied cookie stops working at once.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from dockyard import defaults, roles
from dockyard.errors import TooManyAttemptsError
from dockyard.settings import Settings
from dockyard.store import Store, utcnow
from dockyard.store.models import UserModel
from dockyard.users import PasswordChecker, token_user

SECRET_FILE = "webserver_secret_key"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
SESSION_KEY = "sid"


def secret_key(home: Path, configured: str | None) -> str:
    """``DOCKYARD_SECRET_KEY`` or a key created once in ``$DOCKYARD_HOME`` (mode 0600) that signs sessions."""
    if configured:
        return configured
    path = home / SECRET_FILE
    if not path.exists():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


@dataclass
class LoginThrottle:
    """Counts failed logins per account and per client address over a sliding window.

    An account or address with too many failures in the window is refused (429) until the oldest of
    them leaves the window, before any password is hashed, so guessing costs the server nothing.
    """

    per_account: int = defaults.DEFAULT_LOGIN_MAX_FAILURES
    per_address: int = defaults.DEFAULT_LOGIN_MAX_FAILURES_PER_ADDRESS
    window: float = defaults.DEFAULT_LOGIN_LOCKOUT_SECONDS
    _failures: dict[str, collections.deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    MAX_KEYS = 100_000
    """Past this many tracked accounts and addresses, the stale ones are dropped (memory stays bounded)."""

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        times = self._failures.get(key)
        if times is None:
            return collections.deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, username: str, address: str) -> None:
        """Raise :class:`TooManyAttemptsError` if the account or the address is locked out now."""
        now = time.monotonic()
        with self._lock:
            for key, limit, what in (
                (f"user:{username[:256]}", self.per_account, f"user {username[:100]!r}"),
                (f"addr:{address}", self.per_address, f"address {address}"),
            ):
                times = self._recent(key, now)
                if limit and len(times) >= limit:
                    wait = max(1, int(times[0] + self.window - now + 1))
                    raise TooManyAttemptsError(
                        f"too many failed logins for {what}; try again in {wait} seconds", retry_after=wait
                    )

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > self.MAX_KEYS:
                for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window]:
                    del self._failures[key]
            for key in (f"user:{username[:256]}", f"addr:{address}"):
                self._failures.setdefault(key, collections.deque(maxlen=1000)).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username[:256]}", None)


class Guard:
    """The web app's authentication state: the password checker (bounded concurrency) and the throttle."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.checker = PasswordChecker(settings.password_hash_concurrency)
        self.throttle = LoginThrottle(
            per_account=settings.login_max_failures,
            per_address=settings.login_max_failures_per_address,
            window=settings.login_lockout_seconds,
        )

    def login(self, store: Store, username: str, password: str, address: str) -> UserModel | None:
        """The user if the password is right; None if wrong; :class:`TooManyAttemptsError` when throttled."""
        self.throttle.check(username, address)
        user = self.checker.authenticate(store, username, password)
        if user is None:
            self.throttle.failed(username, address)
        else:
            self.throttle.succeeded(username)
        return user


def guard(request: Request) -> Guard:
    return request.app.state.guard  # type: ignore[no-any-return]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def basic_user(store: Store, request: Request) -> UserModel | None:
    """The user of an ``Authorization: Basic`` or ``Authorization: Bearer <token>`` header."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return token_user(store, header[7:].strip())
    if not header.lower().startswith("basic "):
        return None
    try:
        username, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return guard(request).login(store, username, password, client_address(request))


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(store: Store, request: Request, user: UserModel) -> None:
    """Log ``user`` in: a new session row, and its id in a fresh cookie (no state of the old one survives)."""
    request.session.clear()
    session_id = secrets.token_urlsafe(32)
    hours = defaults.DEFAULT_WEB_SESSION_HOURS
    store.open_web_session(_digest(session_id), str(user.uid), utcnow() + dt.timedelta(hours=hours))
    request.session[SESSION_KEY] = session_id


def end_session(store: Store, request: Request) -> None:
    session_id = request.session.get(SESSION_KEY)
    if isinstance(session_id, str):
        store.close_web_session(_digest(session_id))
    request.session.clear()


def session_user(store: Store, request: Request) -> UserModel | None:
    session_id = request.session.get(SESSION_KEY)
    if not isinstance(session_id, str) or not session_id:
        return None
    return store.web_session_user(_digest(session_id), utcnow())


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def check_csrf(request: Request, supplied: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not supplied or not hmac.compare_digest(str(expected), supplied):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page and try again")


def require_admin(user: UserModel) -> None:
    require(user, roles.EDIT, roles.USERS)


def require(user: UserModel, action: str, resource: str) -> None:
    """403 unless the user's role grants ``action`` on ``resource`` (Airflow's names, :mod:`dockyard.roles`)."""
    if roles.allows(user.role, action, resource):
        return
    least = roles.least_role_for(action, resource)
    held = roles.Role(user.role).airflow_name if user.role in {r.value for r in roles.Role} else user.role
    needed = f"the role {least.airflow_name} or one with more rights" if least else "a right no role has"
    raise HTTPException(
        status_code=403,
        detail=f"user {user.username!r} has the role {held}; {action} on {resource} needs {needed}",
    )


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


ERROR_DOCS = "https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html#section/Errors/"
ERROR_TYPES = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    500: "Unknown",
}
"""Airflow's ``type`` of each error status: a link to the section of its REST API reference that explains it."""


def problem(status: int, detail: Any, title: str | None = None) -> dict[str, Any]:
    """Airflow's error body (RFC 7807 problem details)."""
    kind = ERROR_DOCS + ERROR_TYPES[status] if status in ERROR_TYPES else "about:blank"
    return {"detail": detail, "status": status, "title": title or TITLES.get(status, "Error"), "type": kind}

"""Who is asking: a session cookie (signed, HttpOnly, SameSite=Lax) or HTTP Basic auth on the same users;
CSRF tokens on every state-changing form; security headers on every response."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from dockyard.store import Store
from dockyard.store.models import UserModel
from dockyard.users import authenticate, token_digest

SECRET_FILE = "webserver_secret_key"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def secret_key(home: Path, configured: str | None) -> str:
    """``DOCKYARD_SECRET_KEY`` or a key created once in ``$DOCKYARD_HOME`` (mode 0600) that signs sessions."""
    if configured:
        return configured
    path = home / SECRET_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
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


def basic_user(store: Store, request: Request) -> UserModel | None:
    """The user of an ``Authorization: Basic`` or ``Authorization: Bearer <token>`` header."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return store.user_of_token(token_digest(header[7:].strip()))
    if not header.lower().startswith("basic "):
        return None
    try:
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return authenticate(store, username, password)


def session_user(store: Store, request: Request) -> UserModel | None:
    username = request.session.get("user")
    return store.get_user(username) if username else None


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
    if user.role != "admin":
        raise HTTPException(status_code=403, detail=f"user {user.username!r} is a viewer; this needs an admin")


def problem(status: int, detail: Any, title: str | None = None) -> dict[str, Any]:
    """Airflow's error body (RFC 7807 problem details)."""
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
    return {"detail": detail, "status": status, "title": title or titles.get(status, "Error"), "type": "about:blank"}

"""Limits applied to every request before authentication, routing or storage see it.

- A body larger than ``DOCKYARD_MAX_REQUEST_BYTES`` answers 413, whether it announces its length or
  streams in chunks (reading stops at the limit).
- A JSON body nested deeper than ``DOCKYARD_MAX_JSON_DEPTH`` answers 400: the nesting is counted on the
  raw bytes, before any parser recurses into it, so a ``conf`` 900 levels deep never reaches the store.
- A JSON body whose strings hold NUL characters or lone surrogates, or a path or query with NUL or
  other control characters, answers 400: no database stores them (PostgreSQL refuses NUL, UTF-8 has no
  surrogates), and no page should show them.

Each refusal is Airflow's problem-details JSON naming the limit and the setting that changes it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.web.security import HEADERS, problem

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_CHARACTER = re.compile(r"[\x00\ud800-\udfff]")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text ``body`` nests objects/arrays deeper than ``limit`` (brackets in strings skipped)."""
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def bad_string(value: Any) -> str | None:
    """A description of the first string (key or value) in ``value`` with NUL or a lone surrogate, else None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = _BAD_CHARACTER.search(item)
            if found:
                kind = "a NUL character" if found.group() == "\x00" else "a lone surrogate (not valid Unicode)"
                return f"the string {item[:40]!r} holds {kind}"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class RequestLimits:
    """A pure ASGI middleware: reads the body once (bounded), checks it, and hands it on unchanged."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        query = unquote(scope.get("query_string", b"").decode("latin-1"))
        if _CONTROL.search(path) or _CONTROL.search(query):
            await _refuse(send, 400, "the URL holds NUL or control characters; send printable text only")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        announced = headers.get("content-length", "")
        if announced.isdigit() and int(announced) > self.max_bytes:
            await _refuse(send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        kind = headers.get("content-type", "")
        if body and "x-www-form-urlencoded" in kind and b"%00" in body:
            await _refuse(send, 400, "a form field holds a NUL character (%00); send text without it")
            return
        if body and "json" in kind:
            reason = self._json_problem(body)
            if reason:
                await _refuse(send, 400, reason)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes (DOCKYARD_MAX_REQUEST_BYTES)"

    def _json_problem(self, body: bytes) -> str | None:
        if json_depth_exceeds(body, self.max_depth):
            return (
                f"the JSON body is nested deeper than {self.max_depth} levels (DOCKYARD_MAX_JSON_DEPTH); "
                "send a flatter document"
            )
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            return None  # the route answers malformed JSON itself, with the parser's message
        found = bad_string(value)
        return f"the JSON body is refused: {found}" if found else None


async def _refuse(send: Send, status: int, detail: str) -> None:
    payload = json.dumps(problem(status, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *((name.lower().encode(), value.encode()) for name, value in HEADERS.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

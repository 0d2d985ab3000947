"""What every page module shares: the templates, the signed-in user, rendering, flashes and redirects.

A page answers a full document to a browser and only the fragment that changed to an htmx request (the
``HX-Request`` header), so live regions refresh in place and nothing a person types or scrolls is reset.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import markdown_it
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from dockyard.roles import READ, WEBSITE, allows
from dockyard.states import STATE_COLOURS
from dockyard.store.models import UserModel
from dockyard.web.security import csrf_token, require, session_user
from dockyard.web.service import Service

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
COLOURS = STATE_COLOURS
LEGEND = ("queued", "scheduled", "running", "success", "failed", "up_for_retry", "upstream_failed", "skipped", None)
"""The states the legends show, in the order a run goes through them; None is "no status"."""

# Markdown without raw HTML (it is shown escaped) and with only safe link schemes: doc_md is the DAG
# author's text, shown to every user, so it must not be able to run a script in their session.
_MARKDOWN = markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str | None) -> Markup:
    return Markup(_MARKDOWN.render(text or ""))


def when(value: dt.datetime | None) -> Markup:
    """A time as ``<time>``: UTC in the page, shown in the reader's chosen time zone by app.js."""
    if value is None:
        return Markup("")
    utc = value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return Markup('<time datetime="{}">{}</time>').format(utc.isoformat(), utc.strftime("%Y-%m-%d %H:%M:%S UTC"))


def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return ""
    return seconds_text(((end or dt.datetime.now(dt.timezone.utc)) - start).total_seconds())


def seconds_text(seconds: float) -> str:
    """A duration as a person reads it: ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def memory_text(size: int | None) -> str:
    """Bytes as a person reads them, in decimal units as the page labels them: ``71.1 MB``, ``2.15 GB``."""
    if size is None:
        return ""
    if size >= 1_000_000_000:
        return f"{size / 1e9:.2f} GB"
    return f"{size / 1e6:.1f} MB"


templates.env.filters["markdown"] = markdown
templates.env.filters["memory_text"] = memory_text
templates.env.filters["seconds_text"] = seconds_text
templates.env.filters["when"] = when
templates.env.globals["duration"] = duration
templates.env.globals["legend"] = LEGEND


class LoginRequired(Exception):
    pass


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def user_of(request: Request) -> UserModel:
    user = session_user(service(request).store, request)
    if user is None:
        raise LoginRequired
    require(user, READ, WEBSITE)  # Airflow's Public role sees nothing
    return user


def is_fragment(request: Request) -> bool:
    """An htmx request that asks for one region of a page, not the whole document."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render(request: Request, name: str, user: UserModel | None, status: int = 200, **context: Any) -> HTMLResponse:
    messages = [] if is_fragment(request) else request.session.pop("flash", None) or []
    context.update(request=request, user=user, csrf=csrf_token(request), colours=COLOURS, flashes=messages)
    context.setdefault("status", status)
    # templates ask ``can("can_edit", "DAG Runs")`` to show what the user's role permits (dockyard.roles)
    context["can"] = lambda action, resource: user is not None and allows(user.role, action, resource)
    return templates.TemplateResponse(request, name, context, status_code=status)


def flash(request: Request, message: str) -> None:
    """A message for the next page this session renders, kept in the signed session (never in the URL, so
    nobody can make a page show their words by sending a link)."""
    messages = list(request.session.get("flash") or [])[-4:]
    request.session["flash"] = [*messages, message[:500]]


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def pages_of(total: int, offset: int, limit: int) -> dict[str, int]:
    """Where a paged list is: for the "newer"/"older" links and the "21-40 of 200" line."""
    return {
        "total": total,
        "first": offset + 1 if total else 0,
        "last": min(offset + limit, total),
        "prev": max(offset - limit, 0) if offset > 0 else -1,
        "next": offset + limit if offset + limit < total else -1,
    }


def local_url(target: str) -> str:
    """``target`` if it is a path on this site, else ``/``: a form's "go back to" never leaves the site."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"

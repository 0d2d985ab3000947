"""The connections pages: the list, a typed form per connection type to add one, the same form to edit one
(no secret is sent back to the browser), a Check button and a confirmed Delete. Admins only."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from dockyard import roles
from dockyard.connections import Connection
from dockyard.errors import DockyardError
from dockyard.store.models import UserModel
from dockyard.web.connection_forms import (
    CONN_TYPES,
    STANDARD_FIELDS,
    check_message,
    form_type,
    login_test,
    read_connection_form,
    shown_extras,
)
from dockyard.web.security import check_csrf, require
from dockyard.web.ui import back, flash, is_fragment, render, service, user_of

router = APIRouter()


def _allowed(request: Request, action: str) -> UserModel:
    """The signed-in user, if their role may do ``action`` on connections (Airflow's Op and Admin)."""
    user = user_of(request)
    require(user, action, roles.CONNECTIONS)
    return user


def _page(
    request: Request,
    user: UserModel,
    *,
    editing: Connection | None,
    sent: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The list with the form below it: empty to add, or filled from ``editing`` (or from what was ``sent``)."""
    values: dict[str, Any] = {"conn_type": "docker", "extra": "{}"}
    typed: dict[str, Any] = {}
    if editing is not None:
        shown = editing.shown()
        typed, values["extra"] = shown_extras(editing)
        values.update({k: shown[k] for k in ("conn_id", "conn_type", "host", "schema", "login", "port", "description")})
        values["has_password"] = editing.password is not None
    if sent is not None:  # after a problem: what the person typed, except the password
        values.update({k: v for k, v in sent.items() if k != "password"})
        typed = {k[2:]: v for k, v in sent.items() if k.startswith("x_")}
    conns = [c.shown() for c in service(request).connections.list()]
    return render(
        request,
        "connections.html",
        user,
        status=status,
        conns=conns,
        values=values,
        typed=typed,
        editing=editing is not None or (sent or {}).get("mode") == "edit",
        error=error,
        types=CONN_TYPES,
        types_labels={
            name: {k: t.fields[name] for k, t in CONN_TYPES.items() if name in t.fields} for name in STANDARD_FIELDS
        },
        form_type=form_type(values.get("conn_type")),
    )


@router.get("/connections", response_class=HTMLResponse)
def connections_page(request: Request) -> HTMLResponse:
    return _page(request, _allowed(request, roles.READ), editing=None)


@router.get("/connections/{conn_id}/edit", response_class=HTMLResponse)
def edit_connection(request: Request, conn_id: str) -> HTMLResponse:
    user = _allowed(request, roles.EDIT)
    return _page(request, user, editing=service(request).connections.get(conn_id))  # unknown: the 404 page


@router.post("/connections")
async def save_connection(request: Request) -> Response:
    """Add (``mode=add``: an existing id is refused) or change (``mode=edit``) a connection; on a problem the
    form comes back with it and with every value as typed."""
    user = user_of(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    sent = {k: str(v) for k, v in form.items() if k != "csrf"}
    editing = sent.get("mode") == "edit"
    require(user, roles.EDIT if editing else roles.CREATE, roles.CONNECTIONS)
    svc = service(request)
    try:
        stored = svc.connections.find(sent.get("conn_id", "").strip()) if editing else None
        conn = read_connection_form(sent, stored)
        svc.connections.add(conn, replace=editing)
    except DockyardError as exc:
        return _page(request, user, editing=None, sent=sent, error=str(exc)[:500], status=400)
    flash(request, f"Connection {conn.conn_id} was {'changed' if editing else 'added'}.")
    return back("/connections")


@router.post("/connections/check", response_class=HTMLResponse)
async def check_connection(request: Request) -> Response:
    """Whether the form describes a well-formed connection and, for a docker connection, whether the engine can
    log in to its registry with it (a scheduler logs in), without saving it (the form's Test button). The
    password may be the one typed into the form: it reaches the scheduler encrypted, as stored ones are."""
    user = user_of(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    require(user, roles.CREATE, roles.CONNECTIONS)  # Airflow's "test connection" takes can_create
    sent = {k: str(v) for k, v in form.items() if k != "csrf"}
    svc = service(request)
    login = None
    try:
        stored = svc.connections.find(sent.get("conn_id", "").strip())
        conn = read_connection_form(sent, stored)
        message, ok = check_message(conn), True
    except DockyardError as exc:
        message, ok = str(exc)[:500], False
    if ok:  # waits for a scheduler's answer in a worker thread, not in the event loop
        login = await run_in_threadpool(login_test, svc.settings, svc.store, conn)
    if is_fragment(request):
        return render(request, "connection_check.html", user, message=message, ok=ok, login=login)
    flash(request, message if login is None else f"{message} {login.sentence}")
    target = f"/connections/{quote(sent.get('conn_id', ''))}/edit" if sent.get("mode") == "edit" else "/connections"
    return back(target)


@router.post("/connections/{conn_id}/delete")
def delete_connection(request: Request, conn_id: str, csrf: str = Form("")) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.DELETE, roles.CONNECTIONS)
    service(request).connections.delete(conn_id)
    flash(request, f"Connection {conn_id} was deleted.")
    return back("/connections")

"""Administration pages: connections, variables, pools and users. Each destructive action is a form whose
button asks for confirmation first (a dialog in app.js), and no secret reaches the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from dockyard import roles
from dockyard.connections import Connection
from dockyard.errors import DockyardError, InvalidConnectionError
from dockyard.variables import Variables
from dockyard.web.inputs import check_connection_fields
from dockyard.web.security import check_csrf, require
from dockyard.web.ui import back, flash, render, service, user_of

router = APIRouter()


@router.get("/pools", response_class=HTMLResponse)
def pools_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    store = service(request).store
    _, used = store.running_counts()
    pools = [{"pool": p, "used": used.get(p.name, 0)} for p in store.list_pools()]
    return render(request, "pools.html", user, pools=pools)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    require(user, roles.READ, roles.USERS)
    return render(request, "users.html", user, users=service(request).store.list_users())


@router.get("/connections", response_class=HTMLResponse)
def connections_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    require(user, roles.READ, roles.CONNECTIONS)
    conns = [c.shown() for c in service(request).connections.list()]
    return render(request, "connections.html", user, conns=conns)


@router.post("/connections")
def save_connection(
    request: Request,
    csrf: str = Form(""),
    conn_id: str = Form(""),
    conn_type: str = Form("docker"),
    host: str = Form(""),
    port: str = Form(""),
    login: str = Form(""),
    password: str = Form(""),
    extra: str = Form(""),
    description: str = Form(""),
) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.CREATE, roles.CONNECTIONS)
    try:
        check_connection_fields(
            conn_id or "?", {"conn_type": conn_type, "host": host, "port": port, "description": description}
        )
        conn = Connection.from_json(
            conn_id or "?",
            {
                "conn_type": conn_type or None,
                "host": host or None,
                "port": port or None,
                "login": login or None,
                "password": password or None,
                "extra": extra or None,
                "description": description or None,
            },
        )
        if not conn_id:
            raise InvalidConnectionError("give the connection an id")
        service(request).save_connection(conn, replace=True)
    except DockyardError as exc:
        flash(request, str(exc))
    return back("/connections")


@router.post("/connections/{conn_id}/delete")
def delete_connection(request: Request, conn_id: str, csrf: str = Form("")) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.DELETE, roles.CONNECTIONS)
    service(request).connections.delete(conn_id)
    return back("/connections")


@router.get("/variables", response_class=HTMLResponse)
def variables_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    require(user, roles.READ, roles.VARIABLES)  # Airflow's Viewer and User read no variables
    return render(request, "variables.html", user, variables=variables_of(request).shown())


def variables_of(request: Request) -> Variables:
    return Variables(service(request).settings, service(request).store)


@router.post("/variables")
def save_variable(
    request: Request, csrf: str = Form(""), key: str = Form(""), value: str = Form(""), description: str = Form("")
) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.CREATE, roles.VARIABLES)
    try:
        variables_of(request).set(key, value, description or None)
    except DockyardError as exc:
        flash(request, str(exc))
    return back("/variables")


@router.post("/variables/{key}/delete")
def delete_variable(request: Request, key: str, csrf: str = Form("")) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.DELETE, roles.VARIABLES)
    variables_of(request).delete(key)
    return back("/variables")

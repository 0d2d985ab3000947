"""The UI: server-rendered pages (Jinja2) whose live regions refresh in place through htmx, with no build step.

This module holds sign-in and the DAG list and gathers the other page modules' routes into one router:
``dag_pages`` (a DAG's grid, graph and trigger form), ``run_pages`` (runs, task instances and their actions)
and ``admin_pages`` (connections, variables, pools, users).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from dockyard import roles
from dockyard.errors import TooManyAttemptsError
from dockyard.store.views import DAG_SORTS, DagFilter, all_tags, dag_page
from dockyard.web import (
    admin_pages,
    audit_pages,
    connection_pages,
    dag_pages,
    engine_pages,
    history_pages,
    run_pages,
    variable_pages,
)
from dockyard.web.security import (
    check_csrf,
    client_address,
    end_session,
    guard,
    require,
    start_session,
)
from dockyard.web.ui import (
    COLOURS,
    LoginRequired,
    back,
    flash,
    is_fragment,
    local_url,
    pages_of,
    render,
    service,
    user_of,
)

__all__ = ["COLOURS", "LoginRequired", "flash", "render", "router"]

router = APIRouter()
DAGS_PER_PAGE = 25
DAG_STATUSES = ("active", "paused", "running", "failed", "success", "queued")
"""The DAG list's status filter: on/off, or the state of the DAG's latest run."""


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=next, error=None)


@router.post("/login")
def login(
    request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""), next: str = Form("/")
) -> Response:
    check_csrf(request, csrf)
    store = service(request).store
    try:
        user = guard(request).login(store, username, password, client_address(request))
    except TooManyAttemptsError as exc:
        response = render(request, "login.html", None, status=429, next=next, error=str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        return render(request, "login.html", None, status=401, next=next, error="Wrong username or password.")
    start_session(store, request, user)
    return back(local_url(next))


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    check_csrf(request, csrf)
    end_session(service(request).store, request)
    return back("/login")


@router.get("/", response_class=HTMLResponse)
def dags_page(request: Request, q: str = "", status: str = "", sort: str = "dag_id", offset: int = 0) -> HTMLResponse:
    """The DAG list: search, tag and status filters, sorting and pages, all in the URL so a view can be shared."""
    user = user_of(request)
    svc = service(request)
    tags = [t for t in request.query_params.getlist("tag") if t]
    wanted = DagFilter(
        search=q.strip()[:250],
        tags=tags,
        paused={"active": False, "paused": True}.get(status),
        last_state=status if status in DAG_STATUSES[2:] else None,
        sort=sort if sort in DAG_SORTS else "dag_id",
    )
    found = dag_page(svc.store, wanted, offset=max(offset, 0), limit=DAGS_PER_PAGE)
    context: dict[str, Any] = {
        "rows": found.rows,
        "paging": pages_of(found.total, found.offset, found.limit),
        "q": wanted.search,
        "tags": tags,
        "dag_status": status,
        "sort": wanted.sort,
        "statuses": DAG_STATUSES,
        "sorts": {
            "dag_id": "DAG id (A-Z)",
            "-dag_id": "DAG id (Z-A)",
            "next_run": "Next run",
            "-next_run": "Latest next run",
        },
    }
    if is_fragment(request):
        return render(request, "dags_rows.html", user, **context)
    return render(
        request, "dags.html", user, errors=svc.store.list_import_errors(), all_tags=all_tags(svc.store), **context
    )


@router.post("/dags/{dag_id}/pause")
def toggle_pause(
    request: Request,
    dag_id: str,
    csrf: str = Form(""),
    active: str = Form(""),
    paused: str = Form(""),
    next: str = Form("/"),
) -> Response:
    """The on/off switch: a checked switch sends ``active=on`` (``paused=true|false`` from a plain form too)."""
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.EDIT, roles.DAGS)
    is_paused = paused == "true" if paused else active != "on"
    service(request).store.set_paused(dag_id, is_paused)
    if is_fragment(request):
        return Response(status_code=204)
    flash(request, f"DAG {dag_id} is {'off (paused)' if is_paused else 'on'}.")
    return back(local_url(next))


router.include_router(dag_pages.router)
router.include_router(run_pages.router)
router.include_router(admin_pages.router)
router.include_router(audit_pages.router)
router.include_router(engine_pages.router)
router.include_router(history_pages.router)
router.include_router(connection_pages.router)
router.include_router(variable_pages.router)

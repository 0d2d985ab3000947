"""Administration pages: pools and users (connections and variables have modules of their own). Each
destructive action is a form whose button asks for confirmation first (a dialog in app.js), and no secret
reaches the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dockyard import roles
from dockyard.web.security import require
from dockyard.web.ui import render, service, user_of

router = APIRouter()


@router.get("/pools", response_class=HTMLResponse)
def pools_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    require(user, roles.READ, roles.POOLS)  # as GET /api/v1/pools: Op and Admin
    store = service(request).store
    _, used = store.running_counts()
    pools = [{"pool": p, "used": used.get(p.name, 0)} for p in store.list_pools()]
    return render(request, "pools.html", user, pools=pools)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    require(user, roles.READ, roles.USERS)
    return render(request, "users.html", user, users=service(request).store.list_users())

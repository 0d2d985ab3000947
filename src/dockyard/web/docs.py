"""The API's OpenAPI document and its interactive docs (Swagger UI), both behind the login.

Swagger UI's files come from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads the
OpenAPI 3.1 that FastAPI writes) and are served from ``/static/swagger-ui``, so the page works without
the internet and under the app's own Content-Security-Policy (no CDN, no inline script:
``/static/api-docs.js`` starts it). Requests it sends carry the session cookie and the CSRF token, so
"Try it out" acts as the logged-in user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from dockyard.store.models import UserModel
from dockyard.web.api import api_user, service
from dockyard.web.pages import LoginRequired, render
from dockyard.web.security import basic_user, session_user

router = APIRouter()


@router.get("/api/v1/openapi.json", include_in_schema=False)
def openapi_document(request: Request, user: UserModel = Depends(api_user)) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)


@router.get("/api/v1/ui", include_in_schema=False, response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    store = service(request).store
    user = session_user(store, request) or basic_user(store, request)
    if user is None:
        raise LoginRequired
    return render(request, "api_docs.html", user)

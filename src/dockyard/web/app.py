"""``create_app``: the FastAPI application (API, pages, static files, sessions, error handling)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from dockyard import __version__
from dockyard.errors import (
    ConfigError,
    ConflictError,
    DagDefinitionError,
    DockyardError,
    InvalidConnectionError,
    InvalidParamsError,
    NotFoundError,
)
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.web import api, pages
from dockyard.web.security import SecurityHeaders, problem, secret_key
from dockyard.web.service import Service


def _status(exc: DockyardError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, (InvalidConnectionError, DagDefinitionError, ConfigError, InvalidParamsError)):
        return 400
    return 500


def create_app(settings: Settings, store: Store) -> FastAPI:
    app = FastAPI(
        title="dockyard", version=__version__, docs_url="/api/v1/ui", redoc_url=None, openapi_url="/api/v1/openapi.json"
    )
    app.state.service = Service(settings, store)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(settings.home, settings.secret_key),
        session_cookie="dockyard_session",
        same_site="lax",
        https_only=False,
        max_age=12 * 3600,
    )
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(pages.LoginRequired)
    async def login_required(request: Request, exc: pages.LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(DockyardError)
    async def dockyard_error(request: Request, exc: DockyardError) -> Response:
        status = _status(exc)
        if wants_json(request):
            return JSONResponse(problem(status, str(exc)), status_code=status)
        return (
            pages.render(request, "error.html", None, status=status, message=str(exc))
            if status != 500
            else JSONResponse(problem(status, str(exc)), status_code=status)
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if wants_json(request) or exc.status_code == 401:
            return JSONResponse(
                problem(exc.status_code, exc.detail), status_code=exc.status_code, headers=getattr(exc, "headers", None)
            )
        response = pages.render(request, "error.html", None, status=exc.status_code, message=str(exc.detail))
        response.status_code = exc.status_code
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(problem(400, details), status_code=400)

    return app

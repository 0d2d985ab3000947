"""``create_app``: the FastAPI application (API, pages, API docs, static files, sessions, error handling).

Every error leaves as Airflow's problem-details body (``{title, status, detail, type}``) on ``/api/``, or
as the error page elsewhere; nothing answers with a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from dockyard import __version__, defaults
from dockyard.errors import (
    ConfigError,
    ConflictError,
    DagDefinitionError,
    DockyardError,
    InvalidConnectionError,
    InvalidInputError,
    InvalidParamsError,
    NotFoundError,
    TooManyAttemptsError,
)
from dockyard.filemodes import secure_home
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.web import api, datasets, docs, pages
from dockyard.web.api_v1.events import PageEventLog
from dockyard.web.limits import RequestLimits
from dockyard.web.security import Guard, SecurityHeaders, problem, secret_key
from dockyard.web.service import Service

log = logging.getLogger(__name__)


def _status(exc: DockyardError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, TooManyAttemptsError):
        return 429
    if isinstance(
        exc, (InvalidConnectionError, DagDefinitionError, ConfigError, InvalidParamsError, InvalidInputError)
    ):
        return 400
    return 500


def create_app(settings: Settings, store: Store) -> FastAPI:
    secure_home(settings)
    app = FastAPI(title="dockyard", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = Service(settings, store)
    app.state.guard = Guard(settings)
    # one key signs the sessions and the API's file_tokens (api_v1.file_tokens), as Airflow's secret_key does
    app.state.secret_key = secret_key(settings.home, settings.secret_key)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PageEventLog)  # inside the sessions: it reads the logged-in user
    app.add_middleware(
        SessionMiddleware,
        secret_key=app.state.secret_key,
        session_cookie="dockyard_session",
        same_site="lax",
        https_only=settings.secure_cookies,
        max_age=defaults.DEFAULT_WEB_SESSION_HOURS * 3600,
    )
    # Outermost: limits hold before sessions, authentication or any route reads the body.
    app.add_middleware(RequestLimits, max_bytes=settings.max_request_bytes, max_depth=settings.max_json_depth)
    app.include_router(datasets.router)  # before api's routes: /datasets/events is not a dataset's URI
    app.include_router(api.router)
    app.include_router(docs.router)
    app.include_router(pages.router)
    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def page_or_json(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
        if wants_json(request) or status in (401, 500):
            return JSONResponse(problem(status, detail), status_code=status, headers=headers)
        response = pages.render(request, "error.html", None, status=status, message=detail)
        response.status_code = status
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(pages.LoginRequired)
    async def login_required(request: Request, exc: pages.LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(DockyardError)
    async def dockyard_error(request: Request, exc: DockyardError) -> Response:
        status = _status(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttemptsError) else None
        if status == 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return page_or_json(request, status, str(exc), headers)

    # Starlette's own exception, not only FastAPI's subclass: an unknown path is a 404 page, not raw JSON.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return page_or_json(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(problem(400, details), status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            problem(500, "the server failed to answer this request; its log has the details"), status_code=500
        )

    return app

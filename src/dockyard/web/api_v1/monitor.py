"""Health, version, configuration, import errors, plugins and providers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from dockyard import __version__, defaults, roles
from dockyard.errors import NotFoundError, StoreError
from dockyard.masking import is_sensitive_name
from dockyard.settings import Settings
from dockyard.states import RunState
from dockyard.store.db import safe_url
from dockyard.store.models import UserModel
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import (
    MAX_OFFSET,
    Paging,
    Router,
    api_user,
    iso,
    needs,
    paging,
    queries,
    service,
    wants_text,
)

router = Router(tags=["Monitoring"])
root_router = Router(tags=["Monitoring"])
"""Routes outside ``/api/v1``: ``GET /health`` for compose health checks and load balancers."""


@router.get("/health", response_model=schemas.Health)
@root_router.get("/health", response_model=schemas.Health)
def health(request: Request) -> dict[str, Any]:
    """Airflow's health body. The database is healthy only if a write goes through (a read-only file or a
    full disk still answers reads); the scheduler only if its heartbeat is recent."""
    svc = service(request)
    try:
        svc.store.probe_write()
        database = "healthy"
    except StoreError:
        database = "unhealthy"
    try:
        beat = svc.store.get_meta("scheduler_heartbeat")
    except StoreError:
        beat = None
    return {
        "metadatabase": {"status": database},
        "scheduler": {
            "status": "healthy" if heartbeat_is_recent(beat) else "unhealthy",
            "latest_scheduler_heartbeat": beat,
        },
        "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
        "dag_processor": {"status": None, "latest_dag_processor_heartbeat": None},
    }


def heartbeat_is_recent(beat: str | None) -> bool:
    if beat is None:
        return False
    try:
        when = dt.datetime.fromisoformat(beat)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    age = (dt.datetime.now(dt.timezone.utc) - when).total_seconds()
    return 0 <= age < defaults.DEFAULT_SCHEDULER_HEALTH_SECONDS


@router.get("/version", response_model=schemas.Version)
def version(user: UserModel = Depends(api_user)) -> dict[str, Any]:
    return {"version": __version__, "git_version": None}


@router.get("/importErrors", response_model=schemas.ImportErrorCollection)
def list_import_errors(
    request: Request, page: Paging = Depends(paging), user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    """The DAG files that do not load, as the DAG processor last found them (Airflow's shape; every problem of
    a file is one line of ``stack_trace``). Ids follow the file names' order."""
    found = queries(request).import_errors(order_by=page.order_by, limit=page.limit, offset=page.offset)
    return {
        "import_errors": [
            {
                "import_error_id": e.import_error_id,
                "filename": e.filename,
                "stack_trace": e.message,
                "timestamp": iso(e.timestamp),
            }
            for e in found.items
        ],
        "total_entries": found.total,
    }


@router.get("/importErrors/{import_error_id}", response_model=schemas.ImportError)
def get_import_error(request: Request, import_error_id: int, user: UserModel = Depends(api_user)) -> Any:
    if 1 <= import_error_id <= MAX_OFFSET:
        found = queries(request).import_errors(limit=1, offset=import_error_id - 1).items
        if found:
            e = found[0]
            return {
                "import_error_id": e.import_error_id,
                "filename": e.filename,
                "stack_trace": e.message,
                "timestamp": iso(e.timestamp),
            }
    raise NotFoundError(f"no import error {import_error_id}; GET /importErrors lists them")


# -- configuration: Airflow's names where Airflow has the option, every other setting under [dockyard] ----
AIRFLOW_NAMES = {
    "dags_folder": ("core", "dags_folder"),
    "parallelism": ("core", "parallelism"),
    "dag_file_processor_timeout": ("core", "dagbag_import_timeout"),
    "database_url": ("database", "sql_alchemy_conn"),
    "web_host": ("webserver", "web_server_host"),
    "web_port": ("webserver", "web_server_port"),
    "base_url": ("webserver", "base_url"),
}
SECRET_SETTINGS = frozenset({"fernet_key", "secret_key", "admin_password", "engine_env"})


def config_sections(settings: Settings) -> dict[str, dict[str, str]]:
    """Every setting as text; secrets are ``< hidden >`` (Airflow's word) and the database URL has no password."""
    sections: dict[str, dict[str, str]] = {}
    for item in dataclasses.fields(settings):
        value: Any = getattr(settings, item.name)
        if item.name in SECRET_SETTINGS or is_sensitive_name(item.name):
            text = "< hidden >"
        elif item.name == "database_url":
            text = safe_url(str(value))
        else:
            text = "" if value is None else ",".join(value) if isinstance(value, tuple) else str(value)
        section, key = AIRFLOW_NAMES.get(item.name, ("dockyard", item.name))
        sections.setdefault(section, {})[key] = text
    return sections


CONFIG_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": schemas.Config, "content": {"text/plain": {}}}}


def config_body(request: Request, sections: dict[str, dict[str, str]]) -> Response | dict[str, Any]:
    if not wants_text(request):
        return {
            "sections": [
                {"name": name, "options": [{"key": k, "value": v} for k, v in options.items()]}
                for name, options in sections.items()
            ]
        }
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()) + "\n" for name, options in sections.items()
    )
    return PlainTextResponse(text)


@router.get("/config", response_model=None, responses=CONFIG_RESPONSES)
def get_config(
    request: Request, section: str | None = Query(None), user: UserModel = Depends(needs(roles.READ, roles.CONFIG))
) -> Response | dict[str, Any]:
    sections = config_sections(service(request).settings)
    if section is not None:
        if section not in sections:
            raise NotFoundError(f"no config section {section!r}; the sections are {', '.join(sections)}")
        sections = {section: sections[section]}
    return config_body(request, sections)


@router.get(
    "/config/section/{section}/option/{option}",
    response_model=None,
    responses={200: {"model": schemas.Config, "content": {"text/plain": {}}}},
)
def get_config_value(
    request: Request, section: str, option: str, user: UserModel = Depends(needs(roles.READ, roles.CONFIG))
) -> Response | dict[str, Any]:
    sections = config_sections(service(request).settings)
    if option not in sections.get(section, {}):
        raise NotFoundError(f"no config option [{section}] {option}; GET /config lists them")
    return config_body(request, {section: {option: sections[section][option]}})


@router.get("/plugins", response_model=schemas.PluginCollection)
def plugins(page: Paging = Depends(paging), user: UserModel = Depends(api_user)) -> dict[str, Any]:
    """dockyard loads no Airflow plugins: every task runs in its own container."""
    return {"plugins": [], "total_entries": 0}


@router.get("/providers", response_model=schemas.ProviderCollection)
def providers(user: UserModel = Depends(api_user)) -> dict[str, Any]:
    """No provider packages are installed in dockyard; operators of providers run inside task images."""
    return {"providers": [], "total_entries": 0}


@router.get("/dagWarnings", response_model=schemas.DagWarningCollection)
def dag_warnings(page: Paging = Depends(paging), user: UserModel = Depends(api_user)) -> dict[str, Any]:
    """dockyard reports every problem of a DAG file as an import error (GET /importErrors), none as a warning."""
    return {"dag_warnings": [], "total_entries": 0}


@router.get("/dagStats", response_model=schemas.DagStatsCollection)
def dag_stats(
    request: Request,
    dag_ids: str = Query(..., description="comma-separated dag_ids"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    """How many runs of each DAG are in each run state (every state listed, zeros included, as in Airflow)."""
    wanted = [d for d in dag_ids.split(",") if d]
    counts = queries(request).run_state_counts(wanted)
    dags = [
        {"dag_id": d, "stats": [{"state": s.value, "count": counts[d].get(s.value, 0)} for s in RunState]}
        for d in wanted
    ]
    return {"dags": dags, "total_entries": len(dags)}

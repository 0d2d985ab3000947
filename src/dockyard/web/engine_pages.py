"""The engines page and its JSON: each engine of the pool with its health, running tasks and free resources,
as the scheduler last wrote them to the store (the web server never asks an engine itself).

``GET /engines`` is the page; ``GET /engines.json`` the same records for scripts (named like the graph's
``/dags/{dag_id}/graph.json``: dockyard's own JSON beside its page, since Airflow's API has no engines). The JSON
takes HTTP Basic auth or a bearer token as the API does, or the UI's session.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from dockyard.store.engines import EngineRecord, list_statuses
from dockyard.web.api_v1.common import api_user
from dockyard.web.ui import render, service, user_of

router = APIRouter()

_GIB = 1024**3


def amount(value: float, unit: str = "") -> str:
    """``3``, ``1.5``, ``12.25 GB``: a resource amount as the page shows it."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def shown(record: EngineRecord) -> dict[str, Any]:
    """One row of the page: free of total for each resource, in words a person reads."""
    return {
        "record": record,
        "cpus": f"{amount(record.free_cpus)} of {amount(record.capacity_cpus)}",
        "memory": f"{amount(record.free_memory / _GIB, 'GB')} of {amount(record.capacity_memory / _GIB, 'GB')}",
        "gpus": f"{record.free_gpus} of {record.capacity_gpus}",
    }


@router.get("/engines", response_class=HTMLResponse)
def engines_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    engines = [shown(record) for record in list_statuses(service(request).store)]
    return render(request, "engines.html", user, engines=engines)


@router.get("/engines.json", dependencies=[Depends(api_user)])
def engines_json(request: Request) -> JSONResponse:
    """Every engine's last status (memory in bytes)."""
    records = list_statuses(service(request).store)
    return JSONResponse({"engines": [record.to_json() for record in records], "total_entries": len(records)})

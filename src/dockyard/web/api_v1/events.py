"""The event log: every change made through the API is recorded with who, when and what, and
``GET /eventLogs`` lists them with Airflow's filters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Depends, Query, Request

from dockyard.errors import NotFoundError
from dockyard.store.changes import Changes
from dockyard.store.models import UserModel
from dockyard.store.queries import EventFilter, EventRecord
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import MAX_OFFSET, Paging, Router, api_user, date_range, iso, paging, queries, service

router = Router(tags=["EventLog"])


def record_event(request: Request, event: str, **where: Any) -> None:
    """One line of the log for the user of this request (set by :func:`api_user`); ``where`` names the DAG,
    run, task or try and any ``extra`` (never a secret value)."""
    owner = getattr(request.state, "api_username", None)
    Changes(service(request).store).record_event(event, owner=owner, **where)


def event_json(row: EventRecord) -> dict[str, Any]:
    return {
        "event_log_id": row.id,
        "when": iso(row.dttm),
        "dag_id": row.dag_id,
        "task_id": row.task_id,
        "run_id": row.run_id,
        "map_index": None,
        "try_number": row.try_number,
        "event": row.event,
        "execution_date": None,
        "owner": row.owner,
        "extra": row.extra,
    }


def _names(values: str | None) -> list[str] | None:
    return None if values is None else [v.strip() for v in values.split(",") if v.strip()]


@router.get("/eventLogs", response_model=schemas.EventLogCollection)
def list_event_logs(
    request: Request,
    page: Paging = Depends(paging),
    dag_id: str | None = Query(None),
    task_id: str | None = Query(None),
    run_id: str | None = Query(None),
    map_index: int | None = Query(None),
    try_number: int | None = Query(None),
    event: str | None = Query(None),
    owner: str | None = Query(None),
    before: dt.datetime | None = Query(None),
    after: dt.datetime | None = Query(None),
    included_events: str | None = Query(None, description="comma-separated events to show"),
    excluded_events: str | None = Query(None, description="comma-separated events to leave out"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    low, high = date_range(after, before, "after/before: after")
    flt = EventFilter(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        try_number=try_number,
        event=event,
        owner=owner,
        after=low,
        before=high,
        included_events=_names(included_events),
        excluded_events=_names(excluded_events),
    )
    found = queries(request).events(flt, order_by=page.order_by, limit=page.limit, offset=page.offset)
    return {"event_logs": [event_json(e) for e in found.items], "total_entries": found.total}


@router.get("/eventLogs/{event_log_id}", response_model=schemas.EventLog)
def get_event_log(request: Request, event_log_id: int, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    row = queries(request).event(event_log_id) if 0 < event_log_id <= MAX_OFFSET else None
    if row is None:
        raise NotFoundError(f"no event log entry {event_log_id}; GET /eventLogs lists them")
    return event_json(row)

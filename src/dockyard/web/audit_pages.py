"""The audit log page: who changed what and when, through the API, the UI and the CLI (the store's event
log, newest first). Every signed-in user may read it, as Airflow's Viewer role reads its audit log; the log
holds names and masked arguments, never a secret.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dockyard import roles
from dockyard.store.queries import EventFilter, Queries
from dockyard.web.security import require
from dockyard.web.ui import pages_of, render, service, user_of

router = APIRouter()

EVENTS_PER_PAGE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, dag_id: str = "", event: str = "", offset: int = 0) -> HTMLResponse:
    """One page of the event log, filtered and paged in the database."""
    user = user_of(request)
    require(user, roles.READ, roles.AUDIT_LOGS)
    wanted = EventFilter(dag_id=dag_id.strip() or None, event=event.strip() or None)
    offset = max(offset, 0)
    found = Queries(service(request).store).events(
        wanted, order_by="-event_log_id", limit=EVENTS_PER_PAGE, offset=offset
    )
    return render(
        request,
        "audit.html",
        user,
        events=found.items,
        paging=pages_of(found.total, offset, EVENTS_PER_PAGE),
        filters={"dag_id": dag_id, "event": event},
    )

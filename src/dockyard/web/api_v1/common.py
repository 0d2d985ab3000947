"""What every ``/api/v1`` module shares: the service, the user of a request, paging, dates and JSON shapes.

A later ``/api/v2`` package imports these too; only the shapes of its answers differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dockyard import roles
from dockyard.errors import InvalidInputError
from dockyard.store.models import UserModel
from dockyard.store.queries import DagRecord, Queries, RunRecord, TaskInstanceRecord
from dockyard.web.api_v1.file_tokens import sign_file
from dockyard.web.security import basic_user, check_csrf, require, require_admin, session_user
from dockyard.web.service import Service

MAX_PAGE = 10_000
"""The largest ``limit`` a list takes (Airflow's ``maximum_page_limit`` default is 100; scripts ask for more)."""

MAX_OFFSET = 2**62
"""Larger offsets and ids are refused before they reach the database (SQLite's integers end at 2**63)."""

ANY = "~"
"""Airflow's wildcard for a path's dag_id or dag_run_id: every DAG, every run."""


class Router(APIRouter):
    """A router whose answers leave out what a route leaves out: Airflow's schema marks many fields not
    nullable, and its clients refuse a ``null`` there but accept an absent field."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().add_api_route(path, endpoint, **kwargs)


def present(**fields: Any) -> dict[str, Any]:
    """The fields whose value is not None (for fields Airflow's schema does not let be null)."""
    return {k: v for k, v in fields.items() if v is not None}


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def queries(request: Request) -> Queries:
    return Queries(service(request).store)


def api_user(request: Request) -> UserModel:
    """Basic auth or the UI's session; a cookie session must send X-CSRF-Token on changes."""
    svc = service(request)
    user = basic_user(svc.store, request)
    if user is None:
        user = session_user(svc.store, request)
        if user is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
            check_csrf(request, request.headers.get("x-csrf-token"))
    if user is None:
        raise HTTPException(
            status_code=401,
            detail="log in: HTTP Basic auth with a dockyard user",
            headers={"WWW-Authenticate": 'Basic realm="dockyard"'},
        )
    request.state.api_username = user.username
    require(user, roles.READ, roles.WEBSITE)  # Airflow's Public role may nothing
    return user


def admin_user(user: UserModel = Depends(api_user)) -> UserModel:
    require_admin(user)
    return user


def needs(action: str, resource: str) -> Callable[..., UserModel]:
    """A dependency: the request's user, if its role grants ``action`` on ``resource``; 403 otherwise.

    Example: ``user: UserModel = Depends(needs(roles.CREATE, roles.CONNECTIONS))``.
    """

    def permitted(user: UserModel = Depends(api_user)) -> UserModel:
        require(user, action, resource)
        return user

    return permitted


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int
    order_by: str | None


def paging(
    limit: int = Query(100, ge=1, le=MAX_PAGE, description="the number of items to return"),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="the number of items to skip before returning any"),
    order_by: str | None = Query(None, description="a field name, with a leading '-' for descending"),
) -> Paging:
    return Paging(limit, offset, order_by)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def date_range(low: dt.datetime | None, high: dt.datetime | None, name: str) -> tuple[Any, Any]:
    """``(gte, lte)`` with a timezone each (a naive date is UTC, as in Airflow); a reversed range is a 400."""
    low, high = (None if v is None else v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc) for v in (low, high))
    if low is not None and high is not None and low > high:
        raise InvalidInputError(f"{name}_gte ({low}) is after {name}_lte ({high}); swap them")
    return low, high


class DateRanges(TypedDict):
    """What a store filter of runs or task instances takes of :class:`DateBounds`."""

    logical_date: tuple[Any, Any]
    start_date: tuple[Any, Any]
    end_date: tuple[Any, Any]


class DateBounds(BaseModel):
    """The date bounds a list of runs or task instances takes (Airflow's ``execution_date_gte`` and its
    siblings), in a query or in the body of a ``.../list`` request."""

    execution_date_gte: dt.datetime | None = None
    execution_date_lte: dt.datetime | None = None
    start_date_gte: dt.datetime | None = None
    start_date_lte: dt.datetime | None = None
    end_date_gte: dt.datetime | None = None
    end_date_lte: dt.datetime | None = None

    def ranges(self) -> DateRanges:
        """The ``logical_date``, ``start_date`` and ``end_date`` ranges of a store filter (a reversed one: 400)."""
        return {
            "logical_date": date_range(self.execution_date_gte, self.execution_date_lte, "execution_date"),
            "start_date": date_range(self.start_date_gte, self.start_date_lte, "start_date"),
            "end_date": date_range(self.end_date_gte, self.end_date_lte, "end_date"),
        }


class ListForm(DateBounds):
    """What the bodies of Airflow's ``.../list`` requests share: paging, order and the date bounds."""

    model_config = ConfigDict(extra="forbid")
    order_by: str | None = None
    page_offset: int = Field(0, ge=0, le=MAX_OFFSET)
    page_limit: int = Field(100, ge=1, le=MAX_PAGE)

    @classmethod
    def fields_of(cls, page: Paging, dates: DateBounds) -> dict[str, Any]:
        """The shared fields of a ``GET`` list's query, for the form its ``.../list`` twin takes."""
        return {"order_by": page.order_by, "page_offset": page.offset, "page_limit": page.limit, **dates.model_dump()}


def date_bounds(
    execution_date_gte: dt.datetime | None = Query(None),
    execution_date_lte: dt.datetime | None = Query(None),
    start_date_gte: dt.datetime | None = Query(None),
    start_date_lte: dt.datetime | None = Query(None),
    end_date_gte: dt.datetime | None = Query(None),
    end_date_lte: dt.datetime | None = Query(None),
) -> DateBounds:
    """The date bounds of a ``GET`` list, from its query."""
    return DateBounds(
        execution_date_gte=execution_date_gte,
        execution_date_lte=execution_date_lte,
        start_date_gte=start_date_gte,
        start_date_lte=start_date_lte,
        end_date_gte=end_date_gte,
        end_date_lte=end_date_lte,
    )


def dag_json(row: DagRecord, secret: str) -> dict[str, Any]:
    """Airflow's ``DAG`` schema; what dockyard has no use for (pickles, subDAGs, owners) keeps Airflow's empty value.
    ``secret`` signs the DAG file's ``file_token``."""
    return {
        "dag_id": row.dag_id,
        "dag_display_name": row.dag_id,
        "root_dag_id": None,
        "is_paused": row.is_paused,
        "is_active": row.is_active,
        "is_subdag": False,
        "last_parsed_time": iso(row.last_parsed_at),
        "last_pickled": None,
        "last_expired": None,
        "scheduler_lock": None,
        "pickle_id": None,
        "default_view": "grid",
        "fileloc": row.fileloc,
        "file_token": sign_file(row.fileloc, secret),
        "owners": [],
        "description": row.description,
        **present(
            schedule_interval=None if row.schedule is None else {"__type": "CronExpression", "value": row.schedule}
        ),
        "timetable_description": row.schedule,
        "tags": [{"name": t} for t in row.tags],
        "max_active_tasks": row.max_active_tasks,
        "max_active_runs": row.max_active_runs,
        "has_task_concurrency_limits": False,
        "has_import_errors": row.has_import_errors,
        "next_dagrun": iso(row.next_dagrun),
        "next_dagrun_data_interval_start": None,
        "next_dagrun_data_interval_end": None,
        "next_dagrun_create_after": iso(row.next_dagrun),
    }


def secret_of(request: Request) -> str:
    """The web server's secret key (it signs sessions and file_tokens)."""
    return request.app.state.secret_key  # type: ignore[no-any-return]


def run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "dag_id": run.dag_id,
        "dag_run_id": run.run_id,
        "logical_date": iso(run.logical_date),
        "execution_date": iso(run.logical_date),
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
        "state": run.state,
        "run_type": run.run_type,
        "conf": run.conf,
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "last_scheduling_decision": None,
        "external_trigger": run.external_trigger,
        "note": run.note,
    }


def ti_json(ti: TaskInstanceRecord) -> dict[str, Any]:
    return {
        "dag_id": ti.dag_id,
        "dag_run_id": ti.run_id,
        "task_id": ti.task_id,
        "task_display_name": ti.task_id,
        "execution_date": iso(ti.logical_date),
        "state": ti.state,
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "operator": ti.operator,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "queue": "default",
        "priority_weight": ti.priority_weight,
        "queued_when": iso(ti.queued_at),
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
        "duration": ti.duration,
        "hostname": ti.hostname or "",
        "pid": None,
        "executor": None,
        "executor_config": "{}",
        "map_index": ti.map_index,
        "rendered_map_index": ti.rendered_map_index,
        "rendered_fields": ti.rendered or {},
        "note": ti.note,
        "container_id": ti.container_id,
        "exit_code": ti.exit_code,
    }


def ti_reference(ti: TaskInstanceRecord) -> dict[str, Any]:
    return {"dag_id": ti.dag_id, "dag_run_id": ti.run_id, "task_id": ti.task_id, "execution_date": iso(ti.logical_date)}


def wants_text(request: Request) -> bool:
    """Does the client prefer ``text/plain`` (named first in Accept)? Otherwise the answer is JSON."""
    return request.headers.get("accept", "").strip().startswith("text/plain")

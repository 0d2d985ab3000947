"""``/api/v1/datasets``: the datasets DAGs name, and their events, in the shape of Airflow's stable REST API.

``GET /api/v1/datasets`` lists them (``limit``, ``offset``, ``order_by``, ``uri_pattern``, ``dag_ids``),
``GET /api/v1/datasets/{uri}`` shows one (the URI percent-encoded, as Airflow's clients send it), and
``GET /api/v1/datasets/events`` lists events (filtered by ``dataset_id``, ``source_dag_id``, ``source_task_id``,
``source_run_id``, ``source_map_index``) with the runs each one triggered. Filtering and paging happen in SQL.

``POST /api/v1/datasets/events`` records an event by hand (and queues the dataset for its consumers), the
``queuedEvent`` routes show and empty the queue of datasets each consumer DAG waits on (per DAG, per dataset, or
both; ``before`` narrows to entries queued earlier), and ``GET .../dagRuns/{run}/upstreamDatasetEvents`` lists the
events that triggered a run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from pydantic import ConfigDict

from dockyard import roles
from dockyard.store.datasets import ORDER_FIELDS, DatasetRecord, DatasetStore, EventRecord
from dockyard.store.models import DatasetEventModel, DatasetModel
from dockyard.web.api import api_user, service
from dockyard.web.api_v1.common import needs
from dockyard.web.api_v1.events import record_event
from dockyard.web.api_v1.schemas import Shape

router = APIRouter(prefix="/api/v1", dependencies=[Depends(api_user)])

MAX_PAGE = 10_000
"""The largest ``limit`` a list accepts (as the other lists of the API)."""


# -- response shapes (Airflow's v1 schema names), so the OpenAPI document types these answers too ----------
class DagScheduleDatasetReference(Shape):
    dag_id: str
    created_at: str | None = None
    updated_at: str | None = None


class TaskOutletDatasetReference(Shape):
    dag_id: str
    task_id: str
    created_at: str | None = None
    updated_at: str | None = None


class Dataset(Shape):
    id: int
    uri: str
    extra: dict[str, Any] = {}
    created_at: str | None = None
    updated_at: str | None = None
    consuming_dags: list[DagScheduleDatasetReference] = []
    producing_tasks: list[TaskOutletDatasetReference] = []
    aliases: list[dict[str, Any]] = []


class DatasetCollection(Shape):
    datasets: list[Dataset]
    total_entries: int


class BasicDAGRun(Shape):
    dag_id: str
    dag_run_id: str
    logical_date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    state: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None


class DatasetEvent(Shape):
    id: int
    dataset_id: int
    dataset_uri: str
    extra: dict[str, Any] = {}
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int = -1
    created_dagruns: list[BasicDAGRun] = []
    timestamp: str | None = None


class DatasetEventCollection(Shape):
    dataset_events: list[DatasetEvent]
    total_entries: int


class QueuedEvent(Shape):
    uri: str
    dag_id: str
    created_at: str | None = None


class QueuedEventCollection(Shape):
    datasets: list[QueuedEvent]
    total_entries: int


class CreateDatasetEvent(Shape):
    model_config = ConfigDict(extra="forbid")
    dataset_uri: str
    extra: dict[str, Any] | None = None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _store(request: Request) -> DatasetStore:
    return DatasetStore(service(request).store)


def _order(model: Any, order_by: str) -> str:
    allowed = ORDER_FIELDS[model]
    if order_by.removeprefix("-") not in allowed:
        raise HTTPException(
            status_code=400,
            detail=f"order_by {order_by[:60]!r} is not one of {', '.join(allowed)} (prefix '-' for descending)",
        )
    return order_by


def dataset_json(record: DatasetRecord) -> dict[str, Any]:
    row = record.row
    return {
        "id": row.id,
        "uri": row.uri,
        "extra": row.extra or {},
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "consuming_dags": [
            {"dag_id": r.dag_id, "created_at": _iso(r.created_at), "updated_at": _iso(r.updated_at)}
            for r in record.consuming
        ],
        "producing_tasks": [
            {
                "dag_id": r.dag_id,
                "task_id": r.task_id,
                "created_at": _iso(r.created_at),
                "updated_at": _iso(r.updated_at),
            }
            for r in record.producing
        ],
        "aliases": [],
    }


def event_json(record: EventRecord) -> dict[str, Any]:
    event = record.row
    return {
        "id": event.id,
        "dataset_id": event.dataset_id,
        "dataset_uri": record.uri,
        "extra": event.extra or {},
        "source_dag_id": event.source_dag_id,
        "source_task_id": event.source_task_id,
        "source_run_id": event.source_run_id,
        "source_map_index": event.source_map_index,
        "created_dagruns": [
            {
                "dag_id": run.dag_id,
                "dag_run_id": run.run_id,
                "logical_date": _iso(run.logical_date),
                "start_date": _iso(run.start_date),
                "end_date": _iso(run.end_date),
                "state": run.state,
                "data_interval_start": _iso(run.data_interval_start),
                "data_interval_end": _iso(run.data_interval_end),
            }
            for run in record.created_runs
        ],
        "timestamp": _iso(event.timestamp),
    }


@router.get("/datasets", response_model=DatasetCollection)
def list_datasets(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0),
    order_by: str = Query("id", max_length=100),
    uri_pattern: str | None = Query(None, max_length=3000),
    dag_ids: str | None = Query(None, max_length=10_000, description="comma-separated dag_ids"),
) -> dict[str, Any]:
    wanted = [d.strip() for d in dag_ids.split(",") if d.strip()] if dag_ids else None
    records, total = _store(request).list_datasets(
        limit=limit, offset=offset, uri_pattern=uri_pattern, dag_ids=wanted, order_by=_order(DatasetModel, order_by)
    )
    return {"datasets": [dataset_json(r) for r in records], "total_entries": total}


@router.get("/datasets/events", response_model=DatasetEventCollection)
def list_dataset_events(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0),
    order_by: str = Query("timestamp", max_length=100),
    dataset_id: int | None = Query(None, ge=0, le=2**31 - 1),
    source_dag_id: str | None = Query(None, max_length=250),
    source_task_id: str | None = Query(None, max_length=250),
    source_run_id: str | None = Query(None, max_length=250),
    source_map_index: int | None = Query(None, ge=-1, le=2**31 - 1),
) -> dict[str, Any]:
    filters = {
        "dataset_id": dataset_id,
        "source_dag_id": source_dag_id,
        "source_task_id": source_task_id,
        "source_run_id": source_run_id,
        "source_map_index": source_map_index,
    }
    records, total = _store(request).list_events(
        limit=limit, offset=offset, filters=filters, order_by=_order(DatasetEventModel, order_by)
    )
    return {"dataset_events": [event_json(r) for r in records], "total_entries": total}


@router.post("/datasets/events", response_model=DatasetEvent)
def create_dataset_event(
    request: Request,
    body: CreateDatasetEvent = Body(...),
    user: object = Depends(needs(roles.CREATE, roles.DATASETS)),
) -> dict[str, Any]:
    """Record an event of a known dataset by hand; the DAGs scheduled on it get it queued, as after a task's."""
    record = _store(request).create_event(body.dataset_uri, body.extra)
    if record is None:
        raise HTTPException(
            status_code=404,
            detail=f"no dataset {body.dataset_uri[:200]!r}; an event can be posted only for a dataset a DAG names "
            "(GET /api/v1/datasets lists them)",
        )
    record_event(request, "dataset.create", extra={"dataset_uri": body.dataset_uri})
    return event_json(record)


def _when(before: dt.datetime | None) -> dt.datetime | None:
    """``before`` as an aware time (one without a zone is UTC, as the rest of the API reads times)."""
    if before is not None and before.tzinfo is None:
        return before.replace(tzinfo=dt.timezone.utc)
    return before


def _queue(request: Request, dag_id: str | None, uri: str | None, before: dt.datetime | None) -> dict[str, Any]:
    found = _store(request).queued_events(dag_id=dag_id, uri=uri, before=_when(before))
    if not found:
        raise HTTPException(status_code=404, detail=_nothing_queued(dag_id, uri))
    events = [{"uri": u, "dag_id": d, "created_at": _iso(created)} for u, d, created in found]
    return {"datasets": events, "total_entries": len(events)}


def _unqueue(request: Request, dag_id: str | None, uri: str | None, before: dt.datetime | None) -> Response:
    if not _store(request).delete_queued_events(dag_id=dag_id, uri=uri, before=_when(before)):
        raise HTTPException(status_code=404, detail=_nothing_queued(dag_id, uri))
    record_event(request, "dataset.delete_queued_events", dag_id=dag_id, extra={"dataset_uri": uri})
    return Response(status_code=204)


def _nothing_queued(dag_id: str | None, uri: str | None) -> str:
    named = " and ".join(
        part for part in (f"DAG {dag_id!r}" if dag_id else "", f"dataset {uri[:200]!r}" if uri else "") if part
    )
    return f"no queued dataset event for {named}; a DAG's datasets are queued by events since its last run"


BEFORE = Query(None, description="only entries queued before this time")


@router.get("/dags/{dag_id}/datasets/queuedEvent", response_model=QueuedEventCollection)
def get_dag_queued_events(request: Request, dag_id: str, before: dt.datetime | None = BEFORE) -> dict[str, Any]:
    return _queue(request, dag_id, None, before)


@router.delete("/dags/{dag_id}/datasets/queuedEvent", status_code=204, response_class=Response)
def delete_dag_queued_events(
    request: Request,
    dag_id: str,
    before: dt.datetime | None = BEFORE,
    user: object = Depends(needs(roles.DELETE, roles.DATASETS)),
) -> Response:
    return _unqueue(request, dag_id, None, before)


@router.get("/dags/{dag_id}/datasets/queuedEvent/{uri:path}", response_model=QueuedEvent)
def get_dag_queued_event(
    request: Request, dag_id: str, uri: str, before: dt.datetime | None = BEFORE
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = _queue(request, dag_id, uri, before)["datasets"]
    return entries[0]


@router.delete("/dags/{dag_id}/datasets/queuedEvent/{uri:path}", status_code=204, response_class=Response)
def delete_dag_queued_event(
    request: Request,
    dag_id: str,
    uri: str,
    before: dt.datetime | None = BEFORE,
    user: object = Depends(needs(roles.DELETE, roles.DATASETS)),
) -> Response:
    return _unqueue(request, dag_id, uri, before)


@router.get("/datasets/queuedEvent/{uri:path}", response_model=QueuedEventCollection)
def get_dataset_queued_events(request: Request, uri: str, before: dt.datetime | None = BEFORE) -> dict[str, Any]:
    return _queue(request, None, uri, before)


@router.delete("/datasets/queuedEvent/{uri:path}", status_code=204, response_class=Response)
def delete_dataset_queued_events(
    request: Request,
    uri: str,
    before: dt.datetime | None = BEFORE,
    user: object = Depends(needs(roles.DELETE, roles.DATASETS)),
) -> Response:
    return _unqueue(request, None, uri, before)


@router.get("/dags/{dag_id}/dagRuns/{run_id}/upstreamDatasetEvents", response_model=DatasetEventCollection)
def get_upstream_dataset_events(request: Request, dag_id: str, run_id: str) -> dict[str, Any]:
    """The dataset events that triggered a run (none for a run not triggered by datasets)."""
    service(request).store.get_run(dag_id, run_id)  # 404 naming the DAG and run
    records, total = _store(request).list_events(
        limit=MAX_PAGE, offset=0, filters={}, order_by="timestamp", triggered=(dag_id, run_id)
    )
    return {"dataset_events": [event_json(r) for r in records], "total_entries": total}


@router.get("/datasets/{uri:path}", response_model=Dataset)
def get_dataset(uri: str, request: Request) -> dict[str, Any]:
    if len(uri) > 3000:
        raise HTTPException(status_code=400, detail="a dataset URI has at most 3000 characters")
    record = _store(request).get_dataset(uri)
    if record is None:
        raise HTTPException(
            status_code=404,
            detail=f"no dataset {uri[:200]!r}; GET /api/v1/datasets lists the datasets DAGs name or updated",
        )
    return dataset_json(record)

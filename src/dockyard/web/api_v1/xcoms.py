"""A task try's log and its XComs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Query, Request

from dockyard.errors import NotFoundError
from dockyard.store.models import UserModel
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import Paging, Router, api_user, iso, paging, queries, service

router = Router(tags=["TaskInstance"])
MAX_LOG_OFFSET = 2**53
"""Larger log offsets are refused (a file cannot be that long, and seeking past 2**63 fails)."""
TI_PATH = "/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"


@router.get(TI_PATH + "/logs/{try_number}", response_model=schemas.LogChunk)
def logs(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    token: int = Query(
        0, ge=0, le=MAX_LOG_OFFSET, description="byte offset to read from (continuation_token of the last call)"
    ),
    full_content: bool = Query(False),
    map_index: int = Query(-1),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    content, offset, done = service(request).log(dag_id, run_id, task_id, try_number, token, map_index)
    return {"content": content, "continuation_token": str(offset), "finished": done}


@router.get(TI_PATH + "/xcomEntries", response_model=schemas.XComCollection)
def xcoms(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    page: Paging = Depends(paging),
    xcom_key: str | None = Query(None),
    map_index: int | None = Query(None, ge=-1, description="only this instance of a mapped task"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    rows = [x for x in service(request).store.list_xcoms(dag_id, run_id, task_id) if xcom_key in (None, x.key)]
    rows = [x for x in rows if map_index in (None, x.map_index)]
    shown_index = rows[0].map_index if rows else -1 if map_index is None else map_index
    ti = queries(request).task_instance(dag_id, run_id, task_id, shown_index)
    shown = rows[page.offset : page.offset + page.limit]  # a task's XComs are a handful of keys
    return {
        "xcom_entries": [
            {
                "key": x.key,
                "dag_id": dag_id,
                "dag_run_id": run_id,
                "task_id": task_id,
                "map_index": x.map_index,
                "timestamp": iso(x.timestamp),
                "execution_date": iso(ti.logical_date),
            }
            for x in shown
        ],
        "total_entries": len(rows),
    }


@router.get(TI_PATH + "/xcomEntries/{key}", response_model=schemas.XCom)
def xcom(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str,
    deserialize: bool = Query(False),
    stringify: bool = Query(True),
    map_index: int = Query(-1, ge=-1, description="which instance of a mapped task (-1: not mapped)"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    ti = queries(request).task_instance(dag_id, run_id, task_id, map_index)
    found = service(request).store.list_xcoms(dag_id, run_id, task_id)
    rows = [x for x in found if x.key == key and x.map_index == map_index]
    if not rows:
        raise NotFoundError(f"task {task_id!r} of run {run_id!r} has no XCom {key!r}")
    return {
        "key": key,
        "dag_id": dag_id,
        "dag_run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "timestamp": iso(rows[0].timestamp),
        "execution_date": iso(ti.logical_date),
        "value": json.dumps(rows[0].value),
    }

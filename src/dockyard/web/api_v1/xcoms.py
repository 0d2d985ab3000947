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
    content, offset, done = service(request).log(dag_id, run_id, task_id, try_number, token)
    return {"content": content, "continuation_token": str(offset), "finished": done}


@router.get(TI_PATH + "/xcomEntries", response_model=schemas.XComCollection)
def xcoms(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    page: Paging = Depends(paging),
    xcom_key: str | None = Query(None),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    ti = queries(request).task_instance(dag_id, run_id, task_id)
    rows = [x for x in service(request).store.list_xcoms(dag_id, run_id, task_id) if xcom_key in (None, x.key)]
    shown = rows[page.offset : page.offset + page.limit]  # a task's XComs are a handful of keys
    return {
        "xcom_entries": [
            {
                "key": x.key,
                "dag_id": dag_id,
                "dag_run_id": run_id,
                "task_id": task_id,
                "map_index": -1,
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
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    ti = queries(request).task_instance(dag_id, run_id, task_id)
    rows = [x for x in service(request).store.list_xcoms(dag_id, run_id, task_id) if x.key == key]
    if not rows:
        raise NotFoundError(f"task {task_id!r} of run {run_id!r} has no XCom {key!r}")
    return {
        "key": key,
        "dag_id": dag_id,
        "dag_run_id": run_id,
        "task_id": task_id,
        "map_index": -1,
        "timestamp": iso(rows[0].timestamp),
        "execution_date": iso(ti.logical_date),
        "value": json.dumps(rows[0].value),
    }

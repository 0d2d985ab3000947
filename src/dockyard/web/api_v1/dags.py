"""``/dags``, ``/dags/{dag_id}``, its details, tasks and source: what the DAG processor stored, never the file
imported (the web server does not run DAG code)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Body, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from dockyard import roles
from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.serialized import SerializedDag, SerializedTask
from dockyard.store.models import UserModel
from dockyard.store.queries import DagFilter, DagRecord
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import (
    Paging,
    Router,
    api_user,
    dag_json,
    iso,
    needs,
    paging,
    present,
    queries,
    secret_of,
    service,
    wants_text,
)
from dockyard.web.api_v1.events import record_event
from dockyard.web.api_v1.file_tokens import read_file_token
from dockyard.web.source import mask_source

router = Router(tags=["DAG"])


def one_dag(request: Request, dag_id: str) -> DagRecord:
    found = queries(request).dags(DagFilter(dag_ids=[dag_id], only_active=False), limit=1).items
    if not found:
        service(request).store.get_dag(dag_id)  # the 404 that names the known DAGs
    return found[0]


def paused_from(body: dict[str, Any], update_mask: list[str] | None) -> bool:
    """``{"is_paused": bool}``, the only field of a DAG a client changes (Airflow's ``update_mask``)."""
    if update_mask is not None and set(update_mask) - {"is_paused"}:
        raise InvalidInputError(f"update_mask {update_mask} names fields that cannot be changed; only is_paused can")
    if set(body) - {"is_paused"} or not isinstance(body.get("is_paused"), bool):
        raise InvalidInputError('only {"is_paused": true|false} can be changed')
    return bool(body["is_paused"])


@router.get("/dags", response_model=schemas.DagCollection)
def list_dags(
    request: Request,
    page: Paging = Depends(paging),
    tags: list[str] | None = Query(None, description="DAGs with any of these tags"),
    only_active: bool = Query(True),
    paused: bool | None = Query(None),
    dag_id_pattern: str | None = Query(None, description="a case-insensitive part of the dag_id"),
    fields: list[str] | None = Query(None, description="return only these fields of each DAG"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    flt = DagFilter(tags=tags or (), only_active=only_active, paused=paused, dag_id_pattern=dag_id_pattern)
    found = queries(request).dags(flt, order_by=page.order_by, limit=page.limit, offset=page.offset)
    dags = [dag_json(d, secret_of(request)) for d in found.items]
    if fields:
        unknown = sorted(set(fields) - set(dags[0] if dags else fields))
        if unknown:
            raise InvalidInputError(f"fields {unknown} are not fields of a DAG")
        dags = [{k: v for k, v in d.items() if k in fields or k in ("dag_id", "fileloc", "file_token")} for d in dags]
    return {"dags": dags, "total_entries": found.total}


@router.patch("/dags", response_model=schemas.DagCollection)
def patch_dags(
    request: Request,
    dag_id_pattern: str = Query(..., description="pause or unpause the DAGs whose dag_id contains this ('~': all)"),
    page: Paging = Depends(paging),
    tags: list[str] | None = Query(None),
    only_active: bool = Query(True),
    update_mask: list[str] | None = Query(None),
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.DAGS)),
) -> dict[str, Any]:
    paused = paused_from(body, update_mask)
    pattern = None if dag_id_pattern == "~" else dag_id_pattern
    flt = DagFilter(tags=tags or (), only_active=only_active, dag_id_pattern=pattern)
    found = queries(request).dags(flt, order_by=page.order_by, limit=page.limit, offset=page.offset)
    store = service(request).store
    for dag in found.items:
        store.set_paused(dag.dag_id, paused)
        record_event(request, "paused" if paused else "unpaused", dag_id=dag.dag_id)
    changed = [dag_json(DagRecord(**{**d.__dict__, "is_paused": paused}), secret_of(request)) for d in found.items]
    return {"dags": changed, "total_entries": found.total}


@router.get("/dags/{dag_id}", response_model=schemas.Dag)
def get_dag(request: Request, dag_id: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    return dag_json(one_dag(request, dag_id), secret_of(request))


@router.patch("/dags/{dag_id}", response_model=schemas.Dag)
def patch_dag(
    request: Request,
    dag_id: str,
    update_mask: list[str] | None = Query(None),
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.DAGS)),
) -> dict[str, Any]:
    paused = paused_from(body, update_mask)
    service(request).store.set_paused(dag_id, paused)
    record_event(request, "paused" if paused else "unpaused", dag_id=dag_id)
    return dag_json(one_dag(request, dag_id), secret_of(request))


@router.delete("/dags/{dag_id}", status_code=204)
def delete_dag(request: Request, dag_id: str, user: UserModel = Depends(needs(roles.DELETE, roles.DAGS))) -> Response:
    """Forget a DAG and its runs, task instances, tries and XComs (Airflow's 409 while a task runs). The DAG
    comes back at the next parse while its file still defines it."""
    from dockyard.store.changes import Changes

    Changes(service(request).store).delete_dag(dag_id)
    record_event(request, "delete_dag", dag_id=dag_id)
    return Response(status_code=204)


def _delta(seconds: float | None) -> dict[str, Any] | None:
    if seconds is None:
        return None
    value = dt.timedelta(seconds=seconds)
    return {"__type": "TimeDelta", "days": value.days, "seconds": value.seconds, "microseconds": value.microseconds}


@router.get("/dags/{dag_id}/details", response_model=schemas.DagDetail)
def dag_details(request: Request, dag_id: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    row = one_dag(request, dag_id)
    dag = service(request).dag(dag_id)
    return {
        **dag_json(row, secret_of(request)),
        "timezone": "UTC",
        "catchup": dag.catchup,
        "orientation": "LR",
        "concurrency": row.max_active_tasks,
        "start_date": iso(dag.start_date),
        "end_date": iso(dag.end_date),
        **present(dag_run_timeout=_delta(dag.dagrun_timeout)),
        "dataset_expression": None,
        "doc_md": dag.doc_md,
        "params": {name: {"__class": "airflow.models.param.Param", **p} for name, p in dag.params.items()},
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "last_parsed": iso(row.last_parsed_at),
        "template_search_path": None,
        "render_template_as_native_obj": False,
    }


def task_json(dag: SerializedDag, task: SerializedTask) -> dict[str, Any]:
    """Airflow's ``Task`` schema from the stored task."""
    return {
        "class_ref": {"module_path": "dockyard.operators", "class_name": task.operator},
        "task_id": task.task_id,
        "task_display_name": task.task_id,
        "owner": "airflow",
        "start_date": iso(dag.start_date),
        "end_date": iso(dag.end_date),
        "trigger_rule": task.trigger_rule,
        "extra_links": [],
        "depends_on_past": task.depends_on_past,
        "is_mapped": False,
        "wait_for_downstream": task.wait_for_downstream,
        "retries": task.retries,
        "queue": "default",
        "executor": None,
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        **present(execution_timeout=_delta(task.execution_timeout), retry_delay=_delta(task.retry_delay)),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "priority_weight": task.priority_weight,
        "weight_rule": task.weight_rule,
        "ui_color": "#fff",
        "ui_fgcolor": "#000",
        "template_fields": ["image", "command", "environment", "env_file", "container_name", "mounts"]
        if task.runs_container
        else [],
        "downstream_task_ids": list(task.downstream),
        "doc_md": task.doc_md,
    }


TASK_ORDER = ("task_id", "operator", "priority_weight", "pool", "retries", "trigger_rule")


@router.get("/dags/{dag_id}/tasks", response_model=schemas.TaskCollection)
def list_tasks(
    request: Request,
    dag_id: str,
    order_by: str = Query("task_id", description=f"one of {', '.join(TASK_ORDER)}, '-' for descending"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    dag = service(request).dag(dag_id)
    name = order_by.lstrip("-")
    if name not in TASK_ORDER:
        raise InvalidInputError(
            f"'{name}' is not an attribute of a task; order_by takes one of {', '.join(TASK_ORDER)}"
        )
    tasks = sorted(dag.tasks, key=lambda t: getattr(t, name), reverse=order_by.startswith("-"))
    return {"tasks": [task_json(dag, t) for t in tasks], "total_entries": len(tasks)}


@router.get("/dags/{dag_id}/tasks/{task_id}", response_model=schemas.Task)
def get_task(request: Request, dag_id: str, task_id: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    dag = service(request).dag(dag_id)
    if task_id not in dag.task_dict:
        raise NotFoundError(f"DAG {dag_id!r} has no task {task_id!r}; its tasks are {', '.join(dag.task_ids)}")
    return task_json(dag, dag.task(task_id))


@router.get(
    "/dagSources/{file_token}",
    responses={200: {"model": schemas.DagSource, "content": {"text/plain": {}}}},
    response_model=None,
)
def dag_source(request: Request, file_token: str, user: UserModel = Depends(api_user)) -> Response | dict[str, Any]:
    """The text of a DAG file, by the ``file_token`` of a DAG (a token names only a file that defines a DAG, so
    no other file of the machine can be read this way). JSON ``{"content": ...}`` when the client accepts it."""
    fileloc = dag_file_of(request, file_token)
    try:
        content = Path(fileloc).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise NotFoundError(f"the DAG file {fileloc} cannot be read now: {exc.strerror}") from None
    content = mask_source(content)
    return PlainTextResponse(content) if wants_text(request) else {"content": content}


def dag_file_of(request: Request, file_token: str) -> str:
    """The DAG file a ``file_token`` names; NotFoundError unless this server signed the token and the file is
    the file of a stored DAG."""
    fileloc = read_file_token(file_token, secret_of(request))
    if not queries(request).dag_filelocs(fileloc):
        raise NotFoundError(f"file_token {file_token!r} names no DAG file; GET /dags gives each DAG's file_token")
    return fileloc

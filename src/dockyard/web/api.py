"""``/api/v1``: DAGs, runs, task instances, logs, XComs, connections, variables, health.

Paths and payloads follow Airflow's stable REST API (v1), so its clients and scripts work here. Errors
are Airflow's problem-details JSON. Connection passwords are write-only; sensitive variables read as ***.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response

from dockyard import __version__, defaults
from dockyard.connections import Connection
from dockyard.errors import InvalidConnectionError, NotFoundError, StoreError
from dockyard.masking import is_sensitive_name
from dockyard.runids import check_run_id
from dockyard.store.models import DagModel, DagRunModel, TaskInstanceModel, UserModel
from dockyard.variables import Variables
from dockyard.web.inputs import check_connection_fields, parse_logical_date
from dockyard.web.security import basic_user, check_csrf, require_admin, session_user
from dockyard.web.service import STATES_A_PERSON_SETS, Service

router = APIRouter(prefix="/api/v1")
MAX_LOG_OFFSET = 2**53
"""Larger log offsets are refused (a file cannot be that long, and seeking past 2**63 fails)."""


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


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
    return user


def admin_user(user: UserModel = Depends(api_user)) -> UserModel:
    require_admin(user)
    return user


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def dag_json(row: DagModel) -> dict[str, Any]:
    return {
        "dag_id": row.dag_id,
        "is_paused": row.is_paused,
        "is_active": row.is_active,
        "fileloc": row.fileloc,
        "description": row.description,
        "tags": [{"name": t} for t in row.tags],
        "schedule_interval": None if row.schedule is None else {"__type": "CronExpression", "value": row.schedule},
        "max_active_runs": row.max_active_runs,
        "max_active_tasks": row.max_active_tasks,
        "next_dagrun": iso(row.next_dagrun),
        "last_parsed_time": iso(row.last_parsed_at),
    }


def run_json(run: DagRunModel) -> dict[str, Any]:
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
        "external_trigger": run.external_trigger,
    }


def ti_json(ti: TaskInstanceModel) -> dict[str, Any]:
    return {
        "dag_id": ti.dag_id,
        "dag_run_id": ti.run_id,
        "task_id": ti.task_id,
        "state": ti.state,
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "operator": ti.operator,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "priority_weight": ti.priority_weight,
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
        "duration": ti.duration,
        "hostname": ti.hostname,
        "container_id": ti.container_id,
        "exit_code": ti.exit_code,
        "rendered_fields": ti.rendered or {},
        "map_index": ti.map_index,
        "rendered_map_index": ti.rendered_map_index,
    }


def page(items: list[Any], limit: int, offset: int) -> list[Any]:
    return items[offset : offset + limit]


@router.get("/health")
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


@router.get("/version")
def version(user: UserModel = Depends(api_user)) -> dict[str, Any]:
    return {"version": __version__, "git_version": None}


@router.get("/dags")
def list_dags(
    request: Request,
    limit: int = Query(100, ge=1, le=10000),
    offset: int = Query(0, ge=0),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    rows = service(request).store.list_dags()
    return {"dags": [dag_json(r) for r in page(rows, limit, offset)], "total_entries": len(rows)}


@router.get("/importErrors")
def list_import_errors(
    request: Request,
    limit: int = Query(100, ge=1, le=10000),
    offset: int = Query(0, ge=0),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    """The DAG files that do not load, as the DAG processor last found them (Airflow's shape; every problem of
    a file is one line of ``stack_trace``). Ids follow the file names' order."""
    rows = service(request).store.list_import_errors()
    shown = [
        {"import_error_id": number, "filename": row.filename, "stack_trace": row.message, "timestamp": row.timestamp}
        for number, row in enumerate(rows, start=1)
    ]
    return {"import_errors": page(shown, limit, offset), "total_entries": len(shown)}


@router.get("/dags/{dag_id}")
def get_dag(request: Request, dag_id: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    return dag_json(service(request).store.get_dag(dag_id))


@router.patch("/dags/{dag_id}")
def patch_dag(
    request: Request, dag_id: str, body: dict[str, Any] = Body(...), user: UserModel = Depends(admin_user)
) -> dict[str, Any]:
    if set(body) - {"is_paused"} or not isinstance(body.get("is_paused"), bool):
        raise HTTPException(status_code=400, detail='only {"is_paused": true|false} can be changed')
    svc = service(request)
    svc.store.set_paused(dag_id, body["is_paused"])
    return dag_json(svc.store.get_dag(dag_id))


@router.get("/dags/{dag_id}/dagRuns")
def list_runs(
    request: Request,
    dag_id: str,
    limit: int = Query(100, ge=1, le=10000),
    offset: int = Query(0, ge=0),
    state: list[str] | None = Query(None),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    svc = service(request)
    if dag_id != "~":
        svc.store.get_dag(dag_id)
    runs = svc.store.list_runs(None if dag_id == "~" else dag_id, states=state, limit=100_000)
    return {"dag_runs": [run_json(r) for r in page(runs, limit, offset)], "total_entries": len(runs)}


@router.post("/dags/{dag_id}/dagRuns")
def trigger(
    request: Request,
    dag_id: str,
    body: dict[str, Any] = Body(default_factory=dict),
    user: UserModel = Depends(admin_user),
) -> dict[str, Any]:
    conf = body.get("conf", {})
    if not isinstance(conf, dict):
        raise HTTPException(status_code=400, detail="conf must be a JSON object")
    when = body.get("logical_date") or body.get("execution_date")
    logical = None if when is None else parse_logical_date(when)
    run_id = body.get("dag_run_id")
    if run_id is not None:
        check_run_id(run_id)
    return run_json(service(request).trigger(dag_id, conf, run_id=run_id, logical_date=logical))


@router.get("/dags/{dag_id}/dagRuns/{run_id}")
def get_run(request: Request, dag_id: str, run_id: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    return run_json(service(request).store.get_run(dag_id, run_id))


@router.delete("/dags/{dag_id}/dagRuns/{run_id}", status_code=204)
def delete_run(request: Request, dag_id: str, run_id: str, user: UserModel = Depends(admin_user)) -> Response:
    service(request).store.delete_run(dag_id, run_id)
    return Response(status_code=204)


@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
def list_tis(request: Request, dag_id: str, run_id: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    svc = service(request)
    svc.store.get_run(dag_id, run_id)
    tis = svc.store.list_task_instances(dag_id, run_id)
    return {"task_instances": [ti_json(t) for t in tis], "total_entries": len(tis)}


@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
def get_ti(
    request: Request, dag_id: str, run_id: str, task_id: str, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    return ti_json(service(request).store.get_task_instance(dag_id, run_id, task_id))


@router.patch("/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
def set_ti_state(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(admin_user),
) -> dict[str, Any]:
    state = body.get("new_state")
    current = service(request).store.get_task_instance(dag_id, run_id, task_id)
    if state not in STATES_A_PERSON_SETS:
        raise HTTPException(status_code=400, detail=f"new_state must be one of {', '.join(STATES_A_PERSON_SETS)}")
    if body.get("dry_run"):
        return ti_json(current)
    return ti_json(service(request).set_state(dag_id, run_id, task_id, str(state)))


@router.post("/dags/{dag_id}/clearTaskInstances")
def clear(
    request: Request, dag_id: str, body: dict[str, Any] = Body(...), user: UserModel = Depends(admin_user)
) -> dict[str, Any]:
    run_id, task_ids = body.get("dag_run_id"), body.get("task_ids")
    if not isinstance(run_id, str) or not isinstance(task_ids, list) or not all(isinstance(t, str) for t in task_ids):
        raise HTTPException(status_code=400, detail='give {"dag_run_id": "...", "task_ids": ["..."]}')
    svc = service(request)
    svc.store.get_run(dag_id, run_id)
    if body.get("dry_run", False):
        tis = [t for t in svc.store.list_task_instances(dag_id, run_id) if t.task_id in task_ids]
    else:
        svc.clear(dag_id, run_id, task_ids)
        tis = [t for t in svc.store.list_task_instances(dag_id, run_id) if t.task_id in task_ids]
    return {"task_instances": [{"dag_id": t.dag_id, "dag_run_id": t.run_id, "task_id": t.task_id} for t in tis]}


@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}")
def logs(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    token: int = Query(
        0, ge=0, le=MAX_LOG_OFFSET, description="byte offset to read from (continuation_token of the last call)"
    ),
    map_index: int = Query(-1, ge=-1, description="which instance of a mapped task (-1: not mapped)"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    content, offset, done = service(request).log(dag_id, run_id, task_id, try_number, token, map_index)
    return {"content": content, "continuation_token": str(offset), "finished": done}


@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries")
def xcoms(
    request: Request, dag_id: str, run_id: str, task_id: str, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    svc = service(request)
    rows = svc.store.list_xcoms(dag_id, run_id, task_id)
    if not rows:
        svc.store.get_task_instance(dag_id, run_id, task_id)
    return {
        "xcom_entries": [
            {
                "key": x.key,
                "dag_id": dag_id,
                "dag_run_id": run_id,
                "task_id": task_id,
                "map_index": x.map_index,
                "timestamp": iso(x.timestamp),
            }
            for x in rows
        ],
        "total_entries": len(rows),
    }


# -- dynamic task mapping: the instances of a mapped task -------------------------------------------------
@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped")
def list_mapped(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
    state: list[str] | None = Query(None, description="only instances in these states (repeatable)"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    """Airflow's ``listMapped``: the instances of a mapped task in one run, in ``map_index`` order."""
    svc = service(request)
    svc.store.get_run(dag_id, run_id)
    if not svc.dag(dag_id).task(task_id).is_mapped:
        raise NotFoundError(f"task {task_id!r} of DAG {dag_id!r} is not mapped; it has no mapped instances")
    rows, total = svc.store.list_mapped(dag_id, run_id, task_id, states=state, limit=limit, offset=offset)
    return {"task_instances": [ti_json(t) for t in rows], "total_entries": total}


@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index:int}")
def get_mapped_ti(
    request: Request, dag_id: str, run_id: str, task_id: str, map_index: int, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    """One instance of a mapped task (Airflow's ``getMappedTaskInstance``)."""
    return ti_json(service(request).store.get_task_instance(dag_id, run_id, task_id, map_index))


@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
def xcom(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str,
    map_index: int = Query(-1, ge=-1, description="which instance of a mapped task (-1: not mapped)"),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    svc = service(request)
    rows = [x for x in svc.store.list_xcoms(dag_id, run_id, task_id) if x.key == key and x.map_index == map_index]
    if not rows:
        raise NotFoundError(f"task {task_id!r} of run {run_id!r} has no XCom {key!r}")
    return {
        "key": key,
        "dag_id": dag_id,
        "dag_run_id": run_id,
        "task_id": task_id,
        "timestamp": iso(rows[0].timestamp),
        "value": json.dumps(rows[0].value),
    }


# -- connections: admins only; passwords are accepted, never returned ----------------------------
def conn_json(conn: Connection) -> dict[str, Any]:
    shown = conn.shown()
    shown.pop("password")
    shown["connection_id"] = shown.pop("conn_id")
    return shown


def conn_from_body(conn_id: str, body: dict[str, Any]) -> Connection:
    fields = {"conn_type", "host", "schema", "login", "password", "port", "extra", "description"}
    unknown = sorted(set(body) - fields - {"connection_id"})
    if unknown:
        raise HTTPException(
            status_code=400,
            detail=f"unknown field(s) {', '.join(unknown)}; the fields are connection_id, {', '.join(sorted(fields))}",
        )
    check_connection_fields(conn_id, body)
    try:
        return Connection.from_json(conn_id, {k: v for k, v in body.items() if k in fields})
    except InvalidConnectionError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


@router.get("/connections")
def list_connections(request: Request, user: UserModel = Depends(admin_user)) -> dict[str, Any]:
    conns = service(request).connections.list()
    return {"connections": [conn_json(c) for c in conns], "total_entries": len(conns)}


@router.post("/connections")
def add_connection(
    request: Request, body: dict[str, Any] = Body(...), user: UserModel = Depends(admin_user)
) -> dict[str, Any]:
    conn_id = body.get("connection_id")
    if not isinstance(conn_id, str) or not conn_id:
        raise HTTPException(status_code=400, detail="connection_id is required")
    conn = conn_from_body(conn_id, body)
    service(request).save_connection(conn, replace=False)
    return conn_json(conn)


@router.get("/connections/{conn_id}")
def get_connection(request: Request, conn_id: str, user: UserModel = Depends(admin_user)) -> dict[str, Any]:
    return conn_json(service(request).connections.get(conn_id))


@router.patch("/connections/{conn_id}")
def patch_connection(
    request: Request, conn_id: str, body: dict[str, Any] = Body(...), user: UserModel = Depends(admin_user)
) -> dict[str, Any]:
    svc = service(request)
    current = svc.connections.get(conn_id).__dict__.copy()
    current.pop("conn_id")
    current.update({k: v for k, v in body.items() if k != "connection_id"})
    conn = conn_from_body(conn_id, {k: v for k, v in current.items() if v is not None})
    svc.save_connection(conn, replace=True)
    return conn_json(conn)


@router.delete("/connections/{conn_id}", status_code=204)
def delete_connection(request: Request, conn_id: str, user: UserModel = Depends(admin_user)) -> Response:
    service(request).connections.delete(conn_id)
    return Response(status_code=204)


# -- variables ----------------------------------------------------------------------------------
def variables_of(request: Request) -> Variables:
    svc = service(request)
    return Variables(svc.settings, svc.store)


@router.get("/variables")
def list_variables(request: Request, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    rows = variables_of(request).shown()
    return {"variables": rows, "total_entries": len(rows)}


@router.get("/variables/{key}")
def get_variable(request: Request, key: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    value = variables_of(request).get(key)
    row = service(request).store.get_variable_row(key)
    return {
        "key": key,
        "value": "***" if is_sensitive_name(key) else value,
        "description": row.description if row is not None else None,
    }


def _variable_body(body: dict[str, Any]) -> tuple[str, str, str | None]:
    key, value = body.get("key"), body.get("value")
    if not isinstance(key, str) or not key or not isinstance(value, str):
        raise HTTPException(status_code=400, detail='give {"key": "...", "value": "..."} (value as a string)')
    description = body.get("description")
    return key, value, description if isinstance(description, str) else None


@router.post("/variables")
def add_variable(
    request: Request, body: dict[str, Any] = Body(...), user: UserModel = Depends(admin_user)
) -> dict[str, Any]:
    key, value, description = _variable_body(body)
    variables_of(request).set(key, value, description)
    return get_variable(request, key, user)


@router.patch("/variables/{key}")
def patch_variable(
    request: Request, key: str, body: dict[str, Any] = Body(...), user: UserModel = Depends(admin_user)
) -> dict[str, Any]:
    _, value, description = _variable_body({"key": key, **body})
    variables = variables_of(request)
    variables.get(key)
    variables.set(key, value, description)
    return get_variable(request, key, user)


@router.delete("/variables/{key}", status_code=204)
def delete_variable(request: Request, key: str, user: UserModel = Depends(admin_user)) -> Response:
    variables_of(request).delete(key)
    return Response(status_code=204)

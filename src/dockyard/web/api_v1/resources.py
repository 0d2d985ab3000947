"""Connections (admins only; passwords are write-only), variables (sensitive values read as ***) and pools."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Query, Request, Response

from dockyard import roles
from dockyard.connections import Connection
from dockyard.errors import InvalidConnectionError, InvalidInputError
from dockyard.masking import is_sensitive_name
from dockyard.store.changes import DEFAULT_POOL, Changes
from dockyard.store.models import UserModel
from dockyard.store.queries import PoolRecord
from dockyard.variables import Variables
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import Paging, Router, needs, paging, queries, service
from dockyard.web.api_v1.events import record_event
from dockyard.web.connection_forms import login_test
from dockyard.web.inputs import check_connection_fields

router = Router()
CONNECTION_FIELDS = {"conn_type", "host", "schema", "login", "password", "port", "extra", "description"}


# -- connections -------------------------------------------------------------------------------------
def conn_json(conn: Connection) -> dict[str, Any]:
    shown = conn.shown()
    shown.pop("password")
    shown["connection_id"] = shown.pop("conn_id")
    return shown


def conn_from_body(conn_id: str, body: dict[str, Any]) -> Connection:
    unknown = sorted(set(body) - CONNECTION_FIELDS - {"connection_id"})
    if unknown:
        known = ", ".join(sorted(CONNECTION_FIELDS))
        raise InvalidInputError(f"unknown field(s) {', '.join(unknown)}; the fields are connection_id, {known}")
    check_connection_fields(conn_id, body)
    return Connection.from_json(conn_id, {k: v for k, v in body.items() if k in CONNECTION_FIELDS})


@router.get("/connections", tags=["Connection"])
def list_connections(
    request: Request, page: Paging = Depends(paging), user: UserModel = Depends(needs(roles.READ, roles.CONNECTIONS))
) -> dict[str, Any]:
    conns = sorted(service(request).connections.list(), key=lambda c: c.conn_id)
    shown = conns[page.offset : page.offset + page.limit]  # decrypted one by one: there is no SQL to page in
    return {"connections": [conn_json(c) for c in shown], "total_entries": len(conns)}


@router.post("/connections", response_model=schemas.Connection, tags=["Connection"])
def add_connection(
    request: Request,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.CREATE, roles.CONNECTIONS)),
) -> dict[str, Any]:
    conn_id = body.get("connection_id")
    if not isinstance(conn_id, str) or not conn_id:
        raise InvalidInputError("connection_id is required")
    conn = conn_from_body(conn_id, body)
    service(request).save_connection(conn, replace=False)
    record_event(request, "connection.create", extra={"connection_id": conn_id})
    return conn_json(conn)


@router.post("/connections/test", response_model=schemas.ConnectionTest, tags=["Connection"])
def test_connection(
    request: Request,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.CREATE, roles.CONNECTIONS)),
) -> Any:
    """Whether the connection is well-formed (its type, port and extra JSON) and, for a docker connection,
    whether the engine its tasks use can log in to its registry: a scheduler logs in (the web server reaches
    no engine), and the answer says so when no scheduler answered. A body of only ``connection_id`` tests
    the stored connection (passwords are write-only, so a client cannot send it back)."""
    conn_id = body.get("connection_id") or "test_connection"
    svc = service(request)
    try:
        if set(body) == {"connection_id"}:
            conn = svc.connections.get(str(conn_id))
        else:
            conn = conn_from_body(str(conn_id), body)
        conn.extra_dejson  # noqa: B018 - an extra that is not a JSON object is the test's failure
    except (InvalidConnectionError, InvalidInputError) as exc:
        return {"status": False, "message": str(exc)}
    formed = f"connection {conn.conn_id!r} of type {conn.conn_type!r} is well-formed"
    login = login_test(svc.settings, svc.store, conn)
    if login is None:
        return {"status": True, "message": formed}
    return {"status": login.ok, "message": f"{formed}. {login.sentence}"}


@router.get("/connections/{conn_id}", response_model=schemas.Connection, tags=["Connection"])
def get_connection(
    request: Request, conn_id: str, user: UserModel = Depends(needs(roles.READ, roles.CONNECTIONS))
) -> dict[str, Any]:
    return conn_json(service(request).connections.get(conn_id))


@router.patch("/connections/{conn_id}", response_model=schemas.Connection, tags=["Connection"])
def patch_connection(
    request: Request,
    conn_id: str,
    update_mask: list[str] | None = Query(None),
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.CONNECTIONS)),
) -> dict[str, Any]:
    svc = service(request)
    current = svc.connections.get(conn_id).__dict__.copy()
    current.pop("conn_id")
    changes = {k: v for k, v in body.items() if k != "connection_id"}
    if update_mask is not None:
        changes = {k: v for k, v in changes.items() if k in update_mask}
    current.update(changes)
    conn = conn_from_body(conn_id, {k: v for k, v in current.items() if v is not None})
    svc.save_connection(conn, replace=True)
    record_event(request, "connection.edit", extra={"connection_id": conn_id})
    return conn_json(conn)


@router.delete("/connections/{conn_id}", status_code=204, tags=["Connection"])
def delete_connection(
    request: Request, conn_id: str, user: UserModel = Depends(needs(roles.DELETE, roles.CONNECTIONS))
) -> Response:
    service(request).connections.delete(conn_id)
    record_event(request, "connection.delete", extra={"connection_id": conn_id})
    return Response(status_code=204)


# -- variables ---------------------------------------------------------------------------------------
def variables_of(request: Request) -> Variables:
    svc = service(request)
    return Variables(svc.settings, svc.store)


@router.get("/variables", response_model=schemas.VariableCollection, tags=["Variable"])
def list_variables(
    request: Request, page: Paging = Depends(paging), user: UserModel = Depends(needs(roles.READ, roles.VARIABLES))
) -> dict[str, Any]:
    rows = variables_of(request).shown()  # decrypted one by one: there is no SQL to page in
    return {"variables": rows[page.offset : page.offset + page.limit], "total_entries": len(rows)}


@router.get("/variables/{key}", response_model=schemas.Variable, tags=["Variable"])
def get_variable(
    request: Request, key: str, user: UserModel = Depends(needs(roles.READ, roles.VARIABLES))
) -> dict[str, Any]:
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
        raise InvalidInputError('give {"key": "...", "value": "..."} (value as a string)')
    description = body.get("description")
    return key, value, description if isinstance(description, str) else None


@router.post("/variables", response_model=schemas.Variable, tags=["Variable"])
def add_variable(
    request: Request, body: dict[str, Any] = Body(...), user: UserModel = Depends(needs(roles.CREATE, roles.VARIABLES))
) -> dict[str, Any]:
    key, value, description = _variable_body(body)
    variables_of(request).set(key, value, description)
    record_event(request, "variable.create", extra={"key": key})
    return get_variable(request, key, user)


@router.patch("/variables/{key}", response_model=schemas.Variable, tags=["Variable"])
def patch_variable(
    request: Request,
    key: str,
    update_mask: list[str] | None = Query(None),
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.VARIABLES)),
) -> dict[str, Any]:
    _, value, description = _variable_body({"key": key, **body})
    variables = variables_of(request)
    variables.get(key)
    variables.set(key, value, description)
    record_event(request, "variable.edit", extra={"key": key})
    return get_variable(request, key, user)


@router.delete("/variables/{key}", status_code=204, tags=["Variable"])
def delete_variable(
    request: Request, key: str, user: UserModel = Depends(needs(roles.DELETE, roles.VARIABLES))
) -> Response:
    variables_of(request).delete(key)
    record_event(request, "variable.delete", extra={"key": key})
    return Response(status_code=204)


# -- pools -------------------------------------------------------------------------------------------
def pool_json(pool: PoolRecord) -> dict[str, Any]:
    occupied = pool.running + pool.queued
    return {
        "name": pool.name,
        "slots": pool.slots,
        "occupied_slots": occupied,
        "running_slots": pool.running,
        "queued_slots": pool.queued,
        "scheduled_slots": pool.scheduled,
        "open_slots": -1 if pool.slots == -1 else pool.slots - occupied,
        "deferred_slots": 0,
        "description": pool.description,
        "include_deferred": False,
    }


def one_pool(request: Request, name: str) -> dict[str, Any]:
    found = queries(request).pools(names=[name], limit=1).items
    if not found:
        from dockyard.errors import NotFoundError

        raise NotFoundError(f"no pool {name!r}; GET /pools lists them")
    return pool_json(found[0])


def _pool_body(body: dict[str, Any], *, name_required: bool) -> tuple[str | None, int | None, str | None]:
    unknown = sorted(set(body) - {"name", "slots", "description", "include_deferred"})
    if unknown:
        raise InvalidInputError(f"unknown field(s) {', '.join(unknown)}; a pool has name, slots, description")
    name, slots, description = body.get("name"), body.get("slots"), body.get("description")
    if (name_required or name is not None) and (not isinstance(name, str) or not name):
        raise InvalidInputError("name must be a non-empty string")
    if slots is not None and (not isinstance(slots, int) or isinstance(slots, bool)):
        raise InvalidInputError(f"slots must be an integer, not {slots!r}")
    if description is not None and not isinstance(description, str):
        raise InvalidInputError("description must be a string")
    return name, slots, description


@router.get("/pools", response_model=schemas.PoolCollection, tags=["Pool"])
def list_pools(
    request: Request, page: Paging = Depends(paging), user: UserModel = Depends(needs(roles.READ, roles.POOLS))
) -> Any:
    found = queries(request).pools(limit=page.limit, offset=page.offset)
    return {"pools": [pool_json(p) for p in found.items], "total_entries": found.total}


@router.get("/pools/{pool_name}", response_model=schemas.Pool, tags=["Pool"])
def get_pool(
    request: Request, pool_name: str, user: UserModel = Depends(needs(roles.READ, roles.POOLS))
) -> dict[str, Any]:
    return one_pool(request, pool_name)


@router.post("/pools", response_model=schemas.Pool, tags=["Pool"])
def add_pool(
    request: Request, body: dict[str, Any] = Body(...), user: UserModel = Depends(needs(roles.CREATE, roles.POOLS))
) -> Any:
    name, slots, description = _pool_body(body, name_required=True)
    if slots is None:
        raise InvalidInputError("slots is required")
    assert name is not None
    Changes(service(request).store).put_pool(name, slots, description, create=True)
    record_event(request, "pool.create", extra={"pool": name, "slots": slots})
    return one_pool(request, name)


@router.patch("/pools/{pool_name}", response_model=schemas.Pool, tags=["Pool"])
def patch_pool(
    request: Request,
    pool_name: str,
    update_mask: list[str] | None = Query(None),
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.POOLS)),
) -> Any:
    """Change a pool's slots or description, or rename it (not default_pool); ``update_mask`` limits the change."""
    if update_mask is not None:
        body = {k: v for k, v in body.items() if k in update_mask}
    name, slots, description = _pool_body(body, name_required=False)
    current = one_pool(request, pool_name)
    changes = Changes(service(request).store)
    if name is not None and name != pool_name:
        changes.rename_pool(pool_name, name)
    target = name or pool_name
    new_description = description if "description" in body else current["description"]
    changes.put_pool(target, current["slots"] if slots is None else slots, new_description, create=False)
    record_event(request, "pool.edit", extra={"pool": target})
    return one_pool(request, target)


@router.delete("/pools/{pool_name}", status_code=204, tags=["Pool"])
def delete_pool(
    request: Request, pool_name: str, user: UserModel = Depends(needs(roles.DELETE, roles.POOLS))
) -> Response:
    if pool_name == DEFAULT_POOL:
        raise InvalidInputError("Default Pool can't be deleted (every task without a pool uses it)")
    service(request).store.delete_pool(pool_name)
    record_event(request, "pool.delete", extra={"pool": pool_name})
    return Response(status_code=204)

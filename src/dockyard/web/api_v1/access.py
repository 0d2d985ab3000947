"""Users and roles. dockyard's roles are Airflow's five built-in ones with Airflow's permissions
(:mod:`dockyard.roles`); they are listed with Airflow's names and shapes and cannot be edited."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Query, Request, Response

from dockyard import roles
from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.store.models import UserModel
from dockyard.users import create_user
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import Paging, Router, admin_user, iso, paging, service
from dockyard.web.api_v1.events import record_event

router = Router(tags=["Role", "User"])
ROLE_NAMES = ", ".join(r.airflow_name for r in roles.Role)


def role_json(role: roles.Role) -> dict[str, Any]:
    return {
        "name": role.airflow_name,
        "actions": [{"action": {"name": a}, "resource": {"name": r}} for a, r in roles.PERMISSIONS[role]],
    }


def shown_role(stored: str) -> str:
    """A stored role under Airflow's spelling (``op`` -> ``Op``)."""
    try:
        return roles.Role(stored).airflow_name
    except ValueError:
        return stored


@router.get("/roles", response_model=schemas.RoleCollection)
def list_roles(page: Paging = Depends(paging), user: UserModel = Depends(admin_user)) -> dict[str, Any]:
    shown = list(roles.Role)[page.offset : page.offset + page.limit]
    return {"roles": [role_json(r) for r in shown], "total_entries": len(roles.Role)}


@router.get("/roles/{role_name}", response_model=schemas.Role)
def get_role(role_name: str, user: UserModel = Depends(admin_user)) -> dict[str, Any]:
    try:
        return role_json(roles.role_of(role_name))
    except ValueError as exc:
        raise NotFoundError(str(exc)) from None


def fixed_roles(role_name: str | None = None, user: UserModel = Depends(admin_user)) -> None:
    raise InvalidInputError(f"dockyard's roles are Airflow's built-in ones ({ROLE_NAMES}); give a user one of them")


router.post("/roles", status_code=200, response_model=schemas.Role)(fixed_roles)
router.patch("/roles/{role_name}", response_model=schemas.Role)(fixed_roles)
router.delete("/roles/{role_name}", status_code=204)(fixed_roles)


@router.get("/permissions")
def list_permissions(page: Paging = Depends(paging), user: UserModel = Depends(admin_user)) -> dict[str, Any]:
    """Each action with the resources some role grants it on (the Admin role holds all of them)."""
    granted = roles.PERMISSIONS[roles.Role.ADMIN]
    names = sorted({a for a, _ in granted})
    actions = [{"name": a, "resources": [{"name": r} for b, r in granted if b == a]} for a in names]
    return {"actions": actions[page.offset : page.offset + page.limit], "total_entries": len(actions)}


def user_json(row: UserModel) -> dict[str, Any]:
    names = {"first_name": row.first_name, "last_name": row.last_name, "email": row.email}
    return {
        **{k: v for k, v in names.items() if v},  # Airflow's schema takes no empty name or e-mail: absent instead
        "username": row.username,
        "active": True,
        "last_login": None,
        "login_count": None,
        "failed_login_count": None,
        "roles": [{"name": shown_role(row.role)}],
        "created_on": iso(row.created_at),
        "changed_on": iso(row.created_at),
    }


def _one_user(request: Request, username: str) -> UserModel:
    row = service(request).store.get_user(username)
    if row is None:
        raise NotFoundError(f"no user {username!r}; GET /users lists them")
    return row


@router.get("/users", response_model=schemas.UserCollection, response_model_exclude_unset=True)
def list_users(request: Request, page: Paging = Depends(paging), user: UserModel = Depends(admin_user)) -> Any:
    rows = service(request).store.list_users()  # a handful of people: no SQL paging needed
    return {"users": [user_json(u) for u in rows[page.offset : page.offset + page.limit]], "total_entries": len(rows)}


@router.get("/users/{username}", response_model=schemas.User, response_model_exclude_unset=True)
def get_user(request: Request, username: str, user: UserModel = Depends(admin_user)) -> dict[str, Any]:
    return user_json(_one_user(request, username))


def _role_of(body: dict[str, Any], default: str | None) -> str:
    given = body.get("roles")
    if given is None and default is not None:
        return default
    names = (
        [r.get("name") for r in given] if isinstance(given, list) and all(isinstance(r, dict) for r in given) else []
    )
    if len(names) != 1 or str(names[0]).lower() not in {r.value for r in roles.Role}:
        raise InvalidInputError(f'give "roles": [{{"name": ROLE}}] with one role of {ROLE_NAMES}')
    return str(names[0]).lower()


@router.post("/users", response_model=schemas.User, response_model_exclude_unset=True)
def add_user(request: Request, body: dict[str, Any] = Body(...), user: UserModel = Depends(admin_user)) -> Any:
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidInputError("username and password are required strings")
    row = create_user(
        service(request).store,
        username,
        password,
        _role_of(body, "viewer"),
        email=body.get("email"),
        first_name=body.get("first_name"),
        last_name=body.get("last_name"),
    )
    record_event(request, "user.create", extra={"username": username})
    return user_json(row)


@router.patch("/users/{username}", response_model=schemas.User, response_model_exclude_unset=True)
def patch_user(
    request: Request,
    username: str,
    update_mask: list[str] | None = Query(None),
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(admin_user),
) -> Any:
    """Change a user's names, e-mail or role (a new password only with ``password``); the username stays."""
    row = _one_user(request, username)
    if update_mask is not None:
        body = {k: v for k, v in body.items() if k in update_mask}
    if body.get("username", username) != username:
        raise InvalidInputError("a user's username cannot be changed; create a new user instead")
    store = service(request).store
    row.role = _role_of(body, row.role)
    for name in ("email", "first_name", "last_name"):
        if name in body:
            setattr(row, name, body[name])
    if isinstance(body.get("password"), str):  # a new hash and a new uid: old tokens and sessions end
        row = create_user(
            store,
            username,
            body["password"],
            row.role,
            email=row.email,
            first_name=row.first_name,
            last_name=row.last_name,
            replace=True,
        )
    else:
        store.put_user(row, replace=True)
    record_event(request, "user.edit", extra={"username": username})
    return user_json(row)


@router.delete("/users/{username}", status_code=204)
def delete_user(request: Request, username: str, user: UserModel = Depends(admin_user)) -> Response:
    _one_user(request, username)
    service(request).store.delete_user_and_credentials(username)
    record_event(request, "user.delete", extra={"username": username})
    return Response(status_code=204)

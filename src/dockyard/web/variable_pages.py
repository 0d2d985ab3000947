"""The variables pages: the list (sensitive values as ``***``), add and edit, a confirmed delete, and import
from and export to a JSON file in Airflow's format (``{"key": "value", ...}``).

A sensitive variable's value is never sent to the browser: its edit form starts empty (empty keeps it), and
the export writes it as ``***``. Importing such a file back keeps the stored value of each ``***``, so an
export of one installation imports into it without wiping its secrets.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile

from dockyard import roles
from dockyard.errors import DockyardError, InvalidInputError, NotFoundError
from dockyard.masking import is_sensitive_name
from dockyard.store.models import UserModel
from dockyard.variables import Variables
from dockyard.web.security import check_csrf, require
from dockyard.web.ui import back, flash, render, service, user_of

router = APIRouter()
MASK = "***"
IF_EXISTS = {"overwrite": "Overwrite it", "skip": "Keep the stored one", "fail": "Import nothing"}
"""What an import does with a key that is already stored (Airflow's ``action_if_exists``)."""


def variables_of(request: Request) -> Variables:
    return Variables(service(request).settings, service(request).store)


def _page(request: Request, user: UserModel, *, editing: dict[str, Any] | None = None) -> HTMLResponse:
    return render(
        request, "variables.html", user, variables=variables_of(request).shown(), editing=editing, if_exists=IF_EXISTS
    )


@router.get("/variables", response_class=HTMLResponse)
def variables_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    require(user, roles.READ, roles.VARIABLES)
    return _page(request, user)


@router.get("/variables/export")
def export_variables(request: Request) -> Response:
    """Every variable as ``{"key": "value"}`` in a file to download; sensitive values as ``***``."""
    require(user_of(request), roles.READ, roles.VARIABLES)
    data = {row["key"]: row["value"] for row in variables_of(request).shown()}
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="variables.json"'})


@router.get("/variables/{key}/edit", response_class=HTMLResponse)
def edit_variable(request: Request, key: str) -> HTMLResponse:
    user = user_of(request)
    require(user, roles.EDIT, roles.VARIABLES)
    value = variables_of(request).find(key)
    row = service(request).store.get_variable_row(key) if value is not None else None
    if value is None or row is None:
        raise NotFoundError(f"no variable {key!r}; the Variables page lists them")
    sensitive = is_sensitive_name(key)
    editing = {"key": key, "value": "" if sensitive else value, "description": row.description, "sensitive": sensitive}
    return _page(request, user, editing=editing)


@router.post("/variables")
def save_variable(
    request: Request,
    csrf: str = Form(""),
    key: str = Form(""),
    value: str = Form(""),
    description: str = Form(""),
    mode: str = Form("add"),
) -> Response:
    """Set a variable. Editing a sensitive one with the value left empty keeps its value."""
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.EDIT if mode == "edit" else roles.CREATE, roles.VARIABLES)
    variables = variables_of(request)
    try:
        if mode == "edit" and not value and is_sensitive_name(key):
            value = variables.get(key)
        variables.set(key, value, description or None)
    except DockyardError as exc:
        flash(request, str(exc))
    else:
        flash(request, f"Variable {key} was {'changed' if mode == 'edit' else 'saved'}.")
    return back("/variables")


def read_import(data: bytes) -> dict[str, str]:
    """The variables of an uploaded file: a JSON object, each value a string (anything else as its JSON)."""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(
            f'the file is not JSON ({str(exc)[:120]}); import a JSON object such as {{"key": "value"}}'
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidInputError(
            f'the file holds a JSON {type(parsed).__name__}; import a JSON object such as {{"key": "value"}}'
        )
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in parsed.items()}


@router.post("/variables/import")
async def import_variables(request: Request) -> Response:
    user = user_of(request)
    async with request.form() as form:  # closes the uploaded file's spool
        check_csrf(request, str(form.get("csrf", "")))
        require(user, roles.CREATE, roles.VARIABLES)  # as Airflow's import: can_create
        upload = form.get("file")
        if_exists = str(form.get("if_exists", "overwrite"))
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise InvalidInputError("choose a JSON file to import")
            if if_exists not in IF_EXISTS:
                raise InvalidInputError(f"if_exists {if_exists[:30]!r} is not one of {', '.join(IF_EXISTS)}")
            written, kept = _import(variables_of(request), read_import(await upload.read()), if_exists)
        except DockyardError as exc:
            flash(request, f"Import failed: {exc}")
        else:
            flash(request, f"{written} variable(s) imported" + (f", {kept} kept as stored." if kept else "."))
    return back("/variables")


def _import(variables: Variables, found: dict[str, str], if_exists: str) -> tuple[int, int]:
    """Write ``found``; returns how many were written and how many kept their stored value."""
    stored = {row.key for row in variables.store.list_variables()}
    clash = sorted(stored & set(found))
    if clash and if_exists == "fail":
        raise InvalidInputError(f"nothing was imported: these keys are already stored: {', '.join(clash)[:300]}")
    written = kept = 0
    for key, value in found.items():
        if key in stored and (if_exists == "skip" or (value == MASK and is_sensitive_name(key))):
            kept += 1  # a masked value stands for the stored one
            continue
        variables.set(key, value)
        written += 1
    return written, kept


@router.post("/variables/{key}/delete")
def delete_variable(request: Request, key: str, csrf: str = Form("")) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require(user, roles.DELETE, roles.VARIABLES)
    variables_of(request).delete(key)
    flash(request, f"Variable {key} was deleted.")
    return back("/variables")

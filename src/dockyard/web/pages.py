"""The UI: server-rendered pages (Jinja2), a small script for live logs. No build step."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from dockyard.connections import Connection
from dockyard.errors import DockyardError, InvalidConnectionError, InvalidParamsError, TooManyAttemptsError
from dockyard.mapping import combined_state
from dockyard.params import Param
from dockyard.serialized import SerializedDag
from dockyard.states import STATE_COLOURS
from dockyard.store.models import UserModel
from dockyard.variables import Variables
from dockyard.web.inputs import check_connection_fields
from dockyard.web.security import (
    check_csrf,
    client_address,
    csrf_token,
    end_session,
    guard,
    require_admin,
    session_user,
    start_session,
)
from dockyard.web.service import Service
from dockyard.web.source import mask_source

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
COLOURS = STATE_COLOURS


class LoginRequired(Exception):
    pass


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def user_of(request: Request) -> UserModel:
    user = session_user(service(request).store, request)
    if user is None:
        raise LoginRequired
    return user


def render(request: Request, name: str, user: UserModel | None, **context: Any) -> HTMLResponse:
    messages = request.session.pop("flash", None) or []
    context.update(request=request, user=user, csrf=csrf_token(request), colours=COLOURS, flashes=messages)
    return templates.TemplateResponse(request, name, context)


def flash(request: Request, message: str) -> None:
    """A message for the next page this session renders, kept in the signed session (never in the URL, so
    nobody can make a page show their words by sending a link)."""
    messages = list(request.session.get("flash") or [])[-4:]
    request.session["flash"] = [*messages, message[:500]]


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=next, error=None)


@router.post("/login")
def login(
    request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""), next: str = Form("/")
) -> Response:
    check_csrf(request, csrf)
    store = service(request).store
    try:
        user = guard(request).login(store, username, password, client_address(request))
    except TooManyAttemptsError as exc:
        response = render(request, "login.html", None, next=next, error=str(exc))
        response.status_code = 429
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        response = render(request, "login.html", None, next=next, error="Wrong username or password.")
        response.status_code = 401
        return response
    start_session(store, request, user)
    return back(next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/")


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    check_csrf(request, csrf)
    end_session(service(request).store, request)
    return back("/login")


@router.get("/", response_class=HTMLResponse)
def dags_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    svc = service(request)
    rows = []
    for dag in svc.store.list_dags():
        runs = svc.store.list_runs(dag.dag_id, limit=10)
        rows.append({"dag": dag, "runs": list(reversed(runs))})
    return render(request, "dags.html", user, rows=rows, errors=svc.store.list_import_errors())


@router.post("/dags/{dag_id}/pause")
def toggle_pause(request: Request, dag_id: str, csrf: str = Form(""), paused: str = Form("")) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require_admin(user)
    service(request).store.set_paused(dag_id, paused == "true")
    return back("/")


def graph_svg(structure: dict[str, Any], states: dict[str, str | None], link: str | None) -> str:
    """The DAG as an SVG: tasks in columns by dependency depth, boxes coloured by state, edges as curves."""
    tasks = structure.get("tasks", [])
    depth: dict[str, int] = {}
    for task in tasks:  # stored in dependency order
        depth[task["task_id"]] = 1 + max((depth.get(u, 0) for u in task["upstream"]), default=-1)
    columns: dict[int, list[str]] = {}
    for task_id, d in depth.items():
        columns.setdefault(d, []).append(task_id)
    width, height, gap_x, gap_y = 170, 34, 60, 16
    pos = {
        t: (d * (width + gap_x) + 10, i * (height + gap_y) + 10)
        for d, ids in columns.items()
        for i, t in enumerate(ids)
    }
    total_w = (max(columns, default=0) + 1) * (width + gap_x) + 20
    total_h = max((len(ids) for ids in columns.values()), default=1) * (height + gap_y) + 20
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" role="img" aria-label="DAG graph">'
    ]
    for task in tasks:
        x2, y2 = pos[task["task_id"]]
        for up in task["upstream"]:
            x1, y1 = pos[up]
            sx, sy, ex, ey = x1 + width, y1 + height / 2, x2, y2 + height / 2
            parts.append(f'<path class="edge" d="M{sx},{sy} C{sx + 30},{sy} {ex - 30},{ey} {ex},{ey}" />')
    for task in tasks:
        task_id = task["task_id"]
        x, y = pos[task_id]
        state = states.get(task_id)
        label = html.escape(task_id if len(task_id) <= 22 else task_id[:21] + "…")
        box = (
            f'<g class="node" data-task="{html.escape(task_id)}" data-state="{state or "none"}">'
            f"<title>{html.escape(task_id)}: {state or 'no state'}</title>"
            f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6" fill="{COLOURS.get(state, "#e5e7eb")}" />'
            f'<text x="{x + 10}" y="{y + 22}">{label}</text></g>'
        )
        if link:
            box = f'<a href="{link}/tasks/{quote(task_id)}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return "".join(parts)


def param_fields(dag: SerializedDag) -> list[dict[str, Any]]:
    fields = []
    for name, value in dag.param_objects().items():
        param = value if isinstance(value, Param) else Param(value)
        kind = param.schema.get("type", "string")
        kind = kind if isinstance(kind, str) else kind[0]
        fields.append(
            {
                "name": name,
                "value": ""
                if param.value is None
                else json.dumps(param.value)
                if kind in ("array", "object")
                else str(param.value).lower()
                if kind == "boolean"
                else param.value,
                "kind": kind,
                "enum": param.schema.get("enum"),
                "description": param.description,
            }
        )
    return fields


def coerce(kind: str, raw: str) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        return raw.lower() in ("true", "on", "1", "yes")
    if kind in ("array", "object"):
        return json.loads(raw)
    return raw


@router.get("/dags/{dag_id}", response_class=HTMLResponse)
def dag_page(request: Request, dag_id: str, run_id: str | None = None) -> HTMLResponse:
    user = user_of(request)
    svc = service(request)
    row = svc.store.get_dag(dag_id)
    runs = svc.store.list_runs(dag_id, limit=25)
    selected = next((r for r in runs if r.run_id == run_id), runs[0] if runs else None)
    selected_tis = svc.store.list_task_instances(dag_id, selected.run_id) if selected else []
    tis = {t.task_id: t for t in selected_tis}
    link = f"/dags/{quote(dag_id)}/runs/{quote(selected.run_id, safe='')}" if selected else None
    svg = graph_svg(row.structure, task_states(selected_tis), link)
    grid_runs = list(reversed(runs[:15]))
    grid = {r.run_id: task_states(svc.store.list_task_instances(dag_id, r.run_id)) for r in grid_runs}
    gantt = []
    if selected and selected.start_date:
        start = selected.start_date
        end = selected.end_date or dt.datetime.now(dt.timezone.utc)
        span = max((end - start).total_seconds(), 0.001)
        for task in row.structure.get("tasks", []):
            ti = tis.get(task["task_id"])
            if ti and ti.start_date:
                t_end = ti.end_date or dt.datetime.now(dt.timezone.utc)
                left = max((ti.start_date - start).total_seconds() / span * 100, 0)
                gantt.append(
                    {
                        "task_id": ti.task_id,
                        "state": ti.state,
                        "left": round(left, 2),
                        "width": round(max((t_end - ti.start_date).total_seconds() / span * 100, 0.5), 2),
                        "seconds": round((t_end - ti.start_date).total_seconds(), 1),
                    }
                )
    try:
        source = mask_source(Path(row.fileloc).read_text())
    except (OSError, UnicodeDecodeError):
        source = "(the DAG file cannot be read)"
    try:
        fields = param_fields(svc.dag(dag_id))
    except DockyardError:
        fields = []
    kept = request.session.pop("problems", None)
    problems = kept.get("fields", {}) if isinstance(kept, dict) and kept.get("dag_id") == dag_id else {}
    return render(
        request,
        "dag.html",
        user,
        dag=row,
        runs=runs,
        selected=selected,
        svg=svg,
        grid_runs=grid_runs,
        grid=grid,
        tasks=row.structure.get("tasks", []),
        gantt=gantt,
        source=source,
        fields=fields,
        problems=problems,
    )


@router.post("/dags/{dag_id}/trigger")
async def trigger_form(request: Request, dag_id: str) -> Response:
    user = user_of(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    require_admin(user)
    svc = service(request)
    dag = svc.dag(dag_id)
    conf: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in param_fields(dag):
        raw = str(form.get(f"param_{field['name']}", ""))
        try:
            conf[field["name"]] = coerce(field["kind"], raw)
        except (ValueError, json.JSONDecodeError):
            problems[field["name"]] = f"{raw!r} is not a valid {field['kind']}"
    if not problems:
        try:
            run = svc.trigger(dag_id, conf)
        except InvalidParamsError as exc:
            message = str(exc)
            name = next((f["name"] for f in param_fields(dag) if f"param '{f['name']}'" in message), "_")
            problems[name] = message.split(": ", 1)[-1]
        else:
            return back(f"/dags/{quote(dag_id)}?run_id={quote(run.run_id, safe='')}")
    request.session["problems"] = {"dag_id": dag_id, "fields": {k: v[:500] for k, v in problems.items()}}
    return back(f"/dags/{quote(dag_id)}")


def task_states(tis: list[Any]) -> dict[str, str | None]:
    """One state per task: a mapped task's instances combined (a failed instance shows as failed)."""
    found: dict[str, list[str | None]] = {}
    for ti in tis:
        found.setdefault(ti.task_id, []).append(ti.state)
    return {task_id: combined_state(states) for task_id, states in found.items()}


MAPPED_SHOWN = 1000
"""The most instances of a mapped task its page lists (the API's listMapped pages through all of them)."""


@router.get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
def task_page(
    request: Request, dag_id: str, run_id: str, task_id: str, try_number: int | None = None, map_index: int = -1
) -> HTMLResponse:
    user = user_of(request)
    svc = service(request)
    mapped, total = svc.store.list_mapped(dag_id, run_id, task_id, limit=MAPPED_SHOWN)
    if total and map_index < 0:  # an expanded mapped task: how many instances, and each one's state
        summary = SimpleNamespace(task_id=task_id, state=combined_state([t.state for t in mapped]), rendered=None)
        return render(
            request, "task.html", user, ti=summary, mapped=mapped, total=total, tries=[], dag_id=dag_id, run_id=run_id
        )
    ti = svc.store.get_task_instance(dag_id, run_id, task_id, map_index)
    tries = svc.store.list_tries(dag_id, run_id, task_id, map_index)
    number = try_number or ti.try_number or 1
    attempt = next((t for t in tries if t.try_number == number), None)
    rows = [x for x in svc.store.list_xcoms(dag_id, run_id, task_id) if x.map_index == map_index]
    xcoms = [(x.key, json.dumps(x.value, indent=2)) for x in rows]
    return render(
        request,
        "task.html",
        user,
        ti=ti,
        tries=tries,
        number=number,
        attempt=attempt,
        xcoms=xcoms,
        rendered=json.dumps(ti.rendered or {}, indent=2),
        dag_id=dag_id,
        run_id=run_id,
        total=total,
    )


@router.post("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/action")
def task_action(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    csrf: str = Form(""),
    action: str = Form(""),
    map_index: int = Form(-1),
) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require_admin(user)
    svc = service(request)
    if action == "clear":
        svc.clear(dag_id, run_id, [task_id], [map_index] if map_index >= 0 else None)
    elif action in ("success", "failed"):
        svc.set_state(dag_id, run_id, task_id, action)
    elif action == "stop":
        svc.set_state(dag_id, run_id, task_id, "failed")
    else:
        raise HTTPException(status_code=400, detail=f"action {action!r} is not one of clear, success, failed, stop")
    instance = f"?map_index={map_index}" if map_index >= 0 else ""
    return back(f"/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}{instance}")


@router.get("/connections", response_class=HTMLResponse)
def connections_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    require_admin(user)
    conns = [c.shown() for c in service(request).connections.list()]
    return render(request, "connections.html", user, conns=conns)


@router.post("/connections")
def save_connection(
    request: Request,
    csrf: str = Form(""),
    conn_id: str = Form(""),
    conn_type: str = Form("docker"),
    host: str = Form(""),
    port: str = Form(""),
    login: str = Form(""),
    password: str = Form(""),
    extra: str = Form(""),
    description: str = Form(""),
) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require_admin(user)
    try:
        check_connection_fields(
            conn_id or "?", {"conn_type": conn_type, "host": host, "port": port, "description": description}
        )
        conn = Connection.from_json(
            conn_id or "?",
            {
                "conn_type": conn_type or None,
                "host": host or None,
                "port": port or None,
                "login": login or None,
                "password": password or None,
                "extra": extra or None,
                "description": description or None,
            },
        )
        if not conn_id:
            raise InvalidConnectionError("give the connection an id")
        service(request).save_connection(conn, replace=True)
    except DockyardError as exc:
        flash(request, str(exc))
    return back("/connections")


@router.post("/connections/{conn_id}/delete")
def delete_connection(request: Request, conn_id: str, csrf: str = Form("")) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require_admin(user)
    service(request).connections.delete(conn_id)
    return back("/connections")


@router.get("/variables", response_class=HTMLResponse)
def variables_page(request: Request) -> HTMLResponse:
    user = user_of(request)
    return render(request, "variables.html", user, variables=variables_of(request).shown())


def variables_of(request: Request) -> Variables:
    return Variables(service(request).settings, service(request).store)


@router.post("/variables")
def save_variable(
    request: Request, csrf: str = Form(""), key: str = Form(""), value: str = Form(""), description: str = Form("")
) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require_admin(user)
    try:
        variables_of(request).set(key, value, description or None)
    except DockyardError as exc:
        flash(request, str(exc))
    return back("/variables")


@router.post("/variables/{key}/delete")
def delete_variable(request: Request, key: str, csrf: str = Form("")) -> Response:
    user = user_of(request)
    check_csrf(request, csrf)
    require_admin(user)
    variables_of(request).delete(key)
    return back("/variables")

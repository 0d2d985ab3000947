"""Runs and task instances: the run list (filtered by DAG, state, type and date), a run's details, a task
instance's page with its live log, and the actions on them behind a confirmation dialog that lists every
change before it is made.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from dockyard.errors import DockyardError
from dockyard.states import RunState
from dockyard.store.models import DagRunModel, TaskInstanceModel
from dockyard.store.views import RunFilter, run_page
from dockyard.web.run_actions import carry_out, options_from, plan_action, right_for
from dockyard.web.security import check_csrf, require
from dockyard.web.ui import back, flash, is_fragment, pages_of, render, service, user_of
from dockyard.web.waiting import NOT_STARTED, why_waiting

router = APIRouter()
RUNS_PER_PAGE = 50
RUN_TYPES = ("manual", "scheduled", "backfill", "dataset_triggered")


def _day(raw: str, name: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{name} {raw!r} is not a date such as 2024-01-31") from None


def _next_day(day: dt.datetime | None) -> dt.datetime | None:
    """The end of a "to" date: runs on that day are included."""
    return day + dt.timedelta(days=1) if day else None


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    dag_id: str = "",
    state: str = "",
    run_type: str = "",
    since: str = "",
    until: str = "",
    offset: int = 0,
) -> HTMLResponse:
    user = user_of(request)
    store = service(request).store
    if state and state not in {s.value for s in RunState}:
        raise HTTPException(status_code=400, detail=f"state {state!r} is not one of queued, running, success, failed")
    wanted = RunFilter(
        dag_id=dag_id or None,
        states=[state] if state else [],
        run_type=run_type or None,
        since=_day(since, "since"),
        until=_next_day(_day(until, "until")),
    )
    found = run_page(store, wanted, offset=max(offset, 0), limit=RUNS_PER_PAGE)
    context: dict[str, Any] = {
        "runs": found.rows,
        "paging": pages_of(found.total, found.offset, found.limit),
        "filters": {"dag_id": dag_id, "state": state, "run_type": run_type, "since": since, "until": until},
        "run_states": [s.value for s in RunState],
        "run_types": RUN_TYPES,
    }
    if is_fragment(request):
        return render(request, "runs_rows.html", user, **context)
    return render(request, "runs.html", user, dag_ids=[d.dag_id for d in store.list_dags()], **context)


def timeline(run: DagRunModel, tis: list[TaskInstanceModel]) -> list[dict[str, Any]]:
    """Each started task as a bar across the run's span (left and width in percent), for the run's timeline."""
    if run.start_date is None:
        return []
    now = dt.datetime.now(dt.timezone.utc)
    start, end = run.start_date, run.end_date or now
    span = max((end - start).total_seconds(), 0.001)
    bars = []
    for ti in sorted((t for t in tis if t.start_date), key=lambda t: t.start_date or now):
        began = ti.start_date or now
        seconds = ((ti.end_date or now) - began).total_seconds()
        bars.append(
            {
                "task_id": ti.task_id,
                "state": str(ti.state) if ti.state else None,
                "left": round(max((began - start).total_seconds() / span * 100, 0), 2),
                "width": round(min(max(seconds / span * 100, 0.5), 100), 2),
                "seconds": round(seconds, 1),
            }
        )
    return bars


@router.get("/dags/{dag_id}/runs/{run_id}", response_class=HTMLResponse)
def run_details(request: Request, dag_id: str, run_id: str) -> HTMLResponse:
    user = user_of(request)
    store = service(request).store
    run = store.get_run(dag_id, run_id)
    tis = store.list_task_instances(dag_id, run_id)
    template = "run_tasks.html" if is_fragment(request) else "run.html"
    conf = json.dumps(run.conf or {}, indent=2)
    return render(request, template, user, run=run, tis=tis, conf=conf, bars=timeline(run, tis))


@router.get("/dags/{dag_id}/runs/{run_id}/confirm", response_class=HTMLResponse)
def confirm(request: Request, dag_id: str, run_id: str, action: str, task_id: str | None = None) -> HTMLResponse:
    """The dry run: what an action would change, with its options; the dialog's Confirm carries it out."""
    user = user_of(request)
    require(user, *right_for(action, task_id or None))
    svc = service(request)
    dag = svc.dag(dag_id)
    options = options_from(
        request.query_params.multi_items(), first_time="options" not in request.query_params, action=action
    )
    plan = plan_action(svc.store, dag, action, run_id, task_id=task_id or None, options=options)
    template = "confirm_body.html" if is_fragment(request) else "confirm.html"
    return render(request, template, user, plan=plan, dag_id=dag_id)


@router.post("/dags/{dag_id}/runs/{run_id}/act")
async def act(request: Request, dag_id: str, run_id: str) -> Response:
    user = user_of(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    action = str(form.get("action", ""))
    task_id = str(form.get("task_id", "")) or None
    require(user, *right_for(action, task_id))
    svc = service(request)
    dag = svc.dag(dag_id)
    options = options_from([(k, str(v)) for k, v in form.multi_items()], first_time=False, action=action)
    plan = plan_action(svc.store, dag, action, run_id, task_id=task_id, options=options)
    changed = carry_out(svc.settings, svc.store, dag, plan)
    if action == "delete":
        flash(request, f"Run {run_id} of {dag_id} was deleted.")
        target = f"/dags/{quote(dag_id)}"
    else:
        flash(request, f"{ACTION_NAMES[action]}: {changed} task instance(s) changed.")
        target = f"/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
        if task_id:
            target += f"/tasks/{quote(task_id)}"
    if is_fragment(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return back(target)


ACTION_NAMES = {
    "clear": "Clear",
    "success": "Mark success",
    "failed": "Mark failed",
    "delete": "Delete",
    "stop": "Stop",
}


MAPPED_SHOWN = 1000
"""The most instances of a mapped task its page lists (the API's listMapped pages through all of them)."""


@router.get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
def task_page(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int | None = None,
    panel: bool = False,
    map_index: int = -1,
) -> HTMLResponse:
    """The task instance's page; as a fragment, its summary (``panel``: for the box beside the grid). A mapped
    task's page lists its instances; ``map_index`` shows one of them."""
    user = user_of(request)
    svc = service(request)
    mapped, total = svc.store.list_mapped(dag_id, run_id, task_id, limit=MAPPED_SHOWN)
    if total and map_index < 0:
        shown: dict[str, Any] = {"task_id": task_id, "mapped": mapped, "total": total}
        return render(request, "task_mapped.html", user, dag_id=dag_id, run_id=run_id, **shown)
    ti = svc.store.get_task_instance(dag_id, run_id, task_id, map_index)
    tries = svc.store.list_tries(dag_id, run_id, task_id, map_index)
    number = try_number or ti.try_number or 1
    attempt = next((t for t in tries if t.try_number == number), None)
    rows = [x for x in svc.store.list_xcoms(dag_id, run_id, task_id) if x.map_index == map_index]
    xcoms = [(x.key, json.dumps(x.value, indent=2)) for x in rows]
    context: dict[str, Any] = {
        **_container_and_wait(request, ti),
        "map_index": map_index,
        "total": total,
        "panel": panel,
        "ti": ti,
        "tries": tries,
        "number": number,
        "attempt": attempt,
        "dag_id": dag_id,
        "run_id": run_id,
    }
    if is_fragment(request):
        return render(request, "task_summary.html", user, **context)
    return render(request, "task.html", user, xcoms=xcoms, rendered=json.dumps(ti.rendered or {}, indent=2), **context)


def _container_and_wait(request: Request, ti: TaskInstanceModel) -> dict[str, Any]:
    """The panel's extras: the image the last try rendered, and why the task instance is not running yet."""
    svc = service(request)
    image = (ti.rendered or {}).get("image")
    waiting = None
    if ti.state is None or str(ti.state) in NOT_STARTED:
        try:
            dag = svc.dag(ti.dag_id)
            waiting = why_waiting(svc.store, dag, svc.store.get_run(ti.dag_id, ti.run_id), ti)
        except DockyardError:  # the DAG is gone or no longer has the task: nothing to explain
            waiting = None
    return {"image": image if isinstance(image, str) else None, "waiting": waiting}


@router.get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/log/{try_number}")
def log_chunk(
    request: Request, dag_id: str, run_id: str, task_id: str, try_number: int, offset: int = 0, map_index: int = -1
) -> JSONResponse:
    """The live log's next piece from byte ``offset`` (app.js asks again while ``finished`` is false)."""
    user_of(request)
    text, next_offset, done = service(request).log(dag_id, run_id, task_id, try_number, max(offset, 0), map_index)
    return JSONResponse({"content": text, "offset": next_offset, "finished": done})


@router.get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/log/{try_number}/download")
def log_download(request: Request, dag_id: str, run_id: str, task_id: str, try_number: int) -> PlainTextResponse:
    user_of(request)
    svc = service(request)
    parts, offset = [], 0
    while True:
        text, offset, _ = svc.log(dag_id, run_id, task_id, try_number, offset)
        if not text:
            break
        parts.append(text)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{dag_id}-{run_id}-{task_id}-{try_number}.log")
    return PlainTextResponse("".join(parts), headers={"Content-Disposition": f'attachment; filename="{name}"'})

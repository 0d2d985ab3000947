"""A DAG's page: its header (on/off, schedule, next and last run), doc_md, the grid of runs and tasks, the
graph, the trigger form and the source. The grid and the graph's states refresh in place; the trigger form
is never redrawn by a refresh, so what a person types stays.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dockyard import roles
from dockyard.errors import DockyardError
from dockyard.serialized import SerializedDag
from dockyard.store import Store
from dockyard.store.dag_views import mapped_counts, mapped_states
from dockyard.store.models import DagModel, DagRunModel, UserModel
from dockyard.store.views import RunFilter, run_page, task_states
from dockyard.web.security import check_csrf, require
from dockyard.web.source import mask_source
from dockyard.web.trigger_form import param_fields, read_form
from dockyard.web.ui import back, is_fragment, pages_of, render, service, user_of

router = APIRouter()
RUNS_PER_GRID = 25


def task_rows(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid's rows: each TaskGroup (a dotted prefix of task ids, as TaskGroup names its tasks) as a row
    of its own before its first task, and each task indented under its groups.

    Example: ``["a", "g.b", "g.c"]`` gives rows ``a``, group ``g``, ``g.b``, ``g.c``.
    """
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for task in tasks:
        parts = task["task_id"].split(".")
        for depth in range(1, len(parts)):
            group = ".".join(parts[:depth])
            if group not in seen:
                seen.add(group)
                rows.append(
                    {
                        "group": True,
                        "id": group,
                        "label": parts[depth - 1],
                        "depth": depth - 1,
                        "parents": [".".join(parts[:d]) for d in range(1, depth)],
                    }
                )
        rows.append(
            {
                "group": False,
                "id": task["task_id"],
                "label": parts[-1],
                "depth": len(parts) - 1,
                "parents": [".".join(parts[:d]) for d in range(1, len(parts))],
                "mapped": task.get("mapping") is not None,
            }
        )
    return rows


STATE_WEIGHT = ("failed", "upstream_failed", "up_for_retry", "running", "queued", "scheduled", "success", "skipped")


def group_state(states: list[str | None]) -> str | None:
    """A group's cell: its most telling member state (a failure first, then work in progress)."""
    for state in STATE_WEIGHT:
        if state in states:
            return state
    return None


def mapped_cell(counts: dict[str, int]) -> dict[str, Any]:
    """A mapped task's grid cell from how many of its instances have each state: the count that succeeded of
    the total, the most telling state (as a group's cell), and the stacked bar's segments in that order.

    Example: ``{"success": 3, "running": 2}`` gives the label ``3/5``, state ``running`` and segments
    ``[("running", 2, 40.0), ("success", 3, 60.0)]``; ``{"success": 5}`` gives ``5/5 ✓``.
    """
    total = sum(counts.values())
    order = [*STATE_WEIGHT, *sorted(set(counts) - set(STATE_WEIGHT))]
    segments = [(state, counts[state], round(100 * counts[state] / total, 1)) for state in order if state in counts]
    done = counts.get("success", 0)
    return {
        "total": total,
        "done": done,
        "state": group_state(list(counts)) or "none",
        "segments": segments,
        "label": f"{done}/{total}" + (" ✓" if done == total else ""),
        "title": f"{total} mapped instances: " + ", ".join(f"{count} {state}" for state, count, _ in segments),
    }


def _selected_run(svc_store: Store, dag_id: str, run_id: str | None, grid: list[DagRunModel]) -> DagRunModel | None:
    if run_id:
        return svc_store.get_run(dag_id, run_id)  # unknown: a 404 page naming the way to list runs
    return grid[-1] if grid else None


def _cell_state(
    tis: dict[tuple[str, str], Any], mapped: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str]
) -> str | None:
    """A task's state in a run: a mapped task's most telling instance state, else its task instance's state."""
    if key in mapped:
        state = str(mapped[key]["state"])
        return None if state == "none" else state
    ti = tis.get(key)
    return str(ti.state) if ti is not None and ti.state else None


def grid_context(request: Request, dag: DagModel, offset: int, run_id: str | None) -> dict[str, Any]:
    store = service(request).store
    found = run_page(store, RunFilter(dag_id=dag.dag_id), offset=max(offset, 0), limit=RUNS_PER_GRID)
    runs = list(reversed(found.rows))  # oldest on the left, as in Airflow's grid
    selected = _selected_run(store, dag.dag_id, run_id, runs)
    tis = task_states(store, dag.dag_id, [r.run_id for r in runs])
    # A mapped task is one row; its cell counts its instances by state (one grouped query for the grid).
    mapped = {
        key: mapped_cell(counts) for key, counts in mapped_states(store, dag.dag_id, [r.run_id for r in runs]).items()
    }
    tasks = dag.structure.get("tasks", [])
    rows = task_rows(tasks)
    cells: dict[tuple[str, str], str | None] = {}
    for run in runs:
        for row in rows:
            if row["group"]:
                members = [t["task_id"] for t in tasks if t["task_id"].startswith(row["id"] + ".")]
                states = [_cell_state(tis, mapped, (run.run_id, m)) for m in members]
                cells[(run.run_id, row["id"])] = group_state(states)
            else:
                cells[(run.run_id, row["id"])] = _cell_state(tis, mapped, (run.run_id, row["id"]))
    return {
        "dag": dag,
        "runs": runs,
        "selected": selected,
        "rows": rows,
        "cells": cells,
        "mapped": mapped,
        "offset": found.offset,
        "paging": pages_of(found.total, found.offset, found.limit),
        "live": any(str(r.state) in ("queued", "running") for r in runs),
    }


@router.get("/dags/{dag_id}", response_class=HTMLResponse)
def dag_page(request: Request, dag_id: str, run_id: str | None = None, offset: int = 0) -> HTMLResponse:
    user = user_of(request)
    dag = service(request).store.get_dag(dag_id)  # unknown: the 404 page
    context = grid_context(request, dag, offset, run_id)
    if is_fragment(request):
        return render(request, "dag_grid.html", user, **context)
    return _full_page(request, user, dag, context, sent=None, problems={})


def _full_page(
    request: Request,
    user: UserModel,
    dag: DagModel,
    context: dict[str, Any],
    *,
    sent: dict[str, Any] | None,
    problems: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    svc = service(request)
    try:
        source = mask_source(Path(dag.fileloc).read_text())
    except (OSError, UnicodeDecodeError):
        source = "(the DAG file cannot be read)"
    try:
        fields = param_fields(svc.dag(dag.dag_id), sent)
    except DockyardError:
        fields = []
    return render(
        request,
        "dag.html",
        user,
        status=status,
        source=source,
        fields=fields,
        problems=problems,
        sent=sent or {},
        doc_md=dag.structure.get("doc_md"),
        **context,
    )


@router.get("/dags/{dag_id}/graph.json")
def graph_data(request: Request, dag_id: str, run_id: str | None = None) -> JSONResponse:
    """The graph's tasks and dependencies (laid out in the browser by dagre) and the states of one run."""
    user_of(request)
    store = service(request).store
    dag = store.get_dag(dag_id)
    run = store.get_run(dag_id, run_id) if run_id else next(iter(store.list_runs(dag_id, limit=1)), None)
    states = {}
    counts: dict[str, int] = {}
    if run is not None:
        states = {t.task_id: str(t.state) if t.state else None for t in store.list_task_instances(dag_id, run.run_id)}
        counts = mapped_counts(store, dag_id, run.run_id)
    tasks = [
        {
            "id": t["task_id"],
            "upstream": t["upstream"],
            "operator": t.get("operator"),
            "state": states.get(t["task_id"]),
            # a mapped task: how many instances this run has (None until it is expanded)
            "mapped": t.get("mapping") is not None,
            "count": counts.get(t["task_id"]),
        }
        for t in dag.structure.get("tasks", [])
    ]
    labels = [
        {"from": up, "to": down, "label": str(info["label"])}
        for up, targets in (dag.structure.get("edge_info") or {}).items()
        for down, info in targets.items()
        if info.get("label")
    ]
    return JSONResponse(
        {
            "tasks": tasks,
            "labels": labels,
            "run_id": run.run_id if run else None,
            "run_state": str(run.state) if run else None,
        }
    )


@router.post("/dags/{dag_id}/trigger")
async def trigger_form(request: Request, dag_id: str) -> Response:
    """Trigger a run from the form; on any problem the page comes back with every problem beside its field
    and every value as it was sent."""
    user = user_of(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    require(user, roles.CREATE, roles.DAG_RUNS)
    svc = service(request)
    serialized: SerializedDag = svc.dag(dag_id)
    sent: dict[str, Any] = {key: [str(v) for v in form.getlist(key)] for key in form.keys()}
    conf, problems = read_form(serialized, sent)
    run_id = str(form.get("run_id", "")).strip() or None
    logical_date = None
    raw_date = str(form.get("logical_date", "")).strip()
    if raw_date:
        try:
            logical_date = dt.datetime.fromisoformat(raw_date)
            if logical_date.tzinfo is None:
                logical_date = logical_date.replace(tzinfo=dt.timezone.utc)
        except ValueError:
            problems["_logical_date"] = f"{raw_date!r} is not a date and time such as 2024-01-31T00:00"
    if not problems:
        try:
            run = svc.trigger(dag_id, conf, run_id=run_id, logical_date=logical_date)
        except DockyardError as exc:
            problems["_run"] = str(exc)[:500]
        else:
            return back(f"/dags/{quote(dag_id)}?run_id={quote(run.run_id, safe='')}")
    dag = svc.store.get_dag(dag_id)
    flat = {key: values[-1] if len(values) == 1 else values for key, values in sent.items()}
    return _full_page(request, user, dag, grid_context(request, dag, 0, None), sent=flat, problems=problems, status=400)

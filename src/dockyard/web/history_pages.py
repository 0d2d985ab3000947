"""A DAG's history views, as Airflow's "Duration" and "Calendar" tabs: each task's duration over the latest
runs as a line chart, and the runs of each day of a year as a calendar. Both are SVG drawn here, on the
server, from grouped SQL queries (:mod:`dockyard.store.dag_views`): no chart library, nothing to download.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from dockyard.store.dag_views import Durations, run_years, runs_per_day, task_durations
from dockyard.web.ui import render, seconds_text, service, user_of

router = APIRouter()

DURATION_RUNS = (10, 25, 50, 100)
"""How many of the latest runs the duration chart can show (Airflow's "Number of runs" choices)."""
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 800, 300, 56, 40
PALETTE = ("#1d4ed8", "#b91c1c", "#15803d", "#a16207", "#7e22ce", "#0e7490", "#be185d", "#4d7c0f", "#c2410c", "#334155")
"""Line colours, each with at least 3:1 contrast on white and on the dark panel's legend chip border."""
DAY_STATES = ("failed", "running", "queued", "success")
"""A calendar day's colour: its most telling run state, a failure first."""
CELL = 13


@dataclass(frozen=True)
class Line:
    task_id: str
    colour: str
    points: list[dict[str, Any]]
    """Each point: ``x``, ``y`` in the chart's coordinates, ``run_id``, ``seconds``, ``text``."""
    last: str
    mean: str
    longest: str

    @property
    def path(self) -> str:
        return " ".join(f"{p['x']:.1f},{p['y']:.1f}" for p in self.points)


def duration_chart(found: Durations, task_ids: list[str]) -> dict[str, Any]:
    """The chart's lines, axis ticks and each task's summary (last, mean and longest duration)."""
    top = max(found.seconds.values(), default=0.0) or 1.0
    span_x = CHART_WIDTH - CHART_LEFT - 44  # room for the last date's label
    step = span_x / max(len(found.runs) - 1, 1)
    plot_h = CHART_HEIGHT - CHART_BOTTOM - 12

    def y_of(seconds: float) -> float:
        return 12 + plot_h - seconds / top * plot_h

    lines = []
    for n, task_id in enumerate(task_ids):
        points: list[dict[str, Any]] = []
        for i, run in enumerate(found.runs):
            seconds = found.seconds.get((task_id, run.run_id))
            if seconds is not None:
                x = CHART_LEFT + (i * step if len(found.runs) > 1 else span_x / 2)
                text = seconds_text(seconds)
                points.append({"x": x, "y": y_of(seconds), "run_id": run.run_id, "seconds": seconds, "text": text})
        if not points:
            continue
        values = [float(p["seconds"]) for p in points]
        lines.append(
            Line(
                task_id=task_id,
                colour=PALETTE[n % len(PALETTE)],
                points=points,
                last=points[-1]["text"],
                mean=seconds_text(statistics.fmean(values)),
                longest=seconds_text(max(values)),
            )
        )
    ticks = [{"y": y_of(top * k / 4), "text": seconds_text(top * k / 4)} for k in range(5)]
    labels = []
    every = max(-(-len(found.runs) // 6), 1)  # at most six dates under the axis
    for i, run in enumerate(found.runs):
        if i % every == 0:
            x = CHART_LEFT + (i * step if len(found.runs) > 1 else span_x / 2)
            labels.append({"x": x, "text": run.logical_date.strftime("%Y-%m-%d")})
    return {
        "lines": lines,
        "ticks": ticks,
        "labels": labels,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "bottom": CHART_HEIGHT - CHART_BOTTOM,
    }


@router.get("/dags/{dag_id}/duration", response_class=HTMLResponse)
def duration_page(request: Request, dag_id: str, runs: int = 25) -> HTMLResponse:
    user = user_of(request)
    store = service(request).store
    dag = store.get_dag(dag_id)  # unknown: the 404 page
    if runs not in DURATION_RUNS:
        raise HTTPException(
            status_code=400, detail=f"runs={runs} is not one of {', '.join(str(n) for n in DURATION_RUNS)}"
        )
    found = task_durations(store, dag_id, runs=runs)
    task_ids = [str(t["task_id"]) for t in dag.structure.get("tasks", [])]
    chart = duration_chart(found, task_ids)
    return render(
        request, "dag_duration.html", user, dag=dag, chart=chart, runs=runs, choices=DURATION_RUNS, found=found
    )


def day_state(counts: dict[str, int]) -> str:
    for state in DAY_STATES:
        if counts.get(state):
            return state
    return "none"


def calendar_cells(days: dict[dt.date, dict[str, int]], since: dt.date, until: dt.date) -> dict[str, Any]:
    """Every day of ``[since, until)`` as a square: weeks as columns (Monday on top), months labelled above."""
    first_monday = since - dt.timedelta(days=since.weekday())
    cells, months = [], []
    day = since
    while day < until:
        week = (day - first_monday).days // 7
        counts = days.get(day, {})
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no runs"
        cells.append(
            {
                "x": 30 + week * CELL,
                "y": 18 + day.weekday() * CELL,
                "state": day_state(counts),
                "date": day.isoformat(),
                "title": f"{day.isoformat()}: {summary}",
            }
        )
        if day.day == 1 or day == since:
            months.append({"x": 30 + week * CELL, "text": day.strftime("%b")})
        day += dt.timedelta(days=1)
    weeks = (until - first_monday).days // 7 + 1
    return {"cells": cells, "months": months, "width": 30 + weeks * CELL + 4, "height": 18 + 7 * CELL + 4}


@router.get("/dags/{dag_id}/calendar", response_class=HTMLResponse)
def calendar_page(request: Request, dag_id: str, year: int | None = None) -> HTMLResponse:
    """The runs of each day: of the past year by default, or of one calendar ``year``."""
    user = user_of(request)
    store = service(request).store
    dag = store.get_dag(dag_id)
    if year is not None and not 1970 <= year <= 9999:
        raise HTTPException(status_code=400, detail=f"year={year} is not a year such as 2024")
    if year is None:
        until = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
        since = until - dt.timedelta(days=365)
    else:
        since, until = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    days = runs_per_day(store, dag_id, since, until)
    totals: dict[str, int] = {}
    for counts in days.values():
        for state, n in counts.items():
            totals[state] = totals.get(state, 0) + n
    return render(
        request,
        "dag_calendar.html",
        user,
        dag=dag,
        year=year,
        years=run_years(store, dag_id),
        since=since,
        until=until - dt.timedelta(days=1),
        calendar=calendar_cells(days, since, until),
        totals=totals,
        run_days=len(days),
        day_states=DAY_STATES,
    )

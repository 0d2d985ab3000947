"""``/dags/{dag_id}/dagRuns``: list (``~`` for every DAG, and the batch form), trigger, read, delete, set a
run's state, clear a run."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import Body, Depends, Query, Request, Response

from dockyard import roles
from dockyard.errors import InvalidInputError
from dockyard.runids import check_run_id
from dockyard.runs import notify_scheduler
from dockyard.states import RunState
from dockyard.store.changes import Changes
from dockyard.store.models import UserModel
from dockyard.store.queries import RunFilter, TaskInstanceFilter
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import (
    ANY,
    MAX_PAGE,
    DateBounds,
    ListForm,
    Paging,
    Router,
    api_user,
    date_bounds,
    needs,
    paging,
    queries,
    run_json,
    service,
    ti_json,
)
from dockyard.web.api_v1.events import record_event
from dockyard.web.inputs import parse_logical_date

router = Router(tags=["DAGRun"])


@router.get("/dags/{dag_id}/dagRuns", response_model=schemas.DagRunCollection)
def list_runs(
    request: Request,
    dag_id: str,
    page: Paging = Depends(paging),
    state: list[str] | None = Query(None),
    dates: DateBounds = Depends(date_bounds),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    """The runs of one DAG, or of every DAG with ``~`` as the dag_id."""
    if dag_id != ANY:
        queries(request).check_dag(dag_id)
    form = ListDagRunsForm(dag_ids=None if dag_id == ANY else [dag_id], states=state, **ListForm.fields_of(page, dates))
    return list_runs_batch(request, form, user)


class ListDagRunsForm(ListForm):
    """Airflow's body of ``POST /dags/~/dagRuns/list``."""

    dag_ids: list[str] | None = None
    states: list[str] | None = None


@router.post("/dags/~/dagRuns/list", response_model=schemas.DagRunCollection)
def list_runs_batch(
    request: Request, form: ListDagRunsForm = Body(...), user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    flt = RunFilter(
        dag_ids=form.dag_ids,
        states=form.states,
        **form.ranges(),
    )
    found = queries(request).runs(flt, order_by=form.order_by, limit=form.page_limit, offset=form.page_offset)
    return {"dag_runs": [run_json(r) for r in found.items], "total_entries": found.total}


@router.post("/dags/{dag_id}/dagRuns", response_model=schemas.DagRun)
def trigger(
    request: Request,
    dag_id: str,
    body: dict[str, Any] = Body(default_factory=dict),
    user: UserModel = Depends(needs(roles.CREATE, roles.DAG_RUNS)),
) -> dict[str, Any]:
    conf = body.get("conf", {})
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise InvalidInputError("conf must be a JSON object")
    when = body.get("logical_date") or body.get("execution_date")
    logical = None if when is None else parse_logical_date(when)
    run_id = body.get("dag_run_id")
    if run_id is not None:
        check_run_id(run_id)
    run = service(request).trigger(dag_id, conf, run_id=run_id, logical_date=logical)
    record_event(request, "trigger", dag_id=dag_id, run_id=run.run_id)
    # The run as it was created (Airflow answers with the new run): the scheduler, woken just now, may already
    # have started it, but the answer to this request is the created run, state "queued".
    created = queries(request).run(dag_id, run.run_id)
    return run_json(dataclasses.replace(created, state=RunState(run.state).value))


@router.get("/dags/{dag_id}/dagRuns/{run_id}", response_model=schemas.DagRun)
def get_run(request: Request, dag_id: str, run_id: str, user: UserModel = Depends(api_user)) -> dict[str, Any]:
    return run_json(queries(request).run(dag_id, run_id))


@router.delete("/dags/{dag_id}/dagRuns/{run_id}", status_code=204)
def delete_run(
    request: Request, dag_id: str, run_id: str, user: UserModel = Depends(needs(roles.DELETE, roles.DAG_RUNS))
) -> Response:
    service(request).store.delete_run(dag_id, run_id)
    record_event(request, "delete_dag_run", dag_id=dag_id, run_id=run_id)
    return Response(status_code=204)


SETTABLE_RUN_STATES = ("success", "failed", "queued")


@router.patch("/dags/{dag_id}/dagRuns/{run_id}", response_model=schemas.DagRun)
def set_run_state(
    request: Request,
    dag_id: str,
    run_id: str,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.DAG_RUNS)),
) -> dict[str, Any]:
    """Airflow's ``UpdateDagRunState``: ``{"state": "success" | "failed" | "queued"}``."""
    state = body.get("state")
    if set(body) - {"state"} or state not in SETTABLE_RUN_STATES:
        raise InvalidInputError(f'give {{"state": ...}} with one of {", ".join(SETTABLE_RUN_STATES)}')
    Changes(service(request).store).set_run_state(dag_id, run_id, RunState(state))
    notify_scheduler(service(request).settings)
    record_event(request, f"dagrun_{state}", dag_id=dag_id, run_id=run_id)
    return run_json(queries(request).run(dag_id, run_id))


@router.post(
    "/dags/{dag_id}/dagRuns/{run_id}/clear", response_model=None, responses={200: {"model": schemas.ClearedRun}}
)
def clear_run(
    request: Request,
    dag_id: str,
    run_id: str,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.DAG_RUNS)),
) -> dict[str, Any]:
    """Run every task of the run again. ``dry_run`` (Airflow's default: true) lists the task instances that
    would be cleared; otherwise the answer is the run."""
    dry_run = body.get("dry_run", True)
    if set(body) - {"dry_run"} or not isinstance(dry_run, bool):
        raise InvalidInputError('give {"dry_run": true|false}')
    q = queries(request)
    q.run(dag_id, run_id)
    tis = q.task_instances(TaskInstanceFilter(dag_ids=[dag_id], run_ids=[run_id]), limit=MAX_PAGE)
    if dry_run:
        return {"task_instances": [ti_json(t) for t in tis.items], "total_entries": tis.total}
    service(request).clear(dag_id, run_id, [t.task_id for t in tis.items])
    record_event(request, "clear", dag_id=dag_id, run_id=run_id)
    return run_json(q.run(dag_id, run_id))

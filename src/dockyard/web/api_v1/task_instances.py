"""Task instances: lists (``~`` for the DAG and the run, and the batch form), one instance, its tries, why it
does not run, its links, state changes and clears with Airflow's options."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from fastapi import Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dockyard import roles
from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.operators.base import TriggerRule
from dockyard.readiness import Counts, Decision, decide
from dockyard.runs import notify_scheduler
from dockyard.states import FINISHED_STATES, TaskState
from dockyard.store.models import UserModel
from dockyard.store.queries import TaskInstanceFilter, TaskInstanceRecord
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import (
    ANY,
    DateBounds,
    ListForm,
    Paging,
    Router,
    api_user,
    date_bounds,
    date_range,
    iso,
    needs,
    paging,
    queries,
    service,
    ti_json,
    ti_reference,
)
from dockyard.web.api_v1.events import record_event
from dockyard.web.api_v1.selection import Selection, select
from dockyard.web.service import STATES_A_PERSON_SETS

router = Router(tags=["TaskInstance"])
TI_PATH = "/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"


@router.get("/dags/{dag_id}/dagRuns/{run_id}/taskInstances", response_model=schemas.TaskInstanceCollection)
def list_tis(
    request: Request,
    dag_id: str,
    run_id: str,
    page: Paging = Depends(paging),
    state: list[str] | None = Query(None, description="task states; 'none' for not yet scheduled"),
    pool: list[str] | None = Query(None),
    queue: list[str] | None = Query(None),
    dates: DateBounds = Depends(date_bounds),
    duration_gte: float | None = Query(None),
    duration_lte: float | None = Query(None),
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    """The task instances of a run; ``~`` as the dag_id or the run_id means every DAG or every run."""
    q = queries(request)
    if dag_id != ANY and run_id != ANY:
        q.run(dag_id, run_id)
    elif dag_id != ANY:
        queries(request).check_dag(dag_id)
    form = ListTaskInstanceForm(
        **ListForm.fields_of(page, dates),
        dag_ids=None if dag_id == ANY else [dag_id],
        dag_run_ids=None if run_id == ANY else [run_id],
        state=list(state) if state is not None else None,
        pool=pool,
        queue=queue,
        duration_gte=duration_gte,
        duration_lte=duration_lte,
    )
    return list_tis_batch(request, form, user)


class ListTaskInstanceForm(ListForm):
    """Airflow's body of ``POST /dags/~/dagRuns/~/taskInstances/list``."""

    dag_ids: list[str] | None = None
    dag_run_ids: list[str] | None = None
    task_ids: list[str] | None = None
    state: list[str | None] | None = None
    pool: list[str] | None = None
    queue: list[str] | None = None
    executor: list[str] | None = None
    duration_gte: float | None = None
    duration_lte: float | None = None


@router.post("/dags/~/dagRuns/~/taskInstances/list", response_model=schemas.TaskInstanceCollection)
def list_tis_batch(
    request: Request, form: ListTaskInstanceForm = Body(...), user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    flt = TaskInstanceFilter(
        dag_ids=form.dag_ids,
        run_ids=form.dag_run_ids,
        task_ids=form.task_ids,
        states=form.state,
        pools=form.pool,
        queues=form.queue,
        **form.ranges(),
        duration=(form.duration_gte, form.duration_lte),
    )
    found = queries(request).task_instances(flt, order_by=form.order_by, limit=form.page_limit, offset=form.page_offset)
    return {"task_instances": [ti_json(t) for t in found.items], "total_entries": found.total}


@router.get(TI_PATH, response_model=schemas.TaskInstance)
def get_ti(request: Request, dag_id: str, run_id: str, task_id: str, user: UserModel = Depends(api_user)) -> Any:
    return ti_json(queries(request).task_instance(dag_id, run_id, task_id))


# -- dynamic task mapping: the instances of a mapped task -------------------------------------------------
@router.get(TI_PATH + "/listMapped", response_model=schemas.TaskInstanceCollection)
def list_mapped(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    page: Paging = Depends(paging),
    state: list[str] | None = Query(None, description="only instances in these states (repeatable)"),
    user: UserModel = Depends(api_user),
) -> Any:
    """Airflow's ``listMapped``: the instances of a mapped task in one run, in ``map_index`` order."""
    service(request).store.get_run(dag_id, run_id)
    if not service(request).dag(dag_id).task(task_id).is_mapped:
        raise NotFoundError(f"task {task_id!r} of DAG {dag_id!r} is not mapped; it has no mapped instances")
    flt = TaskInstanceFilter(dag_ids=[dag_id], run_ids=[run_id], task_ids=[task_id], states=state, mapped=True)
    found = queries(request).task_instances(flt, order_by="map_index", limit=page.limit, offset=page.offset)
    return {"task_instances": [ti_json(t) for t in found.items], "total_entries": found.total}


@router.get(TI_PATH + "/{map_index:int}", response_model=schemas.TaskInstance)
def get_mapped_ti(
    request: Request, dag_id: str, run_id: str, task_id: str, map_index: int, user: UserModel = Depends(api_user)
) -> Any:
    """One instance of a mapped task (Airflow's ``getMappedTaskInstance``)."""
    return ti_json(queries(request).task_instance(dag_id, run_id, task_id, map_index))


def check_new_state(state: object) -> str:
    if state not in STATES_A_PERSON_SETS:
        raise InvalidInputError(f"new_state must be one of {', '.join(STATES_A_PERSON_SETS)}, not {state!r}")
    return str(state)


def mark(request: Request, dag_id: str, tis: list[TaskInstanceRecord], state: str) -> None:
    """Set ``state`` on ``tis`` (an instance of a mapped task alone); a running one has its container stopped by
    the scheduler."""
    store = service(request).store
    by_run: dict[tuple[str, int | None], list[str]] = defaultdict(list)
    for ti in tis:
        by_run[(ti.run_id, ti.map_index if ti.map_index >= 0 else None)].append(ti.task_id)
    for (run_id, map_index), task_ids in by_run.items():
        store.set_ti_state(dag_id, run_id, task_ids, TaskState(state), map_index=map_index)
        for task_id in task_ids:
            where = {"map_index": map_index} if map_index is not None else None
            record_event(request, f"mark_{state}", dag_id=dag_id, run_id=run_id, task_id=task_id, extra=where)
    notify_scheduler(service(request).settings)


@router.patch(TI_PATH, response_model=schemas.TaskInstanceReference)
def set_ti_state(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.TASK_INSTANCES)),
) -> dict[str, Any]:
    """Airflow's ``UpdateTaskInstance``: ``{"new_state": "success" | "failed", "dry_run": false}``."""
    return _set_state(request, dag_id, run_id, task_id, -1, body)


@router.patch(TI_PATH + "/{map_index:int}", response_model=schemas.TaskInstanceReference)
def set_mapped_ti_state(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.TASK_INSTANCES)),
) -> dict[str, Any]:
    """``UpdateTaskInstance`` for one instance of a mapped task (Airflow's ``patchMappedTaskInstance``)."""
    return _set_state(request, dag_id, run_id, task_id, map_index, body)


def _set_state(
    request: Request, dag_id: str, run_id: str, task_id: str, map_index: int, body: dict[str, Any]
) -> dict[str, Any]:
    ti = queries(request).task_instance(dag_id, run_id, task_id, map_index)
    state = check_new_state(body.get("new_state"))
    if not body.get("dry_run", False):
        mark(request, dag_id, [ti], state)
        ti = queries(request).task_instance(dag_id, run_id, task_id, map_index)
    return {**ti_reference(ti), "state": ti.state}


class UpdateTaskInstancesState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = True
    task_id: str
    execution_date: dt.datetime | None = None
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    new_state: str


@router.post("/dags/{dag_id}/updateTaskInstancesState", response_model=schemas.TaskInstanceReferenceCollection)
def update_tis_state(
    request: Request,
    dag_id: str,
    form: UpdateTaskInstancesState = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.TASK_INSTANCES)),
) -> dict[str, Any]:
    """Mark one task, and its relatives and other runs as asked, success or failed (``dry_run`` by default,
    as in Airflow: only list what would change)."""
    state = check_new_state(form.new_state)
    if (form.dag_run_id is None) == (form.execution_date is None):
        raise InvalidInputError("give exactly one of dag_run_id and execution_date")
    dag = service(request).dag(dag_id)
    q = queries(request)
    run_id = form.dag_run_id or run_at(request, dag_id, form.execution_date)
    how = Selection(
        task_ids=[form.task_id],
        run_id=run_id,
        include_upstream=form.include_upstream,
        include_downstream=form.include_downstream,
        include_past=form.include_past,
        include_future=form.include_future,
    )
    tis = [t for t in select(q, dag, how) if t.state != state]
    if not form.dry_run:
        mark(request, dag_id, tis, state)
    return {"task_instances": [ti_reference(t) for t in tis]}


def run_at(request: Request, dag_id: str, when: dt.datetime | None) -> str:
    """The run_id of the DAG's run at logical date ``when``."""
    from dockyard.store.queries import RunFilter

    found = queries(request).runs(RunFilter(dag_ids=[dag_id], logical_date=(when, when)), limit=1).items
    if not found:
        raise NotFoundError(f"DAG {dag_id!r} has no run at execution_date {iso(when)}")
    return found[0].run_id


class ClearTaskInstances(BaseModel):
    """Airflow's ``ClearTaskInstances`` with its defaults (dry_run and only_failed are true unless said)."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = True
    task_ids: list[str] | None = Field(None, min_length=1)
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False


@router.post("/dags/{dag_id}/clearTaskInstances", response_model=schemas.TaskInstanceReferenceCollection)
def clear(
    request: Request,
    dag_id: str,
    form: ClearTaskInstances = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.TASK_INSTANCES)),
) -> dict[str, Any]:
    """Run task instances again, chosen by Airflow's options; ``dry_run`` only lists them."""
    svc = service(request)
    dag = svc.dag(dag_id)
    how = Selection(
        task_ids=form.task_ids,
        run_id=form.dag_run_id,
        logical_date=date_range(form.start_date, form.end_date, "start_date/end_date: start_date"),
        include_upstream=form.include_upstream,
        include_downstream=form.include_downstream,
        include_past=form.include_past,
        include_future=form.include_future,
        only_failed=form.only_failed,
        only_running=form.only_running,
    )
    tis = select(queries(request), dag, how)
    if not form.dry_run:
        by_run: dict[str, list[str]] = defaultdict(list)
        for ti in tis:
            by_run[ti.run_id].append(ti.task_id)
        for run_id, task_ids in by_run.items():
            svc.clear(dag_id, run_id, task_ids)
            record_event(request, "clear", dag_id=dag_id, run_id=run_id, extra={"task_ids": task_ids})
    return {"task_instances": [ti_reference(t) for t in tis]}


def try_json(ti: TaskInstanceRecord, row: Any) -> dict[str, Any]:
    return {
        **ti_json(ti),
        "try_number": row.try_number,
        "state": str(row.state),
        "start_date": iso(row.start_date),
        "end_date": iso(row.end_date),
        "duration": (row.end_date - row.start_date).total_seconds() if row.start_date and row.end_date else None,
        "hostname": row.hostname or "",
        "container_id": row.container_id,
        "exit_code": row.exit_code,
        "image_digest": row.image_digest,
        "peak_memory_bytes": row.peak_memory_bytes,
        "cpu_time_seconds": row.cpu_time_seconds,
    }


@router.get(TI_PATH + "/tries", response_model=schemas.TaskInstanceCollection)
def list_tries(
    request: Request, dag_id: str, run_id: str, task_id: str, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    return _tries(request, dag_id, run_id, task_id, -1)


@router.get(TI_PATH + "/{map_index:int}/tries", response_model=schemas.TaskInstanceCollection)
def list_mapped_tries(
    request: Request, dag_id: str, run_id: str, task_id: str, map_index: int, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    return _tries(request, dag_id, run_id, task_id, map_index)


def _tries(request: Request, dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any]:
    q = queries(request)
    ti = q.task_instance(dag_id, run_id, task_id, map_index)
    tries = [try_json(ti, row) for row in q.tries(dag_id, run_id, task_id, map_index)]
    return {"task_instances": tries, "total_entries": len(tries)}


@router.get(TI_PATH + "/tries/{try_number}", response_model=schemas.TaskInstance)
def get_try(
    request: Request, dag_id: str, run_id: str, task_id: str, try_number: int, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    return _try(request, dag_id, run_id, task_id, -1, try_number)


@router.get(TI_PATH + "/{map_index:int}/tries/{try_number}", response_model=schemas.TaskInstance)
def get_mapped_try(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    try_number: int,
    user: UserModel = Depends(api_user),
) -> dict[str, Any]:
    return _try(request, dag_id, run_id, task_id, map_index, try_number)


def _try(request: Request, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> dict[str, Any]:
    q = queries(request)
    ti = q.task_instance(dag_id, run_id, task_id, map_index)
    for row in q.tries(dag_id, run_id, task_id, map_index):
        if row.try_number == try_number:
            return try_json(ti, row)
    named = f"task {task_id!r}" + (f" [{map_index}]" if map_index >= 0 else "")
    raise NotFoundError(f"{named} of run {run_id!r} has no try {try_number}; it has {ti.try_number}")


@router.get(TI_PATH + "/dependencies", response_model=schemas.DependencyCollection)
def dependencies(
    request: Request, dag_id: str, run_id: str, task_id: str, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    """Why the task instance does not run now, in Airflow's words for each unmet dependency."""
    return _dependencies(request, dag_id, run_id, task_id, -1)


@router.get(TI_PATH + "/{map_index:int}/dependencies", response_model=schemas.DependencyCollection)
def mapped_dependencies(
    request: Request, dag_id: str, run_id: str, task_id: str, map_index: int, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    """Why one instance of a mapped task does not run now."""
    return _dependencies(request, dag_id, run_id, task_id, map_index)


def _dependencies(request: Request, dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any]:
    q = queries(request)
    ti = q.task_instance(dag_id, run_id, task_id, map_index)
    run = q.run(dag_id, run_id)
    dag = service(request).dag(dag_id)
    found: list[dict[str, str]] = []
    if ti.state is not None and TaskState(ti.state) in (*FINISHED_STATES, TaskState.RUNNING, TaskState.QUEUED):
        found.append({"name": "Task Instance State", "reason": f"Task is in the '{ti.state}' state."})
    if run.state != "running":
        found.append(
            {
                "name": "Dagrun Running",
                "reason": f"Task instance's dagrun was not in the 'running' state but in the state '{run.state}'.",
            }
        )
    if service(request).store.get_dag(dag_id).is_paused:
        found.append({"name": "Dag Not Paused", "reason": f"DAG {dag_id!r} is paused."})
    task = dag.task(task_id)
    if task.upstream:
        ups = q.task_instances(TaskInstanceFilter(dag_ids=[dag_id], run_ids=[run_id], task_ids=list(task.upstream)))
        states = [u.state for u in ups.items]
        if decide(TriggerRule(task.trigger_rule), Counts.of(states)) is not Decision.RUN:
            shown = ", ".join(f"{u.task_id}: {u.state or 'none'}" for u in ups.items)
            found.append(
                {
                    "name": "Trigger Rule",
                    "reason": f"Task's trigger rule '{task.trigger_rule}' is not met by its upstream tasks ({shown}).",
                }
            )
    return {"dependencies": found}


@router.get(TI_PATH + "/links", response_model=schemas.ExtraLinkCollection)
def extra_links(
    request: Request, dag_id: str, run_id: str, task_id: str, user: UserModel = Depends(api_user)
) -> dict[str, Any]:
    """dockyard's operators define no extra links (Airflow's answer for such an operator: none)."""
    queries(request).task_instance(dag_id, run_id, task_id)
    return {"extra_links": []}

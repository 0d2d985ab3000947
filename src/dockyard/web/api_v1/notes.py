"""Notes on runs and task instances (Airflow's ``setNote``) and ``PUT /parseDagFile/{file_token}``.

A note answers with the run or task instance it was set on, as Airflow's does. A parse request is stored for
the DAG processor (the web server never imports a DAG file) and answers 201 with no body, as Airflow's.
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request, Response

from dockyard import roles
from dockyard.errors import InvalidInputError
from dockyard.store.models import UserModel
from dockyard.store.notes import request_parse, set_run_note, set_ti_note
from dockyard.web.api_v1 import schemas
from dockyard.web.api_v1.common import Router, needs, queries, run_json, service, ti_json
from dockyard.web.api_v1.dags import dag_file_of
from dockyard.web.api_v1.events import record_event

router = Router(tags=["DAGRun", "TaskInstance", "DAG"])
TI_PATH = "/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"


def note_of(body: dict[str, Any]) -> str | None:
    """Airflow's ``SetDagRunNote``/``SetTaskInstanceNote``: ``{"note": "..."}`` (an empty note removes it)."""
    note = body.get("note")
    if set(body) - {"note"} or "note" not in body or not (note is None or isinstance(note, str)):
        raise InvalidInputError('give {"note": "..."} (a string; "" or null removes the note)')
    return note or None


@router.patch("/dags/{dag_id}/dagRuns/{run_id}/setNote", response_model=schemas.DagRun)
def set_dag_run_note(
    request: Request,
    dag_id: str,
    run_id: str,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.DAG_RUNS)),
) -> dict[str, Any]:
    set_run_note(service(request).store, dag_id, run_id, note_of(body))
    record_event(request, "set_dag_run_note", dag_id=dag_id, run_id=run_id)
    return run_json(queries(request).run(dag_id, run_id))


def _set_ti_note(request: Request, dag_id: str, run_id: str, task_id: str, map_index: int, body: dict[str, Any]) -> Any:
    set_ti_note(service(request).store, dag_id, run_id, task_id, note_of(body), map_index)
    record_event(request, "set_task_instance_note", dag_id=dag_id, run_id=run_id, task_id=task_id)
    return ti_json(queries(request).task_instance(dag_id, run_id, task_id, map_index))


@router.patch(TI_PATH + "/setNote", response_model=schemas.TaskInstance)
def set_task_instance_note(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.TASK_INSTANCES)),
) -> Any:
    return _set_ti_note(request, dag_id, run_id, task_id, -1, body)


@router.patch(TI_PATH + "/{map_index:int}/setNote", response_model=schemas.TaskInstance)
def set_mapped_task_instance_note(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    body: dict[str, Any] = Body(...),
    user: UserModel = Depends(needs(roles.EDIT, roles.TASK_INSTANCES)),
) -> Any:
    return _set_ti_note(request, dag_id, run_id, task_id, map_index, body)


@router.put("/parseDagFile/{file_token}", status_code=201, response_class=Response, tags=["DAG"])
def reparse_dag_file(
    request: Request, file_token: str, user: UserModel = Depends(needs(roles.EDIT, roles.DAGS))
) -> Response:
    """Ask the DAG processor to parse the file again at its next look at the folder (within seconds)."""
    fileloc = dag_file_of(request, file_token)
    request_parse(service(request).store, fileloc)
    record_event(request, "reparse_dag_file", extra={"fileloc": fileloc})
    return Response(status_code=201)

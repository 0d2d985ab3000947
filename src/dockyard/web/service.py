"""What the API and the pages both do, on top of the store: one implementation each."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from typing import Any

from dockyard.connections import Connection, Connections
from dockyard.errors import ConflictError, NotFoundError
from dockyard.runs import notify_scheduler, trigger_run
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.store import FINISHED_STATES, Store, TaskState
from dockyard.store.models import DagRunModel, TaskInstanceModel
from dockyard.tasklog import log_path_for

STATES_A_PERSON_SETS = ("success", "failed")


class Service:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.connections = Connections(settings, store)
        # A user's Timetable class (imported by path from the folder) gives a manual run its data interval.
        if str(settings.dags_folder) not in sys.path:
            sys.path.append(str(settings.dags_folder))

    def dag(self, dag_id: str) -> SerializedDag:
        """The DAG as the DAG processor stored it (the web server never imports a DAG file)."""
        row = self.store.get_dag(dag_id)  # unknown: a 404 naming the known DAGs
        if not row.is_active:
            raise NotFoundError(
                f"DAG {dag_id!r} is no longer defined by {row.fileloc}; `dockyard dags list-import-errors` says why"
            )
        return SerializedDag.from_row(row)

    def trigger(
        self, dag_id: str, conf: dict[str, Any], run_id: str | None = None, logical_date: dt.datetime | None = None
    ) -> DagRunModel:
        return trigger_run(
            self.settings, self.store, self.dag(dag_id), conf=conf, run_id=run_id, logical_date=logical_date
        )

    def set_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> TaskInstanceModel:
        """Mark a task instance success or failed; a running one has its container stopped by the scheduler."""
        if state not in STATES_A_PERSON_SETS:
            raise ConflictError(f"new_state {state!r} is not one of {', '.join(STATES_A_PERSON_SETS)}")
        self.store.get_task_instance(dag_id, run_id, task_id)
        self.store.set_ti_state(dag_id, run_id, [task_id], TaskState(state))
        notify_scheduler(self.settings)
        return self.store.get_task_instance(dag_id, run_id, task_id)

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], map_indexes: list[int] | None = None) -> int:
        dag = self.dag(dag_id)
        retries = {t.task_id: t.retries for t in dag.tasks}
        count = self.store.clear(dag_id, run_id, task_ids, retries, map_indexes=map_indexes)
        notify_scheduler(self.settings)
        return count

    def log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, offset: int = 0, map_index: int = -1
    ) -> tuple[str, int, bool]:
        """Log text from byte ``offset``, the next offset, and whether the try has ended."""
        ti = self.store.get_task_instance(dag_id, run_id, task_id, map_index)
        if try_number < 1 or try_number > max(ti.try_number, 1):
            raise NotFoundError(f"task {task_id!r} has tries 1 to {ti.try_number}; try {try_number} does not exist")
        path = log_path_for(self.settings.logs_folder, dag_id, run_id, task_id, try_number, map_index)
        text = ""
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(max(offset, 0))
                data = handle.read(4 * 1024 * 1024)
            offset = max(offset, 0) + len(data)
            text = data.decode("utf-8", "replace")
        done = (
            ti.try_number != try_number
            or (ti.state is not None and TaskState(ti.state) in FINISHED_STATES)
            or ti.state == TaskState.UP_FOR_RETRY.value
        )
        return text, offset, done

    def save_connection(self, conn: Connection, *, replace: bool) -> None:
        if replace and conn.password is None:
            existing = self.connections.find(conn.conn_id)
            if existing is not None:  # a form that leaves the password empty keeps the stored one
                conn = dataclasses.replace(conn, password=existing.password)
        self.connections.add(conn, replace=replace)

"""The scheduler's part of data-aware scheduling, with Airflow's rules (see :mod:`dockyard.datasets`).

- When the DAG folder's DAGs change, the store learns which DAGs are scheduled on which datasets and which tasks
  update them. A scheduler of fixed DAGs (``dags test``, ``dags backfill``) records its producers' events, but
  leaves the references and the consumers' runs to the folder's scheduler.
- A producer task's success records an event per outlet; each active, unpaused consumer has the dataset queued.
- Each pass, a consumer whose queued datasets satisfy its condition gets a queued ``dataset_triggered`` run
  (not while it is paused or has ``max_active_runs`` runs queued or running; its queue waits meanwhile), at the
  latest queue time, with the events since its previous dataset-triggered run.

The queue is read only when an event was recorded, the DAGs changed, or a while has passed (an unpaused DAG or
another scheduler's event), so an idle pass costs no query.

Example::

    datasets = DatasetScheduling(store)
    datasets.dags_changed(dags)
    datasets.task_succeeded(dags["etl"], "load", run_id)
    datasets.create_runs(dags, now, active_runs)       # the consumers' runs, queued
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from dockyard import defaults
from dockyard.datasets import DatasetTriggeredTimetable
from dockyard.errors import DockyardError
from dockyard.serialized import SerializedDag
from dockyard.store import Store
from dockyard.store.datasets import DATASET_TRIGGERED, DatasetStore

log = logging.getLogger(__name__)


def references(dags: Mapping[str, SerializedDag]) -> dict[str, tuple[list[str], dict[str, list[str]]]]:
    """What each DAG names: the datasets its schedule waits on, and each task's outlets."""
    found: dict[str, tuple[list[str], dict[str, list[str]]]] = {}
    for dag_id, dag in dags.items():
        condition = condition_of(dag)
        schedule = [uri for uri, _ in condition.iter_datasets()] if condition is not None else []
        outlets = {t.task_id: list(t.outlets) for t in dag.tasks if t.outlets}
        if schedule or outlets:
            found[dag_id] = (schedule, outlets)
    return found


def condition_of(dag: SerializedDag) -> Any:
    """The dataset condition a DAG is scheduled on, or None (read from the stored timetable, without importing)."""
    if "condition" not in (dag.timetable_data.get("data") or {}):
        return None
    table = dag.timetable()
    return table.condition if isinstance(table, DatasetTriggeredTimetable) else None


class DatasetScheduling:
    """Dataset events in, dataset-triggered runs out; one per scheduler."""

    def __init__(self, store: Store, *, recheck_seconds: float = defaults.DEFAULT_IDLE_DAG_RECHECK_SECONDS) -> None:
        self.store = store
        self.datasets = DatasetStore(store)
        self.recheck_seconds = recheck_seconds
        self._due = True
        self._checked = 0.0
        self._consumers = False

    def dags_changed(self, dags: Mapping[str, SerializedDag]) -> None:
        """Record what the (complete) set of DAGs names, and look at the queue on the next pass."""
        named = references(dags)
        self._consumers = any(schedule for schedule, _ in named.values())
        try:
            self.datasets.sync_references(named)
        except DockyardError as exc:  # the next change of the DAGs tries again; scheduling goes on meanwhile
            log.error("cannot record which DAGs name which datasets: %s", exc)
        self._due = True

    def task_succeeded(self, dag: SerializedDag, task_id: str, run_id: str) -> None:
        """A producer's success: an event for each dataset in the task's outlets."""
        task = dag.task_dict.get(task_id)
        if task is None or not task.outlets:
            return
        queued = self.datasets.record_events(task.outlets, source=(dag.dag_id, run_id, task_id))
        log.info(
            "%s.%s updated %s%s",
            dag.dag_id,
            task_id,
            ", ".join(task.outlets),
            f"; queued for {', '.join(sorted(set(queued)))}" if queued else "",
        )
        self._due = True

    def create_runs(
        self,
        dags: Mapping[str, SerializedDag],
        active_runs: Callable[[], Mapping[str, int]],
        paused: Callable[[], set[str]],
    ) -> list[tuple[str, str]]:
        """Create the dataset-triggered runs whose condition holds; returns their ``(dag_id, run_id)``."""
        if not self._consumers:
            return []
        if not self._due and time.monotonic() - self._checked < self.recheck_seconds:
            return []
        self._due, self._checked = False, time.monotonic()
        queued = self.datasets.queued()
        if not queued:
            return []
        held = paused()
        counts = active_runs()
        created: list[tuple[str, str]] = []
        for dag_id, statuses in sorted(queued.items()):
            dag = dags.get(dag_id)
            condition = condition_of(dag) if dag is not None else None
            if dag is None or condition is None or dag_id in held:
                continue
            if not condition.evaluate(dict.fromkeys(statuses, True)):
                continue
            if counts.get(dag_id, 0) >= dag.max_active_runs:
                self._due = True  # look again once a run has finished
                continue
            when: dt.datetime = max(statuses.values())
            run = self.datasets.create_triggered_run(dag_id, when)
            if run is not None:
                log.info("run %s of %s: triggered by %s", run.run_id, dag_id, ", ".join(sorted(statuses)))
                created.append((dag_id, run.run_id))
        return created

    def events_for(self, dag_id: str, run_id: str, run_type: str) -> list[dict[str, Any]]:
        """The triggering events of a run (none unless datasets triggered it)."""
        if run_type != DATASET_TRIGGERED:
            return []
        return self.datasets.events_of_run(dag_id, run_id)

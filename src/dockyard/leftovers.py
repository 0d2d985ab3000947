"""Exited containers a crashed scheduler left behind after their result was recorded.

A try's container is removed (per ``auto_remove``) only after its result is committed. A scheduler that
dies between the two leaves an exited container whose try is already finished in the store: nothing will
re-attach to it, so the next scheduler removes it here, as the try itself would have. The decision is the
try's own: its container carries its ``auto_remove`` as a label, and its recorded state says whether it
succeeded. A container without that label (made before dockyard labelled it) is kept, as is one that
``auto_remove`` keeps (``never``, or ``success`` after a failure): a person may want to look into it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from dockyard.container import DockerRuntime
from dockyard.container.dispatch import EngineRuntime
from dockyard.container.spec import LABEL_PREFIX
from dockyard.errors import DockyardError
from dockyard.states import TaskState
from dockyard.store import Store

log = logging.getLogger(__name__)

EXITED = ("exited", "dead")
SUCCEEDED = (TaskState.SUCCESS.value, TaskState.SKIPPED.value)


def remove_recorded(store: Store, runtime: DockerRuntime | EngineRuntime, containers: Iterable[dict[str, Any]]) -> int:
    """Remove those of ``containers`` (as :meth:`Scheduler.reconcile` lists them, claimed by no running try)
    that have exited and whose try is recorded, or gone with its run, where ``auto_remove`` says so.
    Returns how many were removed; an engine that fails is logged, never raised."""
    removed = 0
    for container in containers:
        labels = container["labels"]
        policy = labels.get(f"{LABEL_PREFIX}auto_remove")
        if container["state"] not in EXITED or policy is None:
            continue
        state = _recorded_state(store, labels)
        if state == TaskState.RUNNING.value:
            continue
        if state is None or policy == "force" or (policy == "success" and state in SUCCEEDED):
            log.info("removing exited container %s: its try's result is recorded (%s)", container["id"][:12], state)
            try:
                runtime.remove(container["engine"], container["id"])
            except DockyardError as exc:
                log.warning("could not remove container %s: %s", container["id"][:12], exc)
                continue
            removed += 1
    return removed


def _recorded_state(store: Store, labels: dict[str, str]) -> str | None:
    """The state the store holds for the try a container's labels name; None when the try no longer exists."""
    try:
        number = int(labels.get(f"{LABEL_PREFIX}try_number", ""))
    except ValueError:
        return None
    tries = store.list_tries(
        labels.get(f"{LABEL_PREFIX}dag_id", ""),
        labels.get(f"{LABEL_PREFIX}run_id", ""),
        labels.get(f"{LABEL_PREFIX}task_id", ""),
    )
    found = next((t for t in tries if t.try_number == number), None)
    return None if found is None else str(found.state)

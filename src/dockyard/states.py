"""The one vocabulary of states: task instances, tries and runs, with Airflow's names and meanings.

The store's columns hold these enums, the scheduler and the readiness rules compare members, and the CLI
and the web take their colours from :data:`STATE_COLOURS`. ``None`` for a task instance means "not yet
scheduled", as in Airflow.

Example::

    TaskState("up_for_retry") is TaskState.UP_FOR_RETRY     # True
    TaskState.SUCCESS in FINISHED_STATES                    # True
"""

from __future__ import annotations

import enum


class TaskState(str, enum.Enum):
    """States of a task instance (Airflow's names). A try ends in SUCCESS, FAILED or SKIPPED."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"
    RESTARTING = "restarting"

    def __str__(self) -> str:
        return self.value


FINISHED_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED, TaskState.REMOVED}
)
"""A task instance in one of these will not run again unless a person clears it."""

UNFINISHED_STATES: tuple[TaskState | None, ...] = (None, *(s for s in TaskState if s not in FINISHED_STATES))
"""Not yet scheduled, or scheduled, queued, running, or waiting to try again."""


class RunState(str, enum.Enum):
    """States of a DAG run (Airflow's names)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


STATE_COLOURS: dict[str | None, str] = {
    None: "#e5e7eb",
    TaskState.SCHEDULED: "#c4a35a",
    TaskState.QUEUED: "#9ca3af",
    TaskState.RUNNING: "#3b82f6",
    TaskState.SUCCESS: "#2e9e4f",
    TaskState.FAILED: "#d64545",
    TaskState.UP_FOR_RETRY: "#eab308",
    TaskState.UP_FOR_RESCHEDULE: "#14b8a6",
    TaskState.UPSTREAM_FAILED: "#e8833a",
    TaskState.SKIPPED: "#c084fc",
    TaskState.REMOVED: "#a3a3a3",
    TaskState.RESTARTING: "#8b5cf6",
}
"""One colour per state, for the web UI and the terminal (run states share the task states' colours)."""

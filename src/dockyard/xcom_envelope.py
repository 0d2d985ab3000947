"""XComs a Python task pushes itself (``ti.xcom_push``) inside its container, carried back with its result.

The container's program (:mod:`dockyard.task_runner`) has no way to reach the store, so what the callable
pushes travels in the result file beside the return value, in an *envelope* that is written only when
something was pushed (a plain result stays as it was)::

    {"__dockyard_pushed_xcoms__": {"rows": 3, "path": "/data/x"}, "__dockyard_result__": "done"}

The executor opens it (:func:`open_envelope`): the return value goes on as the try's XCom, the pushed
values are stored under their keys when the try succeeds, as Airflow keeps a task's pushed XComs. Only
containers of the task runner are opened, so a DockerOperator's own result file is never read as one.

Example::

    open_envelope({"__dockyard_pushed_xcoms__": {"k": 1}, "__dockyard_result__": 2})   # (2, {"k": 1})
    open_envelope([1, 2])                                                            # ([1, 2], None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PUSHED = "__dockyard_pushed_xcoms__"
RESULT = "__dockyard_result__"
RUNNER_MARK = "DOCKYARD_TASK"
"""The environment variable a container of the task runner carries (its payload)."""


def runs_task_runner(options: Mapping[str, Any]) -> bool:
    """Whether a container (its options as JSON) runs :mod:`dockyard.task_runner`."""
    return RUNNER_MARK in (options.get("environment") or {})


def open_envelope(value: Any) -> tuple[Any, dict[str, Any] | None]:
    """``(return value, pushed XComs or None)`` from what a task runner's container wrote."""
    if isinstance(value, dict) and set(value) == {PUSHED, RESULT} and isinstance(value[PUSHED], dict):
        return value[RESULT], {str(k): v for k, v in value[PUSHED].items()}
    return value, None

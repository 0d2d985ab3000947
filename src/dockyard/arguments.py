"""Airflow arguments that dockyard accepts (so Airflow DAG files load unchanged) but does not act on: each one,
when a DAG file gives it a value that would change something under Airflow, is a warning at load that names the
argument and what to use instead. Every other argument dockyard accepts is honoured; the rest are refused.

``tests/unit/test_airflow_arguments.py`` walks Airflow's ``BaseOperator`` and ``DAG`` signatures and holds
dockyard to that.

Example::

    DockerOperator(task_id="x", image="i", run_as_user="etl")
    # UserWarning: task 'x': run_as_user is not honoured: every task runs as its container's user; give the
    # DockerOperator user='etl' instead
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]
"""Whether a given value is one Airflow would act on (so ignoring it changes the meaning)."""


def _given(value: Any) -> bool:
    return value is not None and value is not False and value != {} and value != []


def _false(value: Any) -> bool:
    return value is False


TASK_ARGUMENTS: dict[str, tuple[Check, str]] = {
    "ignore_first_depends_on_past": (
        _false,
        "is not honoured: a task's first run never waits for an earlier run here (Airflow's default, True)",
    ),
    "wait_for_past_depends_before_skipping": (
        _given,
        "is not honoured: a task that is skipped by its trigger rule does not wait for the previous run",
    ),
    "pre_execute": (_given, "is not called: the task runs in a container; use on_execute_callback"),
    "post_execute": (_given, "is not called: the task runs in a container; use on_success_callback"),
    "resources": (_given, "is not honoured: give the DockerOperator cpus=, mem_limit= or device_requests="),
    "run_as_user": (_given, "is not honoured: every task runs as its container's user; give the DockerOperator user="),
    "executor": (_given, "is not honoured: dockyard has one executor (containers on its engines)"),
    "logger_name": (_given, "is not honoured: a task's output goes to its try's log file"),
    "allow_nested_operators": (_false, "is not honoured: operators never run inside other operators here"),
    "task_display_name": (_given, "is not shown: the UI and the CLI show the task_id"),
}
"""``BaseOperator`` arguments accepted and not acted on: ``name -> (when it matters, what to do instead)``."""

DAG_ARGUMENTS: dict[str, tuple[Check, str]] = {
    "full_filepath": (_given, "is not honoured (Airflow ignores it too): the DAG's file is where it is defined"),
    "max_consecutive_failed_dag_runs": (
        lambda value: bool(value) and value > 0,
        "is not honoured: a DAG is not paused after failed runs; use on_failure_callback to be told",
    ),
    "sla_miss_callback": (
        _given,
        "is not called: SLAs are not checked (Airflow 3 removed them); use execution_timeout or dagrun_timeout "
        "to stop slow work, and on_failure_callback to be told",
    ),
    "default_view": (_given, "is not honoured: the UI opens a DAG on its runs"),
    "orientation": (_given, "is not honoured: the UI draws the graph one way"),
    "access_control": (
        _given,
        "is not honoured: dockyard's roles (Airflow's Admin, Op, User, Viewer, Public) apply to every DAG alike",
    ),
    "owner_links": (_given, "is not shown: the UI has no owner links"),
    "auto_register": (_false, "is not honoured: every DAG a DAG file creates is registered"),
    "fail_stop": (
        _given,
        "is not honoured: a failed task does not stop the others; use dagrun_timeout or trigger rules",
    ),
    "dag_display_name": (_given, "is not shown: the UI and the CLI show the dag_id"),
}
"""``DAG`` arguments accepted and not acted on: ``name -> (when it matters, what to do instead)``."""


def warn_unhonoured(owner: str, given: Mapping[str, Any], table: Mapping[str, tuple[Check, str]]) -> None:
    """A warning for each argument in ``given`` that ``table`` lists and whose value Airflow would act on."""
    for name, value in given.items():
        entry = table.get(name)
        if entry is not None and entry[0](value):
            warnings.warn(f"{owner}: {name}={value!r} {entry[1]}", UserWarning, stacklevel=4)

"""Every argument of Airflow's ``BaseOperator`` and ``DAG`` (as captured from Airflow into
tests/data/airflow_signatures.json) is honoured by dockyard, warned about at load, or refused at load with an
error naming it. A new accepted argument that is in none of these lists fails this test."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from dockyard import DAG, EmptyOperator
from dockyard.arguments import DAG_ARGUMENTS, TASK_ARGUMENTS
from dockyard.errors import UnknownArgumentError
from dockyard.operators.base import BaseOperator

SIGNATURES = json.loads((Path(__file__).parents[1] / "data" / "airflow_signatures.json").read_text())
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

HONOURED_TASK = {
    "task_id": "identity",
    "owner": "{{ task.owner }}",
    "email": "alert mails (dockyard.mail)",
    "email_on_retry": "alert mails",
    "email_on_failure": "alert mails",
    "retries": "retries",
    "retry_delay": "retries",
    "retry_exponential_backoff": "retries",
    "max_retry_delay": "retries",
    "start_date": "the DAG's start_date, or a warning when later (test below)",
    "end_date": "a warning (test below)",
    "depends_on_past": "readiness",
    "wait_for_downstream": "readiness",
    "dag": "the DAG",
    "params": "templates and validation",
    "default_args": "argument defaults",
    "priority_weight": "launch order",
    "weight_rule": "launch order",
    "pool": "pools",
    "pool_slots": "pools",
    "sla": "a warning naming the replacement (test below)",
    "execution_timeout": "the container is stopped",
    "on_execute_callback": "callbacks",
    "on_failure_callback": "callbacks",
    "on_success_callback": "callbacks",
    "on_retry_callback": "callbacks",
    "on_skipped_callback": "callbacks",
    "trigger_rule": "readiness",
    "task_concurrency": "max_active_tis_per_dag",
    "max_active_tis_per_dag": "launch limits",
    "max_active_tis_per_dagrun": "launch limits",
    "executor_config": "the task image of Bash and Python tasks, and engine labels",
    "queue": "the engines of the pool that may run the task (by their labels)",
    "do_xcom_push": "XCom",
    "multiple_outputs": "XCom",
    "inlets": "the template context",
    "outlets": "dataset events",
    "task_group": "task ids and dependencies",
    "doc": "the task's doc in the UI",
    "doc_md": "the task's doc in the UI",
    "doc_json": "the task's doc in the UI",
    "doc_yaml": "the task's doc in the UI",
    "doc_rst": "the task's doc in the UI",
}
HONOURED_DAG = {
    "dag_id": "identity",
    "description": "UI and CLI",
    "schedule": "timetables",
    "schedule_interval": "timetables (deprecated, warns)",
    "timetable": "timetables",
    "start_date": "timetables",
    "end_date": "timetables",
    "template_searchpath": "templates",
    "template_undefined": "templates",
    "user_defined_macros": "templates",
    "user_defined_filters": "templates",
    "default_args": "argument defaults",
    "concurrency": "max_active_tasks",
    "max_active_tasks": "launch limits",
    "max_active_runs": "run limits",
    "dagrun_timeout": "the run fails and its containers stop",
    "catchup": "timetables",
    "on_success_callback": "callbacks",
    "on_failure_callback": "callbacks",
    "doc_md": "the DAG's doc in the UI",
    "params": "templates and validation",
    "is_paused_upon_creation": "the first paused state",
    "jinja_environment_kwargs": "templates",
    "render_template_as_native_obj": "templates",
    "tags": "UI, CLI and API",
}
SAMPLES: dict[str, Any] = {
    "ignore_first_depends_on_past": False,
    "wait_for_past_depends_before_skipping": True,
    "pre_execute": print,
    "post_execute": print,
    "resources": {"cpus": 2},
    "run_as_user": "etl",
    "executor": "CeleryExecutor",
    "logger_name": "etl",
    "allow_nested_operators": False,
    "task_display_name": "Load",
    "full_filepath": "/dags/x.py",
    "max_consecutive_failed_dag_runs": 3,
    "sla_miss_callback": print,
    "default_view": "graph",
    "orientation": "TB",
    "access_control": {"ops": {"can_read"}},
    "owner_links": {"ops": "mailto:ops@example.com"},
    "auto_register": False,
    "fail_stop": True,
    "dag_display_name": "Nightly",
}
"""A value of each warned argument that Airflow would act on."""


def _accepted_dag_arguments() -> set[str]:
    return set(DAG._ACCEPTED) - {"fileloc"}  # fileloc: set by the DAG processor, not an Airflow argument


def test_the_captured_signatures_name_their_airflow_version() -> None:
    assert SIGNATURES["airflow_version"].startswith("2.11.")
    assert {"task_id", "retries", "outlets"} <= set(SIGNATURES["BaseOperator"])
    assert {"dag_id", "schedule", "fail_stop"} <= set(SIGNATURES["DAG"])


@pytest.mark.parametrize(
    ("kind", "accepted", "honoured", "warned"),
    [
        ("BaseOperator", lambda: set(BaseOperator.accepted_arguments()), HONOURED_TASK, TASK_ARGUMENTS),
        ("DAG", _accepted_dag_arguments, HONOURED_DAG, DAG_ARGUMENTS),
    ],
)
def test_every_accepted_argument_is_honoured_or_warned(
    kind: str, accepted: Any, honoured: dict[str, str], warned: dict[str, Any]
) -> None:
    airflow = set(SIGNATURES[kind])
    ours = accepted()
    silent = sorted(ours & airflow - set(honoured) - set(warned) - {"provide_context"})
    assert silent == [], f"{kind} accepts {silent} but neither honours nor warns about them"
    assert not set(honoured) & set(warned), "an argument cannot be both honoured and warned about"
    assert set(honoured) | set(warned) <= ours, "a listed argument is no longer accepted"


@pytest.mark.parametrize("name", sorted(TASK_ARGUMENTS))
def test_warned_task_arguments_warn_at_load(name: str) -> None:
    with DAG("warned", start_date=START, schedule=None), pytest.warns(UserWarning, match=f"'x': {name}="):
        EmptyOperator(task_id="x", **{name: SAMPLES[name]})


@pytest.mark.parametrize("name", sorted(DAG_ARGUMENTS))
def test_warned_dag_arguments_warn_at_load(name: str) -> None:
    with pytest.warns(UserWarning, match=f"DAG 'warned': {name}="):
        DAG("warned", start_date=START, schedule=None, **{name: SAMPLES[name]})


def test_defaults_and_plain_use_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with DAG("plain", start_date=START, schedule=None, default_args={"start_date": START, "queue": "default"}):
            EmptyOperator(task_id="x", ignore_first_depends_on_past=True, allow_nested_operators=True)


def test_task_dates_and_sla_warn() -> None:
    with DAG("dates", start_date=START, schedule=None):
        with pytest.warns(UserWarning, match="'late': start_date=2024-02-01"):
            EmptyOperator(task_id="late", start_date=START.replace(month=2))
        with pytest.warns(UserWarning, match="'ends': end_date=2024-03-01"):
            EmptyOperator(task_id="ends", end_date=START.replace(month=3))
        with pytest.warns(UserWarning, match="use execution_timeout"):
            EmptyOperator(task_id="slow", sla=dt.timedelta(hours=1))


@pytest.mark.parametrize("kind", ["BaseOperator", "DAG"])
def test_the_other_airflow_arguments_are_refused_by_name(kind: str) -> None:
    ours = set(BaseOperator.accepted_arguments()) if kind == "BaseOperator" else _accepted_dag_arguments()
    refused = sorted(set(SIGNATURES[kind]) - ours)
    assert refused == (["map_index_template"] if kind == "BaseOperator" else [])
    for name in refused:
        with pytest.raises(UnknownArgumentError, match=f"unknown argument '{name}'"):
            EmptyOperator(task_id="x", **{name: "value"})

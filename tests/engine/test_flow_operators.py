"""Branching, virtualenv, external-python, ``@task.bash`` and ``TriggerDagRunOperator`` tasks that go wrong,
under the scheduler against the real engine: each fails (or is skipped) alone, with one clear reason."""

from __future__ import annotations

import docker
import pytest

from dockyard.settings import Settings
from dockyard.store import Store
from tests.engine.test_scheduler import env, run_once, states  # noqa: F401 - env is a fixture
from tests.helpers import TEST_LABEL, TOKEN, labelled, write_dag

pytestmark = pytest.mark.engine
CONFIG = f'{{"image": "dockyard/python:latest", "network_mode": "none", "labels": {{"{TEST_LABEL}": "{TOKEN}"}}}}'

FLOW_DAG = f"""
from airflow.decorators import task
from airflow.operators.python import BranchPythonOperator, ExternalPythonOperator, PythonVirtualenvOperator
from airflow.operators.trigger_dagrun import TriggerDagRunOperator

CONFIG = {CONFIG}


def wrong_branch():
    return "nope"


def uses_requirements():
    import surely_missing_pkg

    return surely_missing_pkg.VERSION


def plain():
    return 1


with DAG("target", start_date=START, schedule=None, default_args=ARGS) as target:
    DockerOperator(task_id="breaks", command="sh -c 'exit 4'")

with DAG("flow_errors", start_date=START, schedule=None,
         default_args={{"executor_config": CONFIG, "retry_delay": 0, **ARGS}}) as dag:
    branch = BranchPythonOperator(task_id="branch", python_callable=wrong_branch)
    branch >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
    PythonVirtualenvOperator(task_id="venv", python_callable=uses_requirements,
                             requirements=["surely-missing-pkg==1.0"])
    ExternalPythonOperator(task_id="external", python="/opt/nope/bin/python", python_callable=plain)

    @task.bash
    def not_a_command():
        return 3

    not_a_command()
    first = TriggerDagRunOperator(task_id="first", trigger_dag_id="target", trigger_run_id="fixed",
                                  wait_for_completion=True, poke_interval=0.5)
    again = TriggerDagRunOperator(task_id="again", trigger_dag_id="target", trigger_run_id="fixed",
                                  skip_when_already_exists=True, trigger_rule="all_done")
    clash = TriggerDagRunOperator(task_id="clash", trigger_dag_id="target", trigger_run_id="fixed",
                                  trigger_rule="all_done")
    reset = TriggerDagRunOperator(task_id="reset", trigger_dag_id="target", trigger_run_id="fixed",
                                  reset_dag_run=True, trigger_rule="all_done")
    first >> again >> clash >> reset
    TriggerDagRunOperator(task_id="missing", trigger_dag_id="missing_dag")
"""


def test_flow_operators_fail_alone_with_clear_reasons(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
) -> None:
    settings, store = env
    write_dag(settings.dags_folder, "flow_errors", FLOW_DAG)
    run_id = run_once(settings, store, "flow_errors", timeout=240)
    assert states(store, "flow_errors", run_id) == {
        "branch": "failed",
        "left": "upstream_failed",
        "right": "upstream_failed",
        "venv": "failed",
        "external": "failed",
        "not_a_command": "failed",
        "first": "failed",
        "again": "skipped",
        "clash": "failed",
        "reset": "success",
        "missing": "failed",
    }

    def error(task_id: str) -> str:
        message = store.list_tries("flow_errors", run_id, task_id)[-1].error
        assert message is not None, task_id
        return message

    assert "Invalid tasks found: ['nope']" in error("branch")
    assert "surely-missing-pkg==1.0" in error("venv")
    assert "has no /opt/nope/bin/python" in error("external")
    assert "must return a non-empty string, the Bash command" in error("not_a_command")
    assert "target failed with failed states failed" in error("first")
    assert "already exists; set reset_dag_run=True" in error("clash")
    assert "there is no DAG 'missing_dag' to trigger" in error("missing")
    assert store.get_xcom("flow_errors", run_id, "reset", key="trigger_run_id") == "fixed"
    assert store.get_run("target", "fixed").state in ("queued", "running", "failed")  # cleared, running again
    for container in labelled(engine):  # failed containers are kept: remove them here
        engine.remove_container(container["Id"], force=True, v=True)

"""Branches, short circuits, setup/teardown, labels and ``@task_group`` as the scheduler sees them: what a
branch skips, which setups a task needs, which tasks make the run's state (Airflow's rules)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from dockyard import DockerOperator, EmptyOperator, chain
from dockyard.branching import skipped_after
from dockyard.decorators import python_task, setup_task, teardown_task
from dockyard.errors import TaskError
from dockyard.operators import (
    BranchPythonOperator,
    Label,
    LatestOnlyOperator,
    ShortCircuitOperator,
    TriggerDagRunOperator,
)
from dockyard.readiness import Decision, evaluate, setup_scopes
from dockyard.serialized import SerializedDag, serialize_dag
from dockyard.taskgroup import TaskGroup, task_group
from tests.helpers import make_dag


def pick() -> str:
    return "a"


def stored(dag: object) -> SerializedDag:
    return SerializedDag.from_json(serialize_dag(dag).to_json())  # type: ignore[arg-type]


def test_a_branch_skips_the_direct_downstream_tasks_it_did_not_choose() -> None:
    with make_dag() as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=pick)
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
        with TaskGroup("grp") as grp:
            g1 = EmptyOperator(task_id="g1")
            g1 >> EmptyOperator(task_id="g2")
        branch >> [a, b, c, grp]
        a >> join
        branch >> join  # the "empty branch": join follows a, so it is not skipped
    s = stored(dag)
    task = s.task("branch")
    assert task.flow == {"kind": "branch", "groups": {"grp": ["grp.g1"]}}
    assert skipped_after(s, task, "a") == ["b", "c", "grp.g1"]
    assert skipped_after(s, task, ["b", "grp"]) == ["a", "c", "join"]
    assert skipped_after(s, task, None) == ["a", "b", "c", "grp.g1", "join"]
    with pytest.raises(TaskError, match=r"must contain only valid task_ids. Invalid tasks found: \['nope'\]"):
        skipped_after(s, task, ["a", "nope"])
    with pytest.raises(TaskError, match="must return a task_id"):
        skipped_after(s, task, 3)


def test_a_short_circuit_skips_everything_after_it_or_only_its_direct_downstream() -> None:
    with make_dag() as dag:
        check = ShortCircuitOperator(task_id="check", python_callable=pick)
        soft = ShortCircuitOperator(task_id="soft", python_callable=pick, ignore_downstream_trigger_rules=False)
        one, two = EmptyOperator(task_id="one"), EmptyOperator(task_id="two")
        clean = EmptyOperator(task_id="clean").as_teardown()
        check >> one >> two >> clean
        soft >> EmptyOperator(task_id="three") >> EmptyOperator(task_id="four", trigger_rule="all_done")
    s = stored(dag)
    assert skipped_after(s, s.task("check"), True) == []
    assert skipped_after(s, s.task("check"), 0) == ["one", "two"]  # never a teardown
    assert skipped_after(s, s.task("soft"), False) == ["three"]


def test_teardowns_run_after_failures_and_do_not_make_the_run_state() -> None:
    with make_dag() as dag:
        create = EmptyOperator(task_id="create")
        work = EmptyOperator(task_id="work")
        after = EmptyOperator(task_id="after")
        delete = EmptyOperator(task_id="delete").as_teardown(setups=create)
        create >> work >> delete >> after
        loud = EmptyOperator(task_id="loud").as_teardown(setups=create, on_failure_fail_dagrun=True)
        work >> loud
    s = stored(dag)
    assert s.task("create").is_setup and s.task("delete").trigger_rule == "all_done_setup_success"
    assert sorted(s.leaves) == ["after", "loud"]
    assert setup_scopes(s)["work"] == ("create",) and setup_scopes(s)["after"] == ()
    states = {"create": "success", "work": "failed", "delete": None, "after": None, "loud": None}
    assert evaluate(s, s.task("delete"), states) is Decision.RUN
    states = {"create": "failed", "work": "upstream_failed", "delete": None}
    assert evaluate(s, s.task("delete"), states) is Decision.UPSTREAM_FAILED


def test_a_task_inside_a_setup_scope_waits_for_the_setup() -> None:
    with make_dag() as dag:
        setup = EmptyOperator(task_id="setup").as_setup()
        first = EmptyOperator(task_id="first", trigger_rule="all_done")
        second = EmptyOperator(task_id="second", trigger_rule="all_done")
        teardown = EmptyOperator(task_id="teardown").as_teardown(setups=setup)
        setup >> first >> second >> teardown
    s = stored(dag)
    assert evaluate(s, s.task("second"), {"setup": "failed", "first": "upstream_failed"}) is Decision.UPSTREAM_FAILED
    assert evaluate(s, s.task("second"), {"setup": "skipped", "first": "skipped"}) is Decision.SKIP
    assert evaluate(s, s.task("second"), {"setup": "success", "first": "failed"}) is Decision.RUN


def test_tasks_made_inside_a_teardown_block_run_between_setup_and_teardown() -> None:
    @python_task
    def create() -> str:
        return "c"

    @python_task
    def delete() -> None:
        return None

    with make_dag() as dag:
        with delete().as_teardown(setups=create()):
            one = EmptyOperator(task_id="one")
            one >> EmptyOperator(task_id="two")
            EmptyOperator(task_id="three")
        with pytest.raises(Exception, match="only a setup or teardown task"), EmptyOperator(task_id="plain"):
            pass
    tasks = dag.task_dict
    assert tasks["one"].upstream_task_ids == {"create"} and tasks["three"].upstream_task_ids == {"create"}
    assert tasks["delete"].upstream_task_ids == {"create", "two", "three"}


def test_labels_are_kept_on_edges() -> None:
    with make_dag() as dag:
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        a >> Label("rows found") >> [b, c]
        c << Label("again") << b
    assert a.downstream_task_ids == {"b", "c"} and "b" in c.upstream_task_ids
    assert dag.get_edge_info("a", "b") == {"label": "rows found"}
    assert stored(dag).edge_info == {
        "a": {"b": {"label": "rows found"}, "c": {"label": "rows found"}},
        "b": {"c": {"label": "again"}},
    }


def test_chain_links_taskflow_results_groups_and_labels() -> None:
    @python_task
    def extract() -> int:
        return 1

    with make_dag() as dag:
        first = extract()
        with TaskGroup("grp") as grp:
            EmptyOperator(task_id="inner")
        ok, bad = EmptyOperator(task_id="ok"), EmptyOperator(task_id="bad")
        end = EmptyOperator(task_id="end")
        chain(first, grp, [Label("fine"), Label("broken")], [ok, bad], end)
    tasks = dag.task_dict
    assert tasks["grp.inner"].upstream_task_ids == {"extract"}
    assert tasks["ok"].upstream_task_ids == {"grp.inner"} and tasks["end"].upstream_task_ids == {"ok", "bad"}
    assert dag.get_edge_info("grp.inner", "ok") == {"label": "fine"}
    assert dag.get_edge_info("grp.inner", "bad") == {"label": "broken"}


def test_task_group_decorator_builds_a_group_per_call() -> None:
    @python_task
    def load(x: int) -> int:
        return x

    @task_group
    def stage(x: int) -> object:
        return load(load(x))

    @task_group(group_id="quiet")
    def nothing() -> None:
        EmptyOperator(task_id="noop")

    with make_dag() as dag:
        first = stage(1)
        second = stage(2)
        group = nothing()
        first >> group
    assert sorted(dag.task_ids) == ["quiet.noop", "stage.load", "stage.load__1", "stage__1.load", "stage__1.load__1"]
    assert isinstance(group, TaskGroup) and dag.task_dict["quiet.noop"].upstream_task_ids == {"stage.load__1"}
    assert second.operator.task_id == "stage__1.load__1"


def test_setup_and_teardown_decorators() -> None:
    @setup_task
    def create() -> str:
        return "c"

    @teardown_task(on_failure_fail_dagrun=True)
    def delete() -> None:
        return None

    with make_dag() as dag:
        c = create()
        d = delete()
        c >> DockerOperator(task_id="work", image="busybox") >> d
    assert dag.task_dict["create"].is_setup and dag.task_dict["delete"].is_teardown
    assert dag.task_dict["delete"].on_failure_fail_dagrun


def test_orchestration_operators_run_in_the_scheduler() -> None:
    with make_dag(schedule="@daily") as dag:
        latest = LatestOnlyOperator(task_id="latest")
        trigger = TriggerDagRunOperator(task_id="trigger", trigger_dag_id="other", conf={"d": "{{ ds }}"})
        latest >> trigger
    s = stored(dag)
    assert not s.task("latest").runs_container and s.task("latest").flow["kind"] == "branch"
    assert s.task("trigger").flow == {"kind": "trigger_dag_run"}
    with pytest.raises(Exception, match="allowed_states \\['finished'\\] are not run states"):
        TriggerDagRunOperator(task_id="bad", trigger_dag_id="x", allowed_states=["finished"], dag=dag)
    context = {
        "dag": dag,
        "dag_run": None,
        "data_interval_start": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
        "data_interval_end": dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc),
    }
    assert latest.run_in_scheduler(context, {}) == []  # an old run: what follows is skipped
    now = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    context.update(data_interval_start=now - dt.timedelta(days=1), data_interval_end=now)
    assert latest.run_in_scheduler(context, {}) == ["trigger"]


def test_airflow_import_paths_of_the_new_operators() -> None:
    script = """
from dockyard.compat import airflow; airflow.install()
from airflow.operators.python import BranchPythonOperator, ShortCircuitOperator, PythonVirtualenvOperator
from airflow.operators.python import ExternalPythonOperator
from airflow.operators.python_operator import BranchPythonOperator as Old
from airflow.operators.latest_only import LatestOnlyOperator
from airflow.operators.latest_only_operator import LatestOnlyOperator as OldLatest
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.operators.dagrun_operator import TriggerDagRunOperator as OldTrigger
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator as NewTrigger
from airflow.utils.edgemodifier import Label
from airflow.decorators import task, task_group, setup, teardown
from airflow.sdk import Label as L3, setup as s3, task_group as tg3
from airflow.exceptions import AirflowFailException
import dockyard.operators as ops
assert BranchPythonOperator is Old is ops.BranchPythonOperator
assert LatestOnlyOperator is OldLatest and TriggerDagRunOperator is OldTrigger is NewTrigger
assert Label is L3 and task_group is tg3
from airflow.operators.python import BranchPythonVirtualenvOperator, BranchExternalPythonOperator
assert BranchPythonVirtualenvOperator.needs_result and BranchExternalPythonOperator.needs_result
for name in ("branch", "short_circuit", "bash", "virtualenv", "external_python", "docker", "branch_virtualenv",
             "branch_external_python"):
    assert callable(getattr(task, name))
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr

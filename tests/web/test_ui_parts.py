"""The UI's logic without a browser, on a real store (SQLite and PostgreSQL): the trigger form's typed
values and every problem at once, the grid's TaskGroup rows, the plans behind the confirmation dialog, and
the pages of DAGs and runs filtered in SQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dockyard import DAG, EmptyOperator, Param
from dockyard.serialized import serialize_dag
from dockyard.settings import Settings
from dockyard.states import RunState, TaskState
from dockyard.store import Store
from dockyard.store.views import DagFilter, RunFilter, dag_page, run_page
from dockyard.taskgroup import TaskGroup
from dockyard.web.dag_pages import group_state, task_rows
from dockyard.web.run_actions import Options, carry_out, plan_action
from dockyard.web.trigger_form import param_fields, read_form

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def typed_dag() -> DAG:
    with DAG(
        "typed",
        start_date=START,
        schedule=None,
        params={
            "n": Param(3, type="integer", minimum=1),
            "on": Param(False, type="boolean"),
            "day": Param("2024-01-31", type="string", format="date"),
            "pick": Param("a", enum=["a", "b"]),
            "many": Param([], type="array", items={"enum": ["x", "y"]}),
            "blob": Param({}, type="object"),
            "maybe": Param(None, type=["null", "integer"]),
        },
    ) as dag:
        EmptyOperator(task_id="t")
    return dag


def test_each_param_gets_the_widget_of_its_type() -> None:
    widgets = {f.name: f.widget for f in param_fields(serialize_dag(typed_dag()))}
    assert widgets == {
        "n": "integer",
        "on": "switch",
        "day": "date",
        "pick": "select",
        "many": "multiselect",
        "blob": "json",
        "maybe": "integer",
    }


def test_the_form_reports_every_problem_at_once_and_reads_typed_values() -> None:
    dag = serialize_dag(typed_dag())
    sent = {
        "param_n": ["0"],
        "param_day": ["31/01/2024"],
        "param_pick": ["c"],
        "param_blob": ["{"],
        "param_maybe": [""],
    }
    _, problems = read_form(dag, sent)
    assert set(problems) == {"n", "day", "pick", "blob"}
    assert "minimum of 1" in problems["n"] and "JSON" in problems["blob"] and "'c' is not one of" in problems["pick"]
    good = {
        "param_n": ["5"],
        "param_on": ["on"],
        "param_day": ["2024-02-01"],
        "param_pick": ["b"],
        "param_many": ["x", "y"],
        "param_blob": ['{"a": [1]}'],
        "param_maybe": [""],
    }
    conf, problems = read_form(dag, good)
    assert problems == {}
    assert conf == {
        "n": 5,
        "on": True,
        "day": "2024-02-01",
        "pick": "b",
        "many": ["x", "y"],
        "blob": {"a": [1]},
        "maybe": None,
    }


def test_task_groups_become_rows_and_a_group_shows_its_most_telling_state() -> None:
    rows = task_rows([{"task_id": t} for t in ("a", "g.b", "g.h.c", "d")])
    assert [(r["id"], r["group"], r["depth"]) for r in rows] == [
        ("a", False, 0),
        ("g", True, 0),
        ("g.b", False, 1),
        ("g.h", True, 1),
        ("g.h.c", False, 2),
        ("d", False, 0),
    ]
    assert group_state(["success", "running", None]) == "running"
    assert group_state(["success", "failed", "running"]) == "failed"
    assert group_state([None, None]) is None


def grouped_dag() -> DAG:
    with DAG("grouped", start_date=START, schedule=None) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("g") as group:
            EmptyOperator(task_id="x") >> EmptyOperator(task_id="y")
        start >> group >> EmptyOperator(task_id="end")
    return dag


def finished_run(store: Store, run_id: str, day: int, states: dict[str, str]) -> None:
    store.create_run("grouped", run_id, logical_date=START + dt.timedelta(days=day), run_type="manual")
    store.start_run("grouped", run_id, [{"task_id": t} for t in states])
    for task_id, state in states.items():
        store.set_ti_state("grouped", run_id, [task_id], TaskState(state))
    store.finish_run("grouped", run_id, RunState.FAILED)


def test_clear_plans_downstream_by_default_and_carries_out_only_what_it_listed(store: Store, tmp_path: Path) -> None:
    dag = serialize_dag(grouped_dag())
    store.sync_dags([dag.to_record()], {})
    states = {"start": "success", "g.x": "failed", "g.y": "upstream_failed", "end": "upstream_failed"}
    finished_run(store, "r1", 0, states)
    finished_run(store, "r2", 1, states)
    plan = plan_action(store, dag, "clear", "r2", task_id="g.x", options=Options())
    assert [(c.run_id, c.task_id, c.before, c.after) for c in plan.changes] == [
        ("r2", "g.x", "failed", None),
        ("r2", "g.y", "upstream_failed", None),
        ("r2", "end", "upstream_failed", None),
    ]
    assert plan.run_state == "running"
    alone = plan_action(store, dag, "clear", "r2", task_id="g.x", options=Options(downstream=False, past=True))
    assert [(c.run_id, c.task_id) for c in alone.changes] == [("r2", "g.x"), ("r1", "g.x")]
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    assert carry_out(settings, store, dag, plan) == 3
    after = {t.task_id: t.state for t in store.list_task_instances("grouped", "r2")}
    assert after == {"start": "success", "g.x": None, "g.y": None, "end": None}
    assert store.get_run("grouped", "r2").state == "running"
    assert store.get_task_instance("grouped", "r1", "g.x").state == "failed"  # not in the plan: untouched


def test_marking_a_run_failed_fails_what_had_not_finished(store: Store) -> None:
    dag = serialize_dag(grouped_dag())
    store.sync_dags([dag.to_record()], {})
    finished_run(store, "r1", 0, {"start": "success", "g.x": "running", "g.y": "scheduled", "end": "skipped"})
    plan = plan_action(store, dag, "failed", "r1", task_id=None, options=Options(downstream=False))
    assert {c.task_id: c.after for c in plan.changes} == {"g.x": "failed", "g.y": "failed"}
    assert plan.run_state == "failed"


def test_pages_of_dags_and_runs_filter_in_the_database(store: Store) -> None:
    records = []
    for i in range(7):
        with DAG(f"d{i}", start_date=START, schedule=None, tags=["odd" if i % 2 else "even"]) as dag:
            EmptyOperator(task_id="t")
        records.append(serialize_dag(dag).to_record())
    store.sync_dags(records, {})
    store.set_paused("d3", True)
    page = dag_page(store, DagFilter(sort="-dag_id"), offset=0, limit=3)
    assert (page.total, [d.dag_id for d in page.rows]) == (7, ["d6", "d5", "d4"])
    odd_on = dag_page(store, DagFilter(tags=["odd"], paused=False), offset=0, limit=10)
    assert [d.dag_id for d in odd_on.rows] == ["d1", "d5"]
    for n in range(5):
        store.create_run("d1", f"r{n}", logical_date=START + dt.timedelta(days=n), run_type="manual")
        store.finish_run("d1", f"r{n}", RunState.SUCCESS if n % 2 else RunState.FAILED)
    failed_last = dag_page(store, DagFilter(last_state="failed"), offset=0, limit=10)
    assert [d.dag_id for d in failed_last.rows] == ["d1"]
    assert failed_last.rows[0].counts == {"failed": 3, "success": 2}
    runs = run_page(
        store, RunFilter(dag_id="d1", states=["failed"], since=START + dt.timedelta(days=1)), offset=0, limit=1
    )
    assert (runs.total, [r.run_id for r in runs.rows]) == (2, ["r4"])

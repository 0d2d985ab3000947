"""The pure parts of ``ti.xcom_push`` in a task's container (the runner's ``ti`` and the result envelope),
``BaseBranchOperator`` as authored, ``@task.override`` and the stored form of mapped sensors. The runs
themselves are in tests/engine/test_pushes_and_branches.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from dockyard import EmptyOperator, PythonOperator, task_runner, xcom_envelope
from dockyard.compat import airflow as compat
from dockyard.container.options import ContainerOptions
from dockyard.decorators import python_task
from dockyard.errors import DagDefinitionError
from dockyard.operators.branch import BaseBranchOperator
from dockyard.operators.scheduler_sensors import DateTimeSensor, DateTimeSensorAsync, ExternalTaskSensor
from dockyard.operators.sensors import PythonSensor, sensor_task
from dockyard.preparation import TryContext, prepare
from dockyard.serialized import serialize_dag
from dockyard.settings import Settings
from tests.helpers import make_dag

WHEN = dt.datetime(2024, 1, 31, tzinfo=dt.timezone.utc)


def _ti(keyed: list[Any] | None = None) -> task_runner.TaskInstance:
    facts = {"dag_id": "d", "task_id": "me", "run_id": "r"}
    return task_runner.TaskInstance(facts, {"up": [1, 2]}, keyed)


def test_the_runner_and_dockyard_agree_on_the_envelope() -> None:
    assert (task_runner.PUSHED, task_runner.RESULT) == (xcom_envelope.PUSHED, xcom_envelope.RESULT)
    assert xcom_envelope.open_envelope({xcom_envelope.PUSHED: {"k": 1}, xcom_envelope.RESULT: [2]}) == ([2], {"k": 1})
    # a plain result, even a dict that holds one of the keys, is not an envelope
    assert xcom_envelope.open_envelope({xcom_envelope.PUSHED: {"k": 1}}) == ({xcom_envelope.PUSHED: {"k": 1}}, None)
    assert xcom_envelope.open_envelope("text") == ("text", None)
    assert xcom_envelope.runs_task_runner({"environment": {"DOCKYARD_TASK": "{}"}})
    assert not xcom_envelope.runs_task_runner({"environment": {"OTHER": "1"}})


def test_ti_pulls_upstream_results_pushed_keys_and_its_own_pushes() -> None:
    ti = _ti([["a", "count", 1], ["b", "count", 2], ["a", "path", "/x"]])
    assert ti.xcom_pull(task_ids="up") == [1, 2]
    assert ti.xcom_pull(task_ids="a", key="count") == 1
    assert ti.xcom_pull(key="count") == 2  # any task: the latest push
    assert ti.xcom_pull("a", None, "path") == "/x"  # Airflow's positional order: task_ids, dag_id, key
    assert ti.xcom_pull(task_ids=["a", "b"], key="count") == [1, 2]
    assert ti.xcom_pull(task_ids="a", key="missing", default="none") == "none"
    ti.xcom_push(key="count", value=dt.date(2024, 1, 31))
    assert ti.pushed == {"count": "2024-01-31"}
    assert ti.xcom_pull(key="count") == "2024-01-31"  # its own push is the newest
    with pytest.raises(task_runner.AirflowException, match="return values of its upstream tasks \\(up\\)"):
        ti.xcom_pull(task_ids="elsewhere")


def test_ti_refuses_what_cannot_be_stored() -> None:
    ti = _ti()
    with pytest.raises(task_runner.AirflowException, match="key='k'.*type 'object' cannot be stored"):
        ti.xcom_push(key="k", value=object())
    with pytest.raises(task_runner.AirflowException, match="non-empty string"):
        ti.xcom_push(key="", value=1)


def _written(tmp_path: Path, result: Any, pushed: dict[str, Any], **payload: Any) -> Any:
    path = tmp_path / "result.json"
    base = {"push": True, "multiple_outputs": False, "ti": {"task_id": "t"}, "callable": {"qualname": "f"}}
    task_runner.write_result({**base, **payload, "result_path": str(path)}, result, pushed)
    return json.loads(path.read_text()) if path.exists() else "nothing"


def test_the_result_file_carries_pushes_in_an_envelope_only_when_there_are_some(tmp_path: Path) -> None:
    assert _written(tmp_path, [1], {}) == [1]
    both = _written(tmp_path, 7, {"k": "v", "return_value": "overridden"})
    assert xcom_envelope.open_envelope(both) == (7, {"k": "v"})  # the return value wins, as in Airflow
    (tmp_path / "result.json").unlink()
    assert _written(tmp_path, 7, {}, push=False) == "nothing"
    assert xcom_envelope.open_envelope(_written(tmp_path, 7, {"k": 1}, push=False)) == (None, {"k": 1})


class Pick(BaseBranchOperator):
    template_fields = ("target",)

    def __init__(self, *, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def choose_branch(self, context: Any) -> str:
        return self.target


def test_a_branch_operator_class_is_a_branch_and_needs_choose_branch() -> None:
    with make_dag() as dag:
        pick = Pick(task_id="pick", target="left")
        pick >> [python_task(lambda: 1, task_id="left")(), python_task(lambda: 2, task_id="right")()]
    stored = serialize_dag(dag).task_dict["pick"]
    assert stored.flow["kind"] == "branch" and stored.runs_container
    for path in ("airflow.operators.branch", "airflow.operators.branch_operator"):
        assert compat.MODULES[path]["BaseBranchOperator"] is BaseBranchOperator

    class Forgetful(BaseBranchOperator):
        pass

    with make_dag(), pytest.raises(DagDefinitionError, match="does not define choose_branch"):
        Forgetful(task_id="forgetful")


def scale(value: int, factor: int) -> int:
    return value * factor


def test_override_renames_and_reconfigures_a_decorated_task_mapped_or_not() -> None:
    decorated = python_task(scale, retries=1, owner="data")
    with make_dag() as dag:
        decorated.override(task_id="double")(21, 2)
        decorated.override(task_id="triple", retries=4).partial(factor=3).expand(value=[1, 2])
        decorated.partial(factor=5).override(task_id="quintuple").expand(value=[1])
        decorated(1, 1)
    tasks = serialize_dag(dag).task_dict
    assert sorted(tasks) == ["double", "quintuple", "scale", "triple"]
    assert (tasks["double"].retries, tasks["triple"].retries, tasks["scale"].retries) == (1, 4, 1)
    assert dag.task_dict["quintuple"].partial_kwargs["op_kwargs"] == {"factor": 5}  # type: ignore[attr-defined]


def ready(region: str) -> bool:
    return True


def test_a_mapped_sensor_is_stored_as_a_sensor_that_pokes_in_each_instance() -> None:
    with make_dag() as dag:
        PythonSensor.partial(task_id="wait", python_callable=ready, poke_interval=2, timeout=30, soft_fail=True).expand(
            op_kwargs=[{"region": "eu"}, {"region": "us"}]
        )
        sensor_task(ready, poke_interval=3, do_xcom_push=False).expand(region=["a"])
    tasks = serialize_dag(dag).task_dict
    wait = tasks["wait"].sensor or {}
    assert (wait["mode"], wait["poke_interval"], wait["timeout"], wait["soft_fail"]) == ("poke", 2.0, 30.0, True)
    assert wait["dag_id"] == dag.dag_id and wait["kind"] == "container"
    assert (tasks["ready"].sensor or {})["push"] is False


def test_a_mapped_sensor_keeps_reschedule_mode_and_a_clock_sensor_learns_its_target_per_instance() -> None:
    with make_dag() as dag:  # no warning (warnings are errors in the tests): reschedule mode is kept per instance
        PythonSensor.partial(task_id="w", python_callable=ready, mode="reschedule").expand(op_kwargs=[{"region": "x"}])
        DateTimeSensor.partial(task_id="clock", mode="reschedule", poke_interval=5, timeout=60).expand(
            target_time=["2024-02-01T06:00:00", "{{ macros.ds_add(ds, 2) }}T06:00:00"]
        )
        DateTimeSensorAsync.partial(task_id="later").expand(target_time=["2024-02-01T06:00:00"])
        ExternalTaskSensor.partial(task_id="ext", external_dag_id="up", mode="reschedule").expand(
            external_task_id=["load", "publish"]
        )
        PythonSensor.partial(task_id="own", python_callable=ready).expand_kwargs(  # plain values, one per instance
            [{"op_kwargs": {"region": "eu"}, "timeout": 5}, {"op_kwargs": {"region": "us"}, "timeout": 50}]
        )
    tasks = serialize_dag(dag).task_dict
    assert ((tasks["w"].sensor or {})["mode"], tasks["w"].runs_container) == ("reschedule", True)
    clock = tasks["clock"].sensor or {}
    assert (clock["mode"], clock["poke_interval"], clock["prepare"], tasks["clock"].runs_container) == (
        "reschedule",
        5.0,
        True,
        False,
    )
    assert (tasks["later"].sensor or {})["mode"] == "reschedule"  # deferrable: no triggerer, reschedule mode
    targets = []
    for index in (0, 1):  # each instance's target (and timing) comes from its own preparation
        context = TryContext(dag_id=dag.dag_id, task_id="clock", run_id="r", logical_date=WHEN, map_index=index)
        prepared = prepare(dag, dag.task_dict["clock"], context)
        assert (prepared.kind, prepared.options["kind"], prepared.options["mode"]) == (
            "sensor",
            "date_time",
            "reschedule",
        )
        targets.append(prepared.options["target"])
    assert targets == ["2024-02-01T06:00:00", "2024-02-02T06:00:00"]
    context = TryContext(dag_id=dag.dag_id, task_id="ext", run_id="r", logical_date=WHEN, map_index=1)
    watched = prepare(dag, dag.task_dict["ext"], context).options
    assert (watched["kind"], watched["task_ids"], watched["mode"]) == ("external_task", ["publish"], "reschedule")
    assert (tasks["own"].sensor or {})["timeout"] == 7 * 24 * 3600  # stored: the default; each verdict says its own


def _everything(a: int, /, b: int, *rest: int, ds: str = "", **context: Any) -> None: ...


def _named(x: int, ds: str | None = None, *, ti: Any = None) -> None: ...


class _Owner:
    def method(self, ds: str, params: Any = None) -> None: ...


def test_the_runner_reads_signatures_as_inspect_does_without_importing_it() -> None:
    import functools
    import inspect

    def expected(function: Any) -> tuple[list[str], set[str], bool]:
        found = inspect.signature(function).parameters
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        keyword = {n for n, p in found.items() if p.kind in kinds}
        return list(found), keyword, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in found.values())

    @functools.wraps(_named)
    def wrapped(*args: Any, **kwargs: Any) -> None: ...

    for function in (_everything, _named, _Owner().method, wrapped, lambda: None, functools.partial(_named, 1)):
        assert task_runner.parameters(function) == expected(function), function
    kwargs: dict[str, Any] = {}
    task_runner.arguments(_named, [1], kwargs, {"ds": {"$date": "2024-01-31T00:00:00+00:00"}, "ti": 1, "run_id": "r"})
    assert kwargs == {"ds": dt.datetime(2024, 1, 31, tzinfo=dt.timezone.utc), "ti": 1}


def test_a_python_task_gets_the_keys_its_upstream_tasks_pushed(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DAGS_FOLDER": str(dags)})
    with make_dag() as dag:
        first, second, _aside = (EmptyOperator(task_id=t) for t in ("first", "second", "aside"))
        last = PythonOperator(task_id="last", python_callable=ready, op_kwargs={"region": "x"})
        first >> second >> last
    dag.fileloc = str(dags / "etl.py")
    rows = [("first", "count", 1), ("aside", "count", 9), ("second", "when", dt.datetime(2024, 1, 31))]
    context = TryContext(dag_id=dag.dag_id, task_id="last", run_id="r1", logical_date=WHEN)
    prepared = prepare(dag, last, context, settings=settings, xcom_listing=lambda dag_id, run_id: rows)
    payload = json.loads(ContainerOptions.from_json(prepared.options).environment["DOCKYARD_TASK"] or "")
    assert payload["keyed_xcoms"] == [["first", "count", 1], ["second", "when", {"$date": "2024-01-31T00:00:00"}]]

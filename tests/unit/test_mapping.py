"""Dynamic task mapping: partial()/expand() on every operator and on @task, what the scheduler counts, and
which arguments each map index gets (Airflow's order: the last mapped argument varies fastest)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dockyard import DAG, BashOperator, DockerOperator, PythonOperator
from dockyard.decorators import python_task as task
from dockyard.errors import DagDefinitionError, UnknownArgumentError, UnmappableResultError
from dockyard.mapping import MappedOperator, count, mapped_sources
from dockyard.serialized import SerializedDag, serialize_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def no_xcom(task_id: str, key: str) -> Any:
    raise AssertionError(f"nothing should be looked up, asked for {task_id}/{key}")


def test_literal_lists_expand_as_a_cross_product_with_the_last_argument_fastest() -> None:
    with DAG("m", start_date=START) as dag:
        mapped = DockerOperator.partial(task_id="d", image="busybox").expand(
            command=["a", "b", "c"], environment=[{"X": "1"}, {"X": "2"}]
        )
    assert isinstance(mapped, MappedOperator)
    stored = serialize_dag(dag).task("d")
    assert stored.operator == "DockerOperator" and stored.runs_container
    assert count(stored.mapping or {}, no_xcom, limit=1024) == 6
    options = [mapped.unmap(i, no_xcom).options for i in range(6)]  # type: ignore[attr-defined]
    chosen = [(o.command, o.environment) for o in options]
    assert chosen == [
        ("a", {"X": "1"}),
        ("a", {"X": "2"}),
        ("b", {"X": "1"}),
        ("b", {"X": "2"}),
        ("c", {"X": "1"}),
        ("c", {"X": "2"}),
    ]


def test_partial_arguments_and_default_args_reach_every_instance_and_the_scheduler() -> None:
    with DAG("m", start_date=START, default_args={"retries": 3, "cwd": "/tmp"}):
        mapped = BashOperator.partial(task_id="say", max_active_tis_per_dag=2, env={"A": "1"}).expand(
            bash_command=["echo a", "echo b"]
        )
    one = mapped.unmap(1, no_xcom)
    assert isinstance(one, BashOperator)
    assert (one.bash_command, one.env, one.cwd, one.retries) == ("echo b", {"A": "1"}, "/tmp", 3)
    assert one.task_id == "say" and one.dag is mapped.dag
    stored = SerializedDag.from_json(serialize_dag(mapped.dag).to_json()).task("say")  # type: ignore[arg-type]
    assert (stored.retries, stored.max_active_tis_per_dag, stored.operator) == (3, 2, "BashOperator")


def test_a_dict_maps_over_its_key_value_pairs() -> None:
    with DAG("m", start_date=START):
        mapped = BashOperator.partial(task_id="say", bash_command="env").expand(env={"a": 1, "b": 2})
    assert [mapped.unmap(i, no_xcom).env for i in range(2)] == [("a", 1), ("b", 2)]


def test_a_task_function_maps_over_an_upstream_result_and_becomes_its_downstream() -> None:
    with DAG("m", start_date=START) as dag:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def add(x: int, y: int) -> int:
            return x + y

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(add.partial(y=10).expand(x=numbers()))
    stored = serialize_dag(dag)
    assert stored.task("add").upstream == ("numbers",)
    assert stored.task("total").upstream == ("add",)
    assert mapped_sources(stored.task("add").mapping) == {"numbers"}
    results = {("numbers", "return_value"): [5, 6, 7]}
    assert count(stored.task("add").mapping or {}, lambda t, k: results[(t, k)], limit=1024) == 3
    mapped = dag.task_dict["add"]
    assert isinstance(mapped, MappedOperator)
    one = mapped.unmap(2, lambda t, k: results[(t, k)])
    assert isinstance(one, PythonOperator) and one.op_kwargs == {"y": 10, "x": 7}


def test_expand_kwargs_and_zip() -> None:
    with DAG("m", start_date=START) as dag:

        @task
        def pairs() -> list[dict[str, int]]:
            return [{"x": 1, "y": 2}]

        @task
        def letters() -> list[str]:
            return ["a", "b", "c"]

        @task
        def add(x: Any, y: Any = 0) -> Any:
            return x

        add.expand_kwargs(pairs())
        abc = letters()
        add.expand(x=abc.zip([1, 2]))
        add.expand(x=abc.zip([1, 2], fillvalue=None))
    values = {
        ("pairs", "return_value"): [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
        ("letters", "return_value"): ["a", "b", "c"],
    }
    stored = serialize_dag(dag)

    def lookup(task_id: str, key: str) -> Any:
        return values[(task_id, key)]

    assert [count(stored.task(t).mapping or {}, lookup, limit=1024) for t in ("add", "add__1", "add__2")] == [2, 2, 3]
    assert dag.task_dict["add"].unmap(1, lookup).op_kwargs == {"x": 3, "y": 4}  # type: ignore[attr-defined]
    assert dag.task_dict["add__1"].unmap(1, lookup).op_kwargs == {"x": ("b", 2)}  # type: ignore[attr-defined]
    assert dag.task_dict["add__2"].unmap(2, lookup).op_kwargs == {"x": ("c", None)}  # type: ignore[attr-defined]


def test_an_empty_input_counts_zero_and_a_scalar_result_cannot_be_mapped() -> None:
    with DAG("m", start_date=START) as dag:

        @task
        def make() -> Any:
            return 1

        @task
        def use(x: Any) -> Any:
            return x

        use.expand(x=make())
        BashOperator.partial(task_id="none").expand(bash_command=[])
    stored = serialize_dag(dag)
    assert count(stored.task("none").mapping or {}, no_xcom, limit=1024) == 0
    with pytest.raises(UnmappableResultError, match=r"list or a dict, got a value of type 'str'"):
        count(stored.task("use").mapping or {}, lambda t, k: "abc", limit=1024)
    with pytest.raises(UnmappableResultError, match="the most is 2"):
        count(stored.task("use").mapping or {}, lambda t, k: [1, 2, 3], limit=2)


def test_container_names_carry_the_map_index() -> None:
    with DAG("m", start_date=START):
        mapped = DockerOperator.partial(task_id="d", image="busybox", container_name="job").expand(command=["a", "b"])
    assert [mapped.unmap(i, no_xcom).options.container_name for i in range(2)] == ["job-0", "job-1"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: BashOperator.partial(bash_command="x").expand(env=[{}]), "needs a task_id"),
        (lambda: BashOperator.partial(task_id="t").expand(), "at least one argument"),
        (lambda: BashOperator.partial(task_id="t").expand(bash_command="echo"), "got a str"),
        (lambda: BashOperator.partial(task_id="t").expand(retries=[1, 2]), "cannot map over 'retries'"),
        (
            lambda: BashOperator.partial(task_id="t", bash_command="a").expand(bash_command=["b"]),
            "both partial\\(\\) and expand\\(\\)",
        ),
        (lambda: BashOperator.partial(task_id="t").expand_kwargs([1]), "list of dicts"),
    ],
)
def test_wrong_mapping_is_one_clear_error(build: Any, message: str) -> None:
    with DAG("m", start_date=START), pytest.raises(DagDefinitionError, match=message):
        build()


def test_unknown_arguments_name_the_closest_one() -> None:
    with DAG("m", start_date=START):
        with pytest.raises(UnknownArgumentError, match="did you mean 'bash_command'"):
            BashOperator.partial(task_id="t").expand(bash_comand=["a"])

        @task
        def add(x: int) -> int:
            return x

        with pytest.raises(UnknownArgumentError, match="has no parameter 'z'"):
            add.expand(z=[1])


def test_an_operators_output_is_mapped_over_and_becomes_a_dependency() -> None:
    with DAG("m", start_date=START) as dag:
        listing = BashOperator(task_id="listing", bash_command="ls")
        each = DockerOperator.partial(task_id="each", image="busybox").expand(command=listing.output)
    assert dag.task_dict["each"].upstream_task_ids == {"listing"}
    assert each.unmap(1, lambda t, k: ["a", "b"]).options.command == "b"  # type: ignore[attr-defined]
    with pytest.raises(DagDefinitionError, match=r"XComArg.map\(\) is not supported"):
        listing.output.map(str)


def test_the_combined_state_of_instances_and_results_that_cannot_be_mapped() -> None:
    from dockyard.mapping import combined_state, unmappable

    assert combined_state(["success", "running", "failed"]) == "running"
    assert combined_state(["success", "skipped", "failed"]) == "failed"
    assert combined_state(["skipped", "success"]) == "success"
    assert combined_state(["skipped"]) == "skipped"
    over_up = {"kind": "product", "fields": [["x", {"xcom": ["up", "return_value"]}]]}
    over_key = {"kind": "kwargs", "source": {"xcom": ["up", "rows"]}}
    assert unmappable([over_up, None], "up", [1, 2], limit=10) is None
    assert unmappable([over_up], "other", "text", limit=10) is None  # not what that task maps over
    reason = unmappable([over_up], "up", "text", limit=10)
    assert reason is not None and "got a value of type 'str'" in reason
    assert unmappable([over_key], "up", {"rows": [{"x": 1}]}, limit=10) is None
    too_long = unmappable([over_up], "up", list(range(11)), limit=10)
    assert too_long is not None and "the most is 10" in too_long


def test_task_docker_functions_map_too() -> None:
    from dockyard.decorators import docker_task

    with DAG("m", start_date=START) as dag:

        @docker_task(image="busybox")
        def square(x: int, power: int) -> int:
            return x**power

        square.partial(power=2).expand(x=[3, 4])
    one = dag.task_dict["square"].unmap(1, no_xcom)  # type: ignore[attr-defined]
    assert one.options.environment["DOCKYARD_KWARG_x"] == "J:4"
    assert one.options.environment["DOCKYARD_KWARG_power"] == "J:2"

"""Dynamic task mapping under the scheduler: mapped Docker, Bash and ``@task`` tasks run one container per
instance, over literal lists and over an upstream task's result; an empty input skips the task; a downstream
task reduces the list of all results (Airflow's map and reduce)."""

from __future__ import annotations

import itertools

import docker
import pytest

from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.tasklog import log_path_for
from tests.engine.test_scheduler import env, run_once  # noqa: F401 - env is a fixture
from tests.helpers import TEST_LABEL, TOKEN, labelled, write_dag

pytestmark = pytest.mark.engine
TASK_IMAGE = "dockyard/python:latest"
CONFIG = f'{{"image": "{TASK_IMAGE}", "network_mode": "none", "labels": {{"{TEST_LABEL}": "{TOKEN}"}}}}'

MAPPED_DAG = f"""
from airflow.decorators import task
from airflow.operators.bash import BashOperator
from airflow.providers.docker.operators.docker import DockerOperator

CONFIG = {CONFIG}

with DAG("mapped", start_date=START, schedule=None, default_args={{**ARGS, "executor_config": CONFIG}}) as dag:

    @task
    def numbers():
        return [1, 2, 3]

    @task
    def add(x, y):
        return x + y

    @task
    def total(values):
        return sum(values)

    @task
    def nothing():
        return []

    @task
    def use(x):
        return x

    @task
    def commands():
        return ["echo first", "echo second"]

    sums = add.partial(y=10).expand(x=numbers())
    total(sums)
    skipped = use.expand(x=nothing())
    after = BashOperator(task_id="after_empty", bash_command="echo never")
    skipped >> after
    say = BashOperator.partial(
        task_id="say", max_active_tis_per_dagrun=1, map_index_template="{{{{ task.bash_command }}}}"
    ).expand(bash_command=["echo a", "echo b", "echo c"])
    joined = BashOperator(task_id="joined", bash_command="echo {{{{ ti.xcom_pull(task_ids='say') | join(',') }}}}")
    say >> joined
    DockerOperator.partial(task_id="docker").expand(
        environment=[{{"N": "1"}}, {{"N": "2"}}], command=["sh -c 'echo n=$N'", "sh -c 'echo m=$N'"]
    )
    BashOperator.partial(task_id="from_upstream").expand(bash_command=commands())
"""


def instances(store: Store, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
    return {(ti.task_id, ti.map_index): ti.state for ti in store.list_task_instances(dag_id, run_id)}


def test_mapped_docker_bash_and_task_functions_run_one_container_per_instance(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
) -> None:
    settings, store = env
    write_dag(settings.dags_folder, "mapped", MAPPED_DAG)
    run_id = run_once(settings, store, "mapped", timeout=300)
    assert store.get_run("mapped", run_id).state == "success"
    assert instances(store, "mapped", run_id) == {
        ("numbers", -1): "success",
        ("add", 0): "success",
        ("add", 1): "success",
        ("add", 2): "success",
        ("total", -1): "success",
        ("nothing", -1): "success",
        ("use", -1): "skipped",
        ("after_empty", -1): "skipped",
        ("say", 0): "success",
        ("say", 1): "success",
        ("say", 2): "success",
        ("joined", -1): "success",
        ("docker", 0): "success",
        ("docker", 1): "success",
        ("docker", 2): "success",
        ("docker", 3): "success",
        ("commands", -1): "success",
        ("from_upstream", 0): "success",
        ("from_upstream", 1): "success",
    }
    assert [store.get_xcom("mapped", run_id, "add", map_index=i) for i in range(3)] == [11, 12, 13]
    assert store.mapped_xcoms("mapped", run_id, "add") == [11, 12, 13]
    assert store.get_xcom("mapped", run_id, "total") == 36
    assert store.get_xcom("mapped", run_id, "joined") == "a,b,c"
    assert store.mapped_xcoms("mapped", run_id, "docker") == ["n=1", "m=1", "n=2", "m=2"]
    assert store.mapped_xcoms("mapped", run_id, "from_upstream") == ["first", "second"]
    said, total = store.list_mapped("mapped", run_id, "say")
    assert total == 3 and [ti.rendered_map_index for ti in said] == ["echo a", "echo b", "echo c"]
    for earlier, later in itertools.pairwise(said):  # max_active_tis_per_dagrun=1: one at a time
        assert earlier.end_date is not None and later.start_date is not None
        assert later.start_date >= earlier.end_date
    log = log_path_for(settings.logs_folder, "mapped", run_id, "say", 1, map_index=2)
    assert "map_index 2" in log.read_text() and "echo c" in log.read_text()
    assert labelled(engine, dag_id="mapped") == []  # every container removed once it succeeded


def test_a_result_that_is_not_a_list_fails_the_task_that_returned_it(
    env: tuple[Settings, Store],  # noqa: F811
    engine: docker.APIClient,
) -> None:
    settings, store = env
    write_dag(
        settings.dags_folder,
        "unmappable",
        """
with DAG("unmappable", start_date=START, schedule=None, default_args=ARGS) as dag:
    one = DockerOperator(task_id="one", command="echo just-text")
    DockerOperator.partial(task_id="each").expand(command=one.output)
""",
    )
    run_id = run_once(settings, store, "unmappable", timeout=120)
    assert instances(store, "unmappable", run_id) == {("one", -1): "failed", ("each", -1): "upstream_failed"}
    error = store.list_tries("unmappable", run_id, "one")[-1].error
    assert error is not None and "maps over a list or a dict, got a value of type 'str'" in error

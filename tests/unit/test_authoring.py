"""The authoring API: DAG, operators, dependencies and default_args, as Airflow DAG files use them."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest

from dockyard import DAG, DockerOperator, EmptyOperator, chain, cross_downstream
from dockyard.errors import DagDefinitionError, UnknownArgumentError

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)

# Every argument of Airflow's DockerOperator (the provider's list, as DESIGN.md records it).
AIRFLOW_DOCKER_ARGS = """image api_version command container_name cpus docker_url environment private_environment
env_file force_pull mem_limit host_tmp_dir network_mode tls_ca_cert tls_client_cert tls_client_key tls_verify
tls_hostname tls_ssl_version mount_tmp_dir tmp_dir user mounts entrypoint working_dir xcom_all docker_conn_id dns
dns_search auto_remove shm_size tty hostname privileged cap_add extra_hosts retrieve_output retrieve_output_path
timeout device_requests log_opts_max_size log_opts_max_file ipc_mode skip_on_exit_code port_bindings ulimits
labels""".split()
AIRFLOW_BASE_ARGS = """task_id retries retry_delay retry_exponential_backoff max_retry_delay execution_timeout
trigger_rule depends_on_past pool priority_weight do_xcom_push params doc_md on_failure_callback
on_success_callback on_retry_callback owner email queue pool_slots start_date end_date""".split()

# Airflow's defaults for the same arguments (auto_remove differs on purpose: see DESIGN.md).
AIRFLOW_DEFAULTS = {
    "api_version": None,
    "command": None,
    "container_name": None,
    "cpus": 1.0,
    "docker_url": None,
    "environment": None,
    "private_environment": None,
    "env_file": None,
    "force_pull": False,
    "mem_limit": None,
    "host_tmp_dir": None,
    "network_mode": None,
    "tls_verify": True,
    "mount_tmp_dir": True,
    "tmp_dir": "/tmp/airflow",
    "user": None,
    "mounts": None,
    "xcom_all": False,
    "auto_remove": "success",
    "shm_size": None,
    "tty": False,
    "privileged": False,
    "retrieve_output": False,
    "timeout": 60,
    "skip_on_exit_code": None,
}


def test_docker_operator_takes_every_airflow_argument() -> None:
    accepted = DockerOperator.accepted_arguments()
    missing = [a for a in AIRFLOW_DOCKER_ARGS + AIRFLOW_BASE_ARGS if a not in accepted]
    assert missing == []


def test_defaults_match_airflow() -> None:
    params = inspect.signature(DockerOperator.__init__).parameters
    actual = {name: params[name].default for name in AIRFLOW_DEFAULTS}
    assert actual == AIRFLOW_DEFAULTS


def test_unknown_argument_names_the_closest_valid_one() -> None:
    with pytest.raises(UnknownArgumentError) as info:
        DockerOperator(task_id="t", image="i", comand="echo")
    assert "unknown argument 'comand'" in str(info.value)
    assert "did you mean 'command'?" in str(info.value)
    with pytest.raises(UnknownArgumentError, match="did you mean 'schedule'"):
        DAG("d", schedul="@daily")


def test_default_args_fill_only_what_the_task_does_not_set() -> None:
    with DAG("d", start_date=START, default_args={"retries": 3, "mem_limit": "1g", "image": "base:1", "nonsense": 1}):
        a = DockerOperator(task_id="a", image="x")
        b = DockerOperator(task_id="b", image="y", retries=0, default_args={"mem_limit": "2g"})
        e = EmptyOperator(task_id="e")
    assert (a.retries, a.mem_limit, a.image) == (3, "1g", "x")
    assert (b.retries, b.mem_limit) == (0, "2g")
    assert e.retries == 3 and not hasattr(e, "mem_limit")


def test_dependencies_with_lists_and_both_directions() -> None:
    with DAG("d", start_date=START) as dag:
        a, b, c, d = (EmptyOperator(task_id=n) for n in "abcd")
        a >> [b, c] >> d
        d << EmptyOperator(task_id="e")
    assert b.upstream_task_ids == {"a"} and c.upstream_task_ids == {"a"}
    assert d.upstream_task_ids == {"b", "c", "e"}
    assert [t.task_id for t in dag.topological_sort()].index("a") < [t.task_id for t in dag.topological_sort()].index(
        "d"
    )


def test_chain_and_cross_downstream() -> None:
    with DAG("d", start_date=START):
        a, b1, b2, c1, c2, d = (EmptyOperator(task_id=n) for n in ["a", "b1", "b2", "c1", "c2", "d"])
        chain(a, [b1, b2], [c1, c2], d)
        x, y, z = (EmptyOperator(task_id=n) for n in "xyz")
        cross_downstream([x, y], [z])
    assert c1.upstream_task_ids == {"b1"} and c2.upstream_task_ids == {"b2"}
    assert d.upstream_task_ids == {"c1", "c2"}
    assert z.upstream_task_ids == {"x", "y"}
    with DAG("e", start_date=START), pytest.raises(DagDefinitionError, match="different lengths"):
        chain([EmptyOperator(task_id="p")], [EmptyOperator(task_id="q"), EmptyOperator(task_id="r")])


def test_cycle_is_reported_with_its_tasks() -> None:
    with DAG("d", start_date=START) as dag:
        a, b, c = (EmptyOperator(task_id=n) for n in "abc")
        a >> b >> c >> a
    with pytest.raises(DagDefinitionError, match=r"DAG 'd' has a cycle: (a|b|c) <- .* <- \1"):
        dag.validate()


def test_duplicate_task_id() -> None:
    with DAG("d", start_date=START), pytest.raises(DagDefinitionError, match="already has a task 'a'"):
        EmptyOperator(task_id="a")
        EmptyOperator(task_id="a")


def test_dependency_across_dags_is_refused() -> None:
    with DAG("one", start_date=START):
        a = EmptyOperator(task_id="a")
    with DAG("two", start_date=START):
        b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError, match="are in different DAGs"):
        a >> b


@pytest.mark.parametrize("bad", ["has space", "", "x" * 251, "slash/no"])
def test_bad_ids(bad: str) -> None:
    with pytest.raises(DagDefinitionError, match="is not valid: use 1 to 250 letters"):
        DAG(bad)


def test_bad_option_values_fail_when_the_dag_loads() -> None:
    with DAG("d", start_date=START):
        with pytest.raises(DagDefinitionError, match=r"task 'm': mem_limit='lots' is not a size"):
            DockerOperator(task_id="m", image="i", mem_limit="lots")
        with pytest.raises(DagDefinitionError, match=r"task 'v': mount '/a:b'"):
            DockerOperator(task_id="v", image="i", mounts=["/a:b"])
        with pytest.raises(
            DagDefinitionError, match="trigger_rule 'all_sucess' is not one of.*did you mean 'all_success'"
        ):
            DockerOperator(task_id="r", image="i", trigger_rule="all_sucess")
        # A templated mount can only be checked once it is rendered.
        DockerOperator(task_id="tpl", image="i", mounts=["/data/{{ ds }}:/in"])


def test_schedule_interval_is_the_deprecated_spelling() -> None:
    with pytest.warns(DeprecationWarning, match="'schedule_interval' is deprecated"):
        dag = DAG("d", schedule_interval="@hourly", start_date=START)
    assert dag.schedule == "@hourly"


def test_volumes_is_the_deprecated_spelling_of_mounts() -> None:
    with pytest.warns(DeprecationWarning, match="'volumes' is deprecated"):
        task = DockerOperator(task_id="t", image="i", volumes=["/a:/b:ro"])
    assert task.mounts == ["/a:/b:ro"]


def test_naive_start_date_is_utc() -> None:
    assert DAG("d", start_date=dt.datetime(2024, 1, 1)).start_date == START


def test_get_task_suggests() -> None:
    with DAG("d", start_date=START) as dag:
        EmptyOperator(task_id="extract")
    with pytest.raises(DagDefinitionError, match="did you mean 'extract'"):
        dag.get_task("extrct")

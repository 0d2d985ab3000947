"""Airflow's official Python client against a running dockyard, for the operations of datasets (events posted by
hand, the queue of datasets each consumer DAG waits on, a run's upstream events), of the instances of a mapped
task (one instance, its tries, its dependencies, its state) and of role changes (refused: the roles are fixed).

Together with ``test_airflow_client.py`` this calls every operation the client offers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from airflow_client.client import ApiClient
from airflow_client.client.api import dag_run_api, dataset_api, role_api, task_instance_api
from airflow_client.client.exceptions import ApiException
from airflow_client.client.model.action import Action
from airflow_client.client.model.action_resource import ActionResource
from airflow_client.client.model.create_dataset_event import CreateDatasetEvent
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.resource import Resource
from airflow_client.client.model.role import Role
from airflow_client.client.model.update_task_instance import UpdateTaskInstance
from airflow_client.client.model.update_task_state import UpdateTaskState

from tests.helpers import TEST_LABEL, TOKEN, wait_for
from tests.web.conftest import Site, wait_for_run
from tests.web.test_airflow_client import client_of, status_of

pytestmark = pytest.mark.engine

ORDERS = "s3://lake/orders"
HEADER = "from dockyard.datasets import Dataset\n"
PRODUCER = f"""
with DAG("ds_producer", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="write", command="echo wrote", outlets=[Dataset("{ORDERS}")])
"""
CONSUMER = f"""
with DAG("ds_consumer", start_date=START, schedule=[Dataset("{ORDERS}"), Dataset("s3://lake/customers")],
         default_args=ARGS) as dag:
    DockerOperator(task_id="read", command="echo read")
"""
MAPPED = """
with DAG("ds_mapped", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator.partial(task_id="each").expand(command=["echo one", "sh -c 'exit 3'", "echo three"])
"""


@pytest.fixture
def client(tmp_path: Path, database_url: str, engine: docker.APIClient) -> Iterator[tuple[Site, ApiClient]]:
    dags = {"ds_producer": HEADER + PRODUCER, "ds_consumer": HEADER + CONSUMER, "ds_mapped": MAPPED}
    with client_of(tmp_path, database_url, dags) as (site, api):
        for dag_id in dags:
            site.store.set_paused(dag_id, False)
        yield site, api
    # the failed instance's container is kept (auto_remove="success", as Airflow's); this test removes it
    for container in engine.containers(
        all=True, filters={"label": [f"{TEST_LABEL}={TOKEN}", "dockyard.dag_id=ds_mapped"]}
    ):
        engine.remove_container(container["Id"], force=True, v=True)


def test_dataset_events_queue_and_upstream_events(client: tuple[Site, ApiClient]) -> None:
    site, api = client
    datasets = dataset_api.DatasetApi(api)
    runs = dag_run_api.DAGRunApi(api)
    wait_for(lambda: datasets.get_datasets().total_entries == 2, timeout=30, what="the datasets to be recorded")
    assert status_of(lambda: datasets.get_dataset_queued_events(ORDERS)) == 404  # nothing queued yet

    posted = datasets.create_dataset_event(CreateDatasetEvent(dataset_uri=ORDERS, extra={"rows": 12}))
    assert posted.dataset_uri == ORDERS and posted.extra["rows"] == 12 and posted.source_dag_id is None
    unknown = CreateDatasetEvent(dataset_uri="s3://lake/nope")
    assert status_of(lambda: datasets.create_dataset_event(unknown)) == 404

    # the consumer waits on two datasets, so one event leaves it queued (a run needs both)
    queued = datasets.get_dag_dataset_queued_events("ds_consumer")
    assert [(q.uri, q.dag_id) for q in queued.datasets] == [(ORDERS, "ds_consumer")]
    assert datasets.get_dag_dataset_queued_event("ds_consumer", ORDERS).dag_id == "ds_consumer"
    assert [q.dag_id for q in datasets.get_dataset_queued_events(ORDERS).datasets] == ["ds_consumer"]
    earlier = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    assert status_of(lambda: datasets.get_dag_dataset_queued_events("ds_consumer", before=earlier)) == 404
    datasets.delete_dag_dataset_queued_event("ds_consumer", ORDERS)
    assert status_of(lambda: datasets.get_dag_dataset_queued_event("ds_consumer", ORDERS)) == 404
    assert status_of(lambda: datasets.delete_dag_dataset_queued_event("ds_consumer", ORDERS)) == 404

    # a task's event queues it again; the other two deletes empty the queue per dataset and per DAG
    runs.post_dag_run("ds_producer", DAGRun(dag_run_id="p1"))
    assert wait_for_run(site, "ds_producer", "p1") == "success"
    assert datasets.get_dataset_queued_events(ORDERS).total_entries == 1
    datasets.delete_dataset_queued_events(ORDERS)
    assert status_of(lambda: datasets.get_dataset_queued_events(ORDERS)) == 404
    datasets.create_dataset_event(CreateDatasetEvent(dataset_uri=ORDERS))
    datasets.delete_dag_dataset_queued_events("ds_consumer")
    assert status_of(lambda: datasets.get_dag_dataset_queued_events("ds_consumer")) == 404

    # both datasets updated: the consumer's run lists the events that triggered it
    datasets.create_dataset_event(CreateDatasetEvent(dataset_uri=ORDERS))
    datasets.create_dataset_event(CreateDatasetEvent(dataset_uri="s3://lake/customers"))
    triggered = wait_for(
        lambda: runs.get_dag_runs("ds_consumer").dag_runs, timeout=60, what="the dataset-triggered run"
    )
    run_id = triggered[0].dag_run_id
    upstream = runs.get_upstream_dataset_events("ds_consumer", run_id)
    # as in Airflow, every event of its datasets since its previous run, also those whose queue entry was deleted
    assert sorted(e.dataset_uri for e in upstream.dataset_events) == ["s3://lake/customers"] + [ORDERS] * 4
    assert all(run_id in [r.dag_run_id for r in e.created_dagruns] for e in upstream.dataset_events)
    assert runs.get_upstream_dataset_events("ds_producer", "p1").total_entries == 0
    assert status_of(lambda: runs.get_upstream_dataset_events("ds_consumer", "nope")) == 404
    events = datasets.get_dataset_events(source_dag_id="ds_producer")
    assert [e.source_run_id for e in events.dataset_events] == ["p1"]
    assert datasets.get_dataset(ORDERS).consuming_dags[0].dag_id == "ds_consumer"
    assert datasets.get_upstream_dataset_events("ds_consumer", run_id).total_entries == 5


def test_mapped_instances_tries_dependencies_and_state(client: tuple[Site, ApiClient]) -> None:
    site, api = client
    runs = dag_run_api.DAGRunApi(api)
    tis = task_instance_api.TaskInstanceApi(api)
    runs.post_dag_run("ds_mapped", DAGRun(dag_run_id="m1"))
    assert wait_for_run(site, "ds_mapped", "m1") == "failed"

    listed = tis.get_mapped_task_instances("ds_mapped", "m1", "each")
    assert [(t.map_index, t.state.value) for t in listed.task_instances] == [
        (0, "success"),
        (1, "failed"),
        (2, "success"),
    ]
    assert tis.get_mapped_task_instances("ds_mapped", "m1", "each", state=["failed"]).total_entries == 1
    failed = tis.get_mapped_task_instance("ds_mapped", "m1", "each", 1)
    assert failed.map_index == 1 and failed.state.value == "failed"
    assert status_of(lambda: tis.get_mapped_task_instance("ds_mapped", "m1", "each", 7)) == 404

    tries = tis.get_mapped_task_instance_tries("ds_mapped", "m1", "each", 1).task_instances
    assert [(t.map_index, t.try_number, t.state.value) for t in tries] == [(1, 1, "failed")]
    assert tis.get_mapped_task_instance_try_details("ds_mapped", "m1", "each", 2, 1).state.value == "success"
    assert status_of(lambda: tis.get_mapped_task_instance_try_details("ds_mapped", "m1", "each", 1, 5)) == 404
    reasons = tis.get_mapped_task_instance_dependencies("ds_mapped", "m1", "each", 1).dependencies
    assert {"Task Instance State", "Dagrun Running"} <= {d.name for d in reasons}

    dry = UpdateTaskInstance(new_state=UpdateTaskState("success"), dry_run=True)
    assert tis.patch_mapped_task_instance("ds_mapped", "m1", "each", 1, update_task_instance=dry).state == "failed"
    done = UpdateTaskInstance(new_state=UpdateTaskState("success"), dry_run=False)
    assert tis.patch_mapped_task_instance("ds_mapped", "m1", "each", 1, update_task_instance=done).state == "success"
    states = [t.state.value for t in tis.get_mapped_task_instances("ds_mapped", "m1", "each").task_instances]
    assert states == ["success", "success", "success"]  # only instance 1 changed; the others kept theirs
    back = UpdateTaskInstance(new_state=UpdateTaskState("failed"), dry_run=False)
    tis.patch_mapped_task_instance("ds_mapped", "m1", "each", 0, update_task_instance=back)
    states = [t.state.value for t in tis.get_mapped_task_instances("ds_mapped", "m1", "each").task_instances]
    assert states == ["failed", "success", "success"]


def test_roles_cannot_be_created_changed_or_deleted(client: tuple[Site, ApiClient]) -> None:
    _, api = client
    roles = role_api.RoleApi(api)
    wanted = Role(
        name="Auditor", actions=[ActionResource(action=Action(name="can_read"), resource=Resource(name="DAGs"))]
    )
    for call in (
        lambda: roles.post_role(wanted),
        lambda: roles.patch_role("Viewer", wanted),
        lambda: roles.delete_role("Op"),
    ):
        with pytest.raises(ApiException) as refused:
            call()
        assert refused.value.status == 400
        assert "Admin, Op, User, Viewer, Public" in str(refused.value.body)
    assert [r.name for r in roles.get_roles().roles] == ["Admin", "Op", "User", "Viewer", "Public"]


def test_every_operation_of_the_client_is_called_by_these_tests() -> None:
    """The two client test files together call each operation ``apache-airflow-client`` offers."""
    import importlib
    import inspect
    import pkgutil
    import re

    import airflow_client.client.api as apis

    here = Path(__file__).parent
    called = (here / "test_airflow_client.py").read_text() + Path(__file__).read_text()
    missing = []
    for info in pkgutil.iter_modules(apis.__path__):
        module = importlib.import_module(f"{apis.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for name, member in vars(cls).items():
                if callable(member) and not name.startswith("_") and not re.search(rf"\.{name}\(", called):
                    missing.append(f"{info.name}.{name}")
    assert missing == []

"""Airflow's official Python client (``apache-airflow-client`` 2.10, the last line for ``/api/v1``) against a
running dockyard, on SQLite and on PostgreSQL (datasets, mapped instances and roles: the next file).

The client checks each answer against the types of Airflow's ``v1.yaml`` as it reads it, so a field of the
wrong type or a missing required field fails here as it would fail a user's script.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_client.client import ApiClient, Configuration
from airflow_client.client.api import (
    config_api,
    connection_api,
    dag_api,
    dag_run_api,
    dag_stats_api,
    dag_warning_api,
    event_log_api,
    import_error_api,
    monitoring_api,
    permission_api,
    plugin_api,
    pool_api,
    provider_api,
    role_api,
    task_instance_api,
    user_api,
    variable_api,
    x_com_api,
)
from airflow_client.client.exceptions import ApiException
from airflow_client.client.model.clear_dag_run import ClearDagRun
from airflow_client.client.model.clear_task_instances import ClearTaskInstances
from airflow_client.client.model.connection import Connection
from airflow_client.client.model.dag import DAG
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.list_dag_runs_form import ListDagRunsForm
from airflow_client.client.model.list_task_instance_form import ListTaskInstanceForm
from airflow_client.client.model.pool import Pool
from airflow_client.client.model.set_dag_run_note import SetDagRunNote
from airflow_client.client.model.set_task_instance_note import SetTaskInstanceNote
from airflow_client.client.model.update_dag_run_state import UpdateDagRunState
from airflow_client.client.model.update_task_instance import UpdateTaskInstance
from airflow_client.client.model.update_task_instances_state import UpdateTaskInstancesState
from airflow_client.client.model.update_task_state import UpdateTaskState
from airflow_client.client.model.user import User
from airflow_client.client.model.user_collection_item_roles import UserCollectionItemRoles
from airflow_client.client.model.variable import Variable

from dockyard.settings import Settings
from tests.helpers import write_dag
from tests.web.conftest import ADMIN, Site, running_site, wait_for_run

pytestmark = pytest.mark.engine

ETL = """
with DAG("client_etl", start_date=START, schedule=None, default_args=ARGS, tags=["etl", "daily"],
         description="extract then load") as dag:
    extract = DockerOperator(task_id="extract", command="echo 42")
    load = DockerOperator(task_id="load", command="echo loaded {{ ti.xcom_pull(task_ids='extract') }}")
    extract >> load
"""
REPORT = """
with DAG("client_report", start_date=START, schedule=None, default_args=ARGS, tags=["report"],
         is_paused_upon_creation=True) as dag:
    DockerOperator(task_id="only", command="echo report")
"""


@contextlib.contextmanager
def client_of(tmp_path: Path, database_url: str, dags: dict[str, str]) -> Iterator[tuple[Site, ApiClient]]:
    """A running dockyard over a DAG folder of ``dags`` (name: body), once it has parsed them all, and the
    official client logged in to it as the admin."""
    folder = tmp_path / "dags"
    for name, body in dags.items():
        write_dag(folder, name, body)
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path / "home"),
            "DOCKYARD_DAGS_FOLDER": str(folder),
            "DOCKYARD_DATABASE_URL": database_url,
            "DOCKYARD_STOP_GRACE_SECONDS": "1",
        }
    )
    with running_site(settings) as site:
        deadline = time.monotonic() + 60
        while len(site.store.list_dags()) < len(dags):
            assert time.monotonic() < deadline, "the DAGs were not parsed"
            time.sleep(0.2)
        config = Configuration(host=site.url + "/api/v1", username=ADMIN[0], password=ADMIN[1])
        with ApiClient(config) as client:
            yield site, client


@pytest.fixture
def airflow(tmp_path: Path, database_url: str) -> Iterator[tuple[Site, ApiClient]]:
    with client_of(tmp_path, database_url, {"client_etl": ETL, "client_report": REPORT}) as found:
        yield found


def status_of(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except ApiException as exc:
        return int(exc.status)
    return 200


def test_dags_tasks_details_and_source(airflow: tuple[Site, ApiClient]) -> None:
    _, client = airflow
    dags = dag_api.DAGApi(client)
    assert dags.get_dags().total_entries == 2
    assert [d.dag_id for d in dags.get_dags(tags=["etl"]).dags] == ["client_etl"]
    assert [d.dag_id for d in dags.get_dags(dag_id_pattern="REP").dags] == ["client_report"]
    assert [d.dag_id for d in dags.get_dags(paused=True).dags] == ["client_report"]
    assert [d.dag_id for d in dags.get_dags(order_by="-dag_id").dags] == ["client_report", "client_etl"]
    assert [d.dag_id for d in dags.get_dags(limit=1, offset=1).dags] == ["client_report"]
    etl = dags.get_dag("client_etl")
    assert etl.description == "extract then load" and {t.name for t in etl.tags} == {"etl", "daily"}
    details = dags.get_dag_details("client_etl")
    assert details.catchup is True and details.start_date is not None
    tasks = dags.get_tasks("client_etl")
    assert [t.task_id for t in tasks.tasks] == ["extract", "load"]
    assert tasks.tasks[0].downstream_task_ids == ["load"]
    assert dags.get_task("client_etl", "load").trigger_rule.value == "all_success"
    assert status_of(lambda: dags.get_task("client_etl", "nope")) == 404
    source = dags.get_dag_source(etl.file_token)
    assert 'DAG("client_etl"' in source.content
    assert status_of(lambda: dags.get_dag_source("bm90LWEtZGFnLWZpbGU")) == 404
    assert dags.reparse_dag_file(etl.file_token) is None  # 201, no body
    assert status_of(lambda: dags.reparse_dag_file("bm90LWEtZGFnLWZpbGU")) == 404
    assert dags.patch_dag("client_report", DAG(is_paused=False), update_mask=["is_paused"]).is_paused is False
    changed = dags.patch_dags("client_", DAG(is_paused=True))
    assert changed.total_entries == 2 and all(d.is_paused for d in changed.dags)
    dags.patch_dags("~", DAG(is_paused=False))
    assert dags.get_dags(paused=False).total_entries == 2
    stats = dag_stats_api.DagStatsApi(client).get_dag_stats("client_etl")
    assert stats.dags[0]["dag_id"] == "client_etl"
    assert dag_warning_api.DagWarningApi(client).get_dag_warnings().total_entries == 0


def test_runs_task_instances_clear_and_states(airflow: tuple[Site, ApiClient]) -> None:
    site, client = airflow
    runs = dag_run_api.DAGRunApi(client)
    tis = task_instance_api.TaskInstanceApi(client)
    dags = dag_api.DAGApi(client)
    when = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    run = runs.post_dag_run("client_etl", DAGRun(dag_run_id="r1", logical_date=when, conf={"n": 1}))
    assert run.dag_run_id == "r1" and run.state.value in ("queued", "running")
    assert wait_for_run(site, "client_etl", "r1") == "success"
    assert runs.get_dag_run("client_etl", "r1").conf == {"n": 1}
    assert runs.get_dag_runs("client_etl", state=["success"]).total_entries == 1
    assert runs.get_dag_runs("~", execution_date_gte=when).total_entries == 1
    assert runs.get_dag_runs("~", execution_date_gte=when + dt.timedelta(days=1)).total_entries == 0
    batch = runs.get_dag_runs_batch(ListDagRunsForm(dag_ids=["client_etl"], states=["success"]))
    assert [r.dag_run_id for r in batch.dag_runs] == ["r1"]

    listed = tis.get_task_instances("client_etl", "r1")
    assert {t.task_id: t.state.value for t in listed.task_instances} == {"extract": "success", "load": "success"}
    assert tis.get_task_instances("~", "~", state=["success"]).total_entries == 2
    assert tis.get_task_instances("client_etl", "~", pool=["other"]).total_entries == 0
    assert tis.get_task_instances("client_etl", "r1", duration_gte=0.0).total_entries == 2
    both = tis.get_task_instances_batch(ListTaskInstanceForm(dag_ids=["client_etl"], task_ids=["load"]))
    assert [t.task_id for t in both.task_instances] == ["load"]
    load = tis.get_task_instance("client_etl", "r1", "load")
    assert load.try_number == 1 and load.execution_date is not None
    assert [t.try_number for t in tis.get_task_instance_tries("client_etl", "r1", "load").task_instances] == [1]
    assert tis.get_task_instance_try_details("client_etl", "r1", "load", 1).state.value == "success"
    reasons = tis.get_task_instance_dependencies("client_etl", "r1", "load").dependencies
    assert "Task Instance State" in [d.name for d in reasons]
    assert tis.get_extra_links("client_etl", "r1", "load") is not None
    log = tis.get_log("client_etl", "r1", "load", 1)
    assert "loaded 42" in log.content
    xcoms = x_com_api.XComApi(client)
    assert [x.key for x in xcoms.get_xcom_entries("client_etl", "r1", "extract").xcom_entries] == ["return_value"]
    assert xcoms.get_xcom_entry("client_etl", "r1", "extract", "return_value").value == '"42"'

    dry = dags.post_clear_task_instances("client_etl", ClearTaskInstances(dag_run_id="r1", task_ids=["extract"]))
    assert dry.task_instances == []  # Airflow's defaults: a dry run of failed task instances only
    plan = ClearTaskInstances(dag_run_id="r1", task_ids=["extract"], only_failed=False, include_downstream=True)
    assert {t.task_id for t in dags.post_clear_task_instances("client_etl", plan).task_instances} == {"extract", "load"}
    marked = dags.post_set_task_instances_state(
        "client_etl",
        UpdateTaskInstancesState(dag_run_id="r1", task_id="load", new_state=UpdateTaskState("failed"), dry_run=False),
    )
    assert [t.task_id for t in marked.task_instances] == ["load"]
    assert tis.get_task_instance("client_etl", "r1", "load").state.value == "failed"
    patched = tis.patch_task_instance(
        "client_etl", "r1", "load", UpdateTaskInstance(new_state=UpdateTaskState("success"))
    )
    assert patched.task_id == "load"
    noted = runs.set_dag_run_note("client_etl", "r1", SetDagRunNote(note="checked by ops"))
    assert noted.note == "checked by ops" and runs.get_dag_run("client_etl", "r1").note == "checked by ops"
    ti_note = tis.set_task_instance_note("client_etl", "r1", "load", SetTaskInstanceNote(note="slow disk"))
    assert ti_note.note == "slow disk" and tis.get_task_instance("client_etl", "r1", "load").note == "slow disk"
    unmapped = SetTaskInstanceNote(note="x")
    assert status_of(lambda: tis.set_mapped_task_instance_note("client_etl", "r1", "load", 2, unmapped)) == 404
    assert runs.update_dag_run_state("client_etl", "r1", UpdateDagRunState(state="failed")).state.value == "failed"
    cleared = runs.clear_dag_run("client_etl", "r1", ClearDagRun(dry_run=True))
    assert {t["task_id"] for t in cleared["task_instances"]} == {"extract", "load"}
    runs.clear_dag_run("client_etl", "r1", ClearDagRun(dry_run=False))
    assert wait_for_run(site, "client_etl", "r1") == "success"
    assert tis.get_task_instance("client_etl", "r1", "load").try_number == 2

    runs.delete_dag_run("client_etl", "r1")
    assert status_of(lambda: runs.get_dag_run("client_etl", "r1")) == 404
    events = event_log_api.EventLogApi(client)
    logged = events.get_event_logs(dag_id="client_etl", order_by="event_log_id")
    assert {"trigger", "mark_failed", "dagrun_failed", "clear", "delete_dag_run"} <= {
        e.event for e in logged.event_logs
    }
    assert all(e.owner == ADMIN[0] for e in logged.event_logs)
    first = logged.event_logs[0]
    assert events.get_event_log(first.event_log_id).event == first.event
    dags.delete_dag("client_report")
    assert status_of(lambda: dags.get_dag("client_report")) == 404


def test_pools_connections_variables_users_and_monitoring(airflow: tuple[Site, ApiClient]) -> None:
    _, client = airflow
    pools = pool_api.PoolApi(client)
    assert "default_pool" in [p.name for p in pools.get_pools().pools]
    pools.post_pool(Pool(name="gpu", slots=2, description="two cards"))
    assert pools.get_pool("gpu").open_slots == 2
    assert pools.patch_pool("gpu", Pool(name="gpu", slots=4)).slots == 4
    assert status_of(lambda: pools.post_pool(Pool(name="gpu", slots=1))) == 409
    pools.delete_pool("gpu")
    assert status_of(lambda: pools.get_pool("gpu")) == 404
    assert status_of(lambda: pools.delete_pool("default_pool")) == 400

    conns = connection_api.ConnectionApi(client)
    conns.post_connection(Connection(connection_id="db", conn_type="postgres", host="h", password="s3cret-pw"))
    assert conns.get_connection("db").host == "h"
    assert conns.patch_connection("db", Connection(connection_id="db", conn_type="postgres", port=5433)).port == 5433
    assert conns.get_connections().total_entries == 1
    assert conns.test_connection(Connection(connection_id="t", conn_type="postgres", host="h")).status is True
    conns.delete_connection("db")

    variables = variable_api.VariableApi(client)
    variables.post_variables(Variable(key="bucket", value="s3://a"))
    assert variables.get_variable("bucket").value == "s3://a"
    assert variables.patch_variable("bucket", Variable(key="bucket", value="s3://b")).value == "s3://b"
    assert variables.get_variables().total_entries == 1
    variables.delete_variable("bucket")

    users = user_api.UserApi(client)
    role = [UserCollectionItemRoles(name="Viewer")]
    users.post_user(
        User(username="eve", password="eve-pass-1234", email="e@x", first_name="E", last_name="V", roles=role)
    )
    assert users.get_user("eve").roles[0].name == "Viewer"
    assert (
        users.patch_user("eve", User(username="eve", first_name="Eva", email="e@x", last_name="V")).first_name == "Eva"
    )
    assert "eve" in [u.username for u in users.get_users().users]
    users.delete_user("eve")
    roles = role_api.RoleApi(client)
    assert [r.name for r in roles.get_roles().roles] == ["Admin", "Op", "User", "Viewer", "Public"]
    assert roles.get_role("Viewer").name == "Viewer"
    assert permission_api.PermissionApi(client).get_permissions().total_entries > 0

    monitoring = monitoring_api.MonitoringApi(client)
    assert monitoring.get_health().metadatabase.status.value == "healthy"
    assert monitoring.get_version().version
    config = config_api.ConfigApi(client).get_config(section="core")
    assert "dags_folder" in [o.key for o in config.sections[0].options]
    assert config_api.ConfigApi(client).get_value("core", "parallelism").sections[0].options[0].value
    assert import_error_api.ImportErrorApi(client).get_import_errors().total_entries == 0
    assert status_of(lambda: import_error_api.ImportErrorApi(client).get_import_error(1)) == 404
    assert plugin_api.PluginApi(client).get_plugins().total_entries == 0
    assert provider_api.ProviderApi(client).get_providers()["total_entries"] == 0  # the client reads a plain dict

"""Tasks on a second engine over TLS: good certificates work; a wrong CA or host name fails clearly."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import pytest

from dockyard.connections import Connection, Connections
from dockyard.errors import EngineUnreachableError
from dockyard.execution import TaskRunner, TryOutcome
from dockyard.settings import Settings
from dockyard.states import TaskState
from dockyard.store import Store
from tests.helpers import LOGICAL_DATE, docker_task, make_dag
from tests.tls_engine import TlsEngine

pytestmark = pytest.mark.engine


def run(tmp_path: Path, **kwargs: object) -> TryOutcome:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    store = Store.open(settings)
    runner = TaskRunner(settings, connections=Connections(settings, store))
    dag = make_dag()
    kwargs.setdefault("command", ["hostname"])
    task = docker_task(dag, auto_remove="never", **kwargs)
    try:
        return runner.run(dag, task, logical_date=LOGICAL_DATE, run_id=f"tls_{uuid.uuid4().hex[:6]}")
    finally:
        runner.runtime.close()
        store.close()


def test_good_certificates_run_the_task_on_the_remote_engine(
    tls_engine: TlsEngine, tmp_path: Path, engine: docker.APIClient
) -> None:
    outcome = run(
        tmp_path,
        **tls_engine.options(),
        hostname="on-the-tls-engine",
        mount_tmp_dir=False,
    )
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.xcom == "on-the-tls-engine"
    assert tls_engine.client.inspect_container(outcome.container_id)["Config"]["Hostname"] == "on-the-tls-engine"
    with pytest.raises(docker.errors.NotFound):
        engine.inspect_container(outcome.container_id)  # not on the local engine


def test_tls_hostname_is_honoured(tls_engine: TlsEngine, tmp_path: Path) -> None:
    tls = tls_engine.options(mount_tmp_dir=False)
    assert run(tmp_path, tls_hostname="localhost", **tls).state is TaskState.SUCCESS
    wrong = run(tmp_path, tls_hostname="wrong.example.com", **tls)
    assert isinstance(wrong.error, EngineUnreachableError)
    assert tls_engine.url.replace("tcp://", "https://") in wrong.message or tls_engine.url in wrong.message
    assert "wrong.example.com" in wrong.message and "hostname" in wrong.message.lower()


def test_a_wrong_ca_fails_clearly(tls_engine: TlsEngine, tmp_path: Path) -> None:
    outcome = run(
        tmp_path,
        **tls_engine.options(tls_ca_cert=tls_engine.other_ca),
        mount_tmp_dir=False,
    )
    assert outcome.state is TaskState.FAILED
    assert isinstance(outcome.error, EngineUnreachableError)
    assert "certificate verify failed" in outcome.message and "no Docker engine answered" in outcome.message


def test_missing_certificate_files_are_named(tls_engine: TlsEngine, tmp_path: Path) -> None:
    outcome = run(
        tmp_path,
        **tls_engine.options(tls_client_cert="/nope/cert.pem"),
        mount_tmp_dir=False,
    )
    assert outcome.state is TaskState.FAILED
    assert "TLS options for" in outcome.message and "paths to existing PEM files" in outcome.message


def test_a_connection_can_name_the_engine(tls_engine: TlsEngine, tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path)})
    store = Store.open(settings)
    extra = tls_engine.options()
    Connections(settings, store).add(Connection(conn_id="remote", conn_type="docker", extra=json.dumps(extra)))
    store.close()
    outcome = run(tmp_path, docker_conn_id="remote", mount_tmp_dir=False)
    assert outcome.state is TaskState.SUCCESS, outcome.message
    tls_engine.client.inspect_container(outcome.container_id)


def test_an_engine_that_cannot_see_the_temporary_directory_runs_without_it(
    tls_engine: TlsEngine, tmp_path: Path
) -> None:
    outcome = run(
        tmp_path,
        **tls_engine.options(),
        host_tmp_dir=tls_engine.hidden,
        command=["sh", "-c", "echo tmp=[$AIRFLOW_TMP_DIR]"],
    )
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.xcom == "tmp=[]"
    log = Path(outcome.log_path).read_text()  # type: ignore[arg-type]
    assert "WARNING: the engine cannot mount the host folder" in log and "mount_tmp_dir=False" in log
    assert list(Path(tls_engine.hidden).iterdir()) == []  # the temporary folder was removed again

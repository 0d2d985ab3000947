"""Private registries on loopback: a connection's login, Google's _json_key, config.json and credential
helpers; a wrong password fails clearly and the password shows up nowhere."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from dockyard.connections import Connection, Connections
from dockyard.errors import ImageError
from dockyard.execution import TaskRunner, TryOutcome
from dockyard.settings import Settings
from dockyard.states import TaskState
from dockyard.store import Store
from tests.helpers import LOGICAL_DATE, TEST_LABEL, TOKEN, docker_task, log_text, make_dag
from tests.registry import JSON_KEY, LOGIN, PASSWORD, Registry

pytestmark = pytest.mark.engine


@pytest.fixture
def home(tmp_path: Path, engine: docker.APIClient) -> Iterator[tuple[Settings, Store]]:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker-config")})
    store = Store.open(settings)
    yield settings, store
    store.close()


def forget(engine: docker.APIClient, image: str) -> None:
    """Make sure the engine has to pull ``image``."""
    try:
        engine.remove_image(image, force=True)
    except docker.errors.ImageNotFound:
        pass


def run(settings: Settings, store: Store, image: str, **kwargs: object) -> TryOutcome:
    runner = TaskRunner(settings, connections=Connections(settings, store), variables=store.find_variable)
    dag = make_dag()
    task = docker_task(dag, image=image, command=["echo", "pulled"], **kwargs)
    try:
        return runner.run(dag, task, logical_date=LOGICAL_DATE, run_id=f"reg_{uuid.uuid4().hex[:6]}")
    finally:
        runner.runtime.close()


def test_a_stored_connection_logs_in_and_pulls(
    home: tuple[Settings, Store], registry: Registry, engine: docker.APIClient
) -> None:
    settings, store = home
    image = f"{registry.address}/{registry.image}:1"
    forget(engine, image)
    host, port = registry.address.split(":")
    Connections(settings, store).add(
        Connection(
            conn_id="private_reg",
            conn_type="docker",
            host=host,
            port=int(port),
            login=LOGIN,
            password=PASSWORD,
            extra='{"email": "ci@example.com", "reauth": "true"}',
        )
    )
    outcome = run(settings, store, image, docker_conn_id="private_reg")
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.xcom == "pulled"
    log = log_text(outcome)
    assert f"Logged in to {registry.address} as {LOGIN} (connection private_reg)" in log
    assert PASSWORD not in log


def test_a_wrong_password_names_the_registry_and_the_connection(
    home: tuple[Settings, Store], registry: Registry, engine: docker.APIClient
) -> None:
    settings, store = home
    image = f"{registry.address}/{registry.image}:1"
    forget(engine, image)
    wrong = "wrong-pass-0000"
    settings = Settings.from_env(
        {"DOCKYARD_HOME": str(settings.home), "DOCKYARD_CONN_BAD_REG": f"docker://{LOGIN}:{wrong}@{registry.address}"}
    )
    outcome = run(settings, store, image, docker_conn_id="bad_reg")
    assert outcome.state is TaskState.FAILED
    assert isinstance(outcome.error, ImageError)
    assert f"login to registry {registry.address} as '{LOGIN}' (connection 'bad_reg') failed" in outcome.message
    assert wrong not in outcome.message and wrong not in log_text(outcome)


@pytest.mark.parametrize("login", ["_json_key", "_json_key_base64"])
def test_google_json_key_logins(
    home: tuple[Settings, Store], registry: Registry, engine: docker.APIClient, login: str
) -> None:
    settings, store = home
    image = f"{registry.json_key_address}/{registry.image}:1"
    forget(engine, image)
    secret = JSON_KEY if login == "_json_key" else base64.b64encode(JSON_KEY.encode()).decode()
    Connections(settings, store).add(
        Connection(conn_id="gcr", conn_type="docker", host=registry.json_key_address, login=login, password=secret)
    )
    outcome = run(settings, store, image, docker_conn_id="gcr")
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert "private_key" not in log_text(outcome)


def test_config_json_credentials_without_a_connection(
    home: tuple[Settings, Store], registry: Registry, engine: docker.APIClient
) -> None:
    settings, store = home
    image = f"{registry.address}/{registry.image}:1"
    forget(engine, image)
    assert settings.docker_config is not None
    settings.docker_config.mkdir()
    auth = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    (settings.docker_config / "config.json").write_text(json.dumps({"auths": {registry.address: {"auth": auth}}}))
    outcome = run(settings, store, image)
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert f"Using the credentials for {registry.address} from" in log_text(outcome)


def test_a_credential_helper_is_asked_for_every_pull(
    home: tuple[Settings, Store],
    registry: Registry,
    engine: docker.APIClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, store = home
    image = f"{registry.address}/{registry.image}:1"
    assert settings.docker_config is not None
    settings.docker_config.mkdir()
    (settings.docker_config / "config.json").write_text(json.dumps({"credHelpers": {registry.address: "dockyardtest"}}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "helper-calls"
    helper = bin_dir / "docker-credential-dockyardtest"
    # A real credential helper (the docker-credential-* protocol): it hands out a fresh secret on each call.
    helper.write_text(f"""#!/bin/sh
read server
echo "$1 $server" >> {calls}
printf '{{"ServerURL": "%s", "Username": "{LOGIN}", "Secret": "{PASSWORD}"}}' "$server"
""")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for _ in range(2):
        forget(engine, image)
        outcome = run(settings, store, image)
        assert outcome.state is TaskState.SUCCESS, outcome.message
    assert calls.read_text().splitlines() == [f"get {registry.address}"] * 2


def test_without_credentials_the_registry_refuses_clearly(
    home: tuple[Settings, Store], registry: Registry, engine: docker.APIClient
) -> None:
    settings, store = home
    image = f"{registry.address}/{registry.image}:1"
    forget(engine, image)
    outcome = run(settings, store, image)
    assert outcome.state is TaskState.FAILED
    assert f"could not pull image '{image}' from {registry.address}" in outcome.message
    assert "docker_conn_id" in outcome.message


def test_the_labels_mark_containers_for_cleanup() -> None:
    assert TEST_LABEL and TOKEN  # the registry tests' containers carry the session label via docker_task

"""Shared fixtures. Engine tests use the real Docker engine and the locally built dockyard/busybox image.

Every container a test creates carries the label ``dockyard.test=<this session's token>`` and is
removed (with its anonymous volumes) when the session ends; named volumes the tests create carry
the same label and are removed too.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dockyard.execution import TaskRunner, TryOutcome
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import IMAGE, LOGICAL_DATE, TEST_LABEL, TOKEN, RunTask, docker_task, make_dag
from tests.registry import registry  # noqa: F401 - a session fixture the registry tests use
from tests.tls_engine import tls_engine  # noqa: F401 - a session fixture the remote engine tests use


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.APIClient]:
    """A client of the local engine; fails (never skips) when no engine or test image is there."""
    try:
        client = docker.APIClient(version="auto")
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answers ({exc}); run scripts/start-engine", pytrace=False)
    try:
        client.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the test image {IMAGE} is missing; run scripts/build-images", pytrace=False)
    yield client
    for container in client.containers(all=True, filters={"label": f"{TEST_LABEL}={TOKEN}"}):
        client.remove_container(container["Id"], force=True, v=True)
    for volume in client.volumes(filters={"label": f"{TEST_LABEL}={TOKEN}"}).get("Volumes") or []:
        client.remove_volume(volume["Name"], force=True)
    client.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server the suite uses (scripts/start-postgres); fails, never skips, without one."""
    url = os.environ.get("DOCKYARD_TEST_POSTGRES_URL")
    if not url:
        pytest.fail('DOCKYARD_TEST_POSTGRES_URL is not set; run eval "$(scripts/start-postgres)" first', pytrace=False)
    return url


def _again(admin: sa.Engine, statement: str, error: type[Exception], *, tries: int) -> None:
    """Run ``statement``, trying again every 0.25 s while it fails with ``error`` (at most ``tries`` times)."""
    for attempt in range(tries):
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(statement)
            return
        except error:
            if attempt == tries - 1:
                raise
            time.sleep(0.25)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of each kind for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dockyard.db'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"dockyard_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    # template0 and a retry: parallel workers' CREATE DATABASE can collide on the template
    _again(admin, f"CREATE DATABASE {name} TEMPLATE template0", sa.exc.OperationalError, tries=20)
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    # FORCE may not end an autovacuum worker that is busy in the database (only a superuser can): it
    # finishes within moments, so try again.
    _again(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", sa.exc.ProgrammingError, tries=40)
    admin.dispose()


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DATABASE_URL": database_url})
    opened = Store.open(settings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("dockyard-home")
    # A short grace keeps the tests that stop containers (sleep as PID 1 ignores SIGTERM) fast.
    return Settings.from_env({"DOCKYARD_HOME": str(home), "DOCKYARD_STOP_GRACE_SECONDS": "1"})


@pytest.fixture(scope="session")
def runner(settings: Settings, engine: docker.APIClient) -> Iterator[TaskRunner]:
    runner = TaskRunner(settings)
    yield runner
    runner.runtime.close()


@pytest.fixture
def run_task(runner: TaskRunner) -> RunTask:
    """Run a one-task DAG built from DockerOperator keyword arguments; returns the try's outcome."""

    def run(echo: Callable[[str], None] | None = None, **kwargs: Any) -> TryOutcome:
        dag = make_dag()
        task = docker_task(dag, **kwargs)
        return runner.run(dag, task, logical_date=LOGICAL_DATE, run_id=f"test_{uuid.uuid4().hex[:8]}", echo=echo)

    return run

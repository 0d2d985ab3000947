"""Shared fixtures. Engine tests use the real Docker engine and the locally built dockyard/busybox image.

Every container a test creates carries the label ``dockyard.test=<this session's token>`` and is
removed (with its anonymous volumes) when the session ends; named volumes the tests create carry
the same label and are removed too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from dockyard import DAG, DockerOperator
from dockyard.execution import TaskRunner, TryOutcome
from dockyard.settings import Settings

IMAGE = "dockyard/busybox:latest"
TEST_LABEL = "dockyard.test"
TOKEN = uuid.uuid4().hex[:12]
LOGICAL_DATE = dt.datetime(2024, 1, 31, 6, 30, tzinfo=dt.timezone.utc)


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
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("dockyard-home")
    return Settings.from_env({"DOCKYARD_HOME": str(home)})


@pytest.fixture(scope="session")
def runner(settings: Settings, engine: docker.APIClient) -> Iterator[TaskRunner]:
    runner = TaskRunner(settings)
    yield runner
    runner.runtime.close()


def make_dag(dag_id: str | None = None, **kwargs: Any) -> DAG:
    kwargs.setdefault("start_date", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    return DAG(dag_id or f"test_{uuid.uuid4().hex[:8]}", **kwargs)


def docker_task(dag: DAG, task_id: str = "task", **kwargs: Any) -> DockerOperator:
    """A DockerOperator with the test image, no network and the cleanup label unless told otherwise."""
    kwargs.setdefault("image", IMAGE)
    kwargs.setdefault("network_mode", "none")
    labels = dict(kwargs.pop("labels", None) or {})
    labels[TEST_LABEL] = TOKEN
    return DockerOperator(task_id=task_id, dag=dag, labels=labels, **kwargs)


RunTask = Callable[..., TryOutcome]


@pytest.fixture
def run_task(runner: TaskRunner) -> RunTask:
    """Run a one-task DAG built from DockerOperator keyword arguments; returns the try's outcome."""

    def run(echo: Callable[[str], None] | None = None, **kwargs: Any) -> TryOutcome:
        dag = make_dag()
        task = docker_task(dag, **kwargs)
        return runner.run(dag, task, logical_date=LOGICAL_DATE, run_id=f"test_{uuid.uuid4().hex[:8]}", echo=echo)

    return run


def log_text(outcome: TryOutcome) -> str:
    assert outcome.log_path is not None
    return Path(outcome.log_path).read_text(encoding="utf-8")


def output_lines(outcome: TryOutcome) -> list[str]:
    """The container's own lines of the task log, without timestamps and dockyard's messages."""
    lines = []
    for line in log_text(outcome).splitlines():
        _, _, text = line.partition(" ")
        if not text.startswith("[dockyard]"):
            lines.append(text)
    return lines


def labelled(engine: docker.APIClient, **labels: str) -> list[dict[str, Any]]:
    filters = [f"{TEST_LABEL}={TOKEN}", *(f"dockyard.{k}={v}" for k, v in labels.items())]
    return list(engine.containers(all=True, filters={"label": filters}))

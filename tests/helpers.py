"""Constants and helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker

from dockyard import DAG, DockerOperator
from dockyard.execution import TryOutcome

if TYPE_CHECKING:
    from dockyard.scheduler import Scheduler

IMAGE = "dockyard/busybox:latest"
TEST_LABEL = "dockyard.test"
TOKEN = uuid.uuid4().hex[:12]
"""This test session's value of TEST_LABEL: what it created, it removes."""
LOGICAL_DATE = dt.datetime(2024, 1, 31, 6, 30, tzinfo=dt.timezone.utc)

RunTask = Callable[..., TryOutcome]


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


def dag_id_of(outcome: TryOutcome) -> str:
    """The dag_id of a try, read from its log path (``.../dag_id=X/run_id=.../task_id=.../attempt=N.log``)."""
    assert outcome.log_path is not None
    return Path(outcome.log_path).parts[-4].removeprefix("dag_id=")


DAG_HEADER = f'''
import datetime as dt
from dockyard import DAG, DockerOperator, EmptyOperator, Param, TriggerRule

ARGS = {{"image": "{IMAGE}", "network_mode": "none", "labels": {{"{TEST_LABEL}": "{TOKEN}"}}, "retry_delay": 0}}
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
'''
"""The top of every DAG file the orchestration tests write: the test image, no network, the cleanup label."""


def write_dag(folder: Path, name: str, body: str) -> Path:
    """Write a DAG file (``DAG_HEADER`` + ``body``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(DAG_HEADER + body)
    return path


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "the condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def stepped_scheduler(tmp_path: Path, name: str, body: str, database_url: str | None = None) -> Iterator[Scheduler]:
    """A scheduler (not serving: the test calls ``step()``) over a DAG folder holding one file, ``body``, and
    a new store (SQLite in ``tmp_path`` unless ``database_url`` is given)."""
    import dataclasses

    from dockyard.scheduler import Scheduler
    from dockyard.settings import Settings
    from dockyard.store import Store

    folder = tmp_path / "dags"
    write_dag(folder, name, body)
    env = {"DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_DAGS_FOLDER": str(folder)}
    if database_url is not None:
        env["DOCKYARD_DATABASE_URL"] = database_url
    settings = dataclasses.replace(Settings.from_env(env), dag_file_processor_timeout=60)
    settings.home.mkdir(exist_ok=True)
    store = Store.open(settings)
    scheduler = Scheduler(settings, store)
    scheduler.refresh_dags(force=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown()
        store.close()


class EventCounter:
    """Counts the engine's ``event`` events (``start``, ``create``) of containers with ``labels``, following its
    event stream in a thread from now on; a stream that breaks (an engine restart) is followed again from where
    it stopped. Counting live matters: the engine keeps only its last 256 events, which a busy engine passes
    within a minute, so asking for them afterwards can miss some."""

    def __init__(self, base_url: str | None, labels: list[str], event: str = "start") -> None:
        self.client = docker.APIClient(base_url=base_url, version="auto")
        self.filters = {"type": "container", "event": event, "label": labels}
        self.count = 0
        self.closed = threading.Event()
        self.since = time.time()
        self._stream: Any = self.client.events(since=int(self.since) - 1, filters=self.filters, decode=True)
        self._seen: set[tuple[str, int]] = set()
        self.thread = threading.Thread(target=self._follow, name="start-counter", daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        while not self.closed.is_set():
            try:
                for event in self._stream:
                    key = (str(event.get("id")), int(event.get("timeNano", 0)))
                    if key not in self._seen:  # a stream followed again repeats its last second
                        self._seen.add(key)
                        self.count += 1
                    self.since = max(self.since, float(event.get("time", 0)))
            except Exception:  # noqa: BLE001 - the engine went away (a restart under test): follow it again
                pass
            self._stream.close()
            while not self.closed.is_set():
                try:
                    self._stream = self.client.events(since=int(self.since) - 1, filters=self.filters, decode=True)
                    break
                except Exception:  # noqa: BLE001 - not back yet
                    time.sleep(0.5)

    def close(self) -> None:
        self.closed.set()
        self._stream.close()
        self.thread.join(timeout=5)
        self.client.close()

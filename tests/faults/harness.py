"""What the fault tests share: a dockyard installation in a temporary folder, its scheduler as a real
process (killed with SIGKILL like a crash), the container starts the engine reports for its DAG, and the
containers it left.

Starts are counted from the engine's own event stream (``start`` events of containers carrying the DAG's
labels), not from dockyard's records, so a try that ran twice cannot hide behind a store that says once.
The stream is followed live from the installation's creation: the engine keeps only its last 256 events,
which a shared engine passes in a minute, so asking for them afterwards (``since``/``until``) loses some.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors

from dockyard.scheduler import Scheduler, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import TEST_LABEL, TOKEN, wait_for, write_dag
from tests.helpers import EventCounter as StartCounter

FINISHED_RUN = ("success", "failed")


@dataclass
class Installation:
    """One dockyard (home, DAG folder, database) with one DAG, driven through real scheduler processes."""

    root: Path
    engine: docker.APIClient
    dag_id: str
    env: dict[str, str]
    settings: Settings
    store: Store
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    counter: StartCounter | None = None

    @classmethod
    def create(
        cls, root: Path, engine: docker.APIClient, body: str, *, database_url: str | None = None, **env: str
    ) -> Installation:
        """An installation whose one DAG is ``body`` (a DAG file after ``DAG_HEADER``, with ``DAG_ID`` in it)."""
        dag_id = f"fault_{uuid.uuid4().hex[:8]}"
        dags = root / "dags"
        write_dag(dags, dag_id, body.replace("DAG_ID", dag_id))
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")},
            "DOCKYARD_HOME": str(root / "home"),
            "DOCKYARD_DAGS_FOLDER": str(dags),
            "DOCKYARD_STOP_GRACE_SECONDS": "1",
            "DOCKYARD_PARALLELISM": "8",
            **({"DOCKYARD_DATABASE_URL": database_url} if database_url else {}),
            **env,
        }
        settings = Settings.from_env({k: v for k, v in environ.items() if k.startswith("DOCKYARD_")})
        made = cls(root, engine, dag_id, environ, settings, Store.open(settings))
        made.counter = StartCounter(env.get("DOCKER_HOST"), made.labels)
        return made

    def trigger(self) -> str:
        """Parse the DAG (in this process) and queue a manual run of it; returns the run_id."""
        parsed = Scheduler(self.settings, self.store)
        try:
            parsed.refresh_dags(force=True)
            return trigger_run(self.settings, self.store, parsed.dags[self.dag_id]).run_id
        finally:
            parsed.shutdown()

    def scheduler(self, **env: str) -> subprocess.Popen[bytes]:
        """Start ``dockyard scheduler`` (with ``env`` on top of the installation's); its output goes to a file."""
        logfile: IO[bytes] = (self.root / f"scheduler-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "scheduler"],
            env={**self.env, **env},
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
        logfile.close()
        self.processes.append(process)
        return process

    def scheduler_log(self) -> str:
        """Every scheduler's output so far (for assertion messages)."""
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.root.glob("scheduler-*.log")))

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM, as a service manager stops it; the scheduler leaves running containers to the next one."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)

    def run_state(self, run_id: str) -> str:
        return str(self.store.get_run(self.dag_id, run_id).state)

    def wait_finished(self, run_id: str, timeout: float = 90) -> str:
        try:
            wait_for(lambda: self.run_state(run_id) in FINISHED_RUN, timeout, f"run {run_id} to finish")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.scheduler_log()}") from None
        return self.run_state(run_id)

    def task_states(self, run_id: str) -> dict[str, tuple[str | None, int]]:
        """task_id -> (state, try_number) of the run's task instances."""
        return {ti.task_id: (ti.state, ti.try_number) for ti in self.store.list_task_instances(self.dag_id, run_id)}

    def containers(self, **filters: Any) -> list[dict[str, Any]]:
        """The containers of this DAG on the engine (all states)."""
        return list(self.engine.containers(all=True, filters={"label": self.labels, **filters}))

    @property
    def labels(self) -> list[str]:
        """The label filter that finds this DAG's containers (and only this test session's)."""
        return [f"{TEST_LABEL}={TOKEN}", f"dockyard.dag_id={self.dag_id}"]

    def starts(self) -> int:
        """How many times the engine started a container of this DAG since the installation was made."""
        assert self.counter is not None
        time.sleep(1)  # an event is delivered a moment after it happened
        return self.counter.count

    def close(self) -> None:
        if self.counter is not None:
            self.counter.close()
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)
        for container in self.containers():
            with contextlib.suppress(docker.errors.NotFound):  # the engine may be removing it already
                try:
                    self.engine.remove_container(container["Id"], force=True, v=True)
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:  # "removal already in progress"
                        raise
        self.store.close()


def fill(folder: Path) -> Path:
    """Write zeros into ``folder`` until its filesystem has no space left; returns the file to delete."""
    filler = folder / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):  # smaller and smaller, until not one byte more fits
            try:
                while True:
                    os.write(handle, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(handle)
    return filler

"""The Docker engine restarts while a task runs: the try is followed to its end, not failed and run again.

The machine's shared engine is never touched: the test starts an engine of its own (its own socket, data
root, exec root and pidfile, as ``scripts/start-engine`` starts the shared one) with ``--live-restore``,
loads the test image into it, points the scheduler at it, and restarts it while a container runs.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import docker
import docker.errors
import pytest
import requests

from tests.faults.harness import Installation
from tests.helpers import IMAGE, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.slow]


class OwnEngine:
    """A dockerd of this test's own, which it may stop and start at will."""

    def __init__(self, root: Path, *, live_restore: bool) -> None:
        self.root = root
        self.live_restore = live_restore
        self.url = f"unix://{root}/docker.sock"
        (root / "daemon.json").write_text("{}")
        self.process: subprocess.Popen[bytes] | None = None
        self.client = docker.APIClient(base_url=self.url, version="1.41")

    def start(self) -> None:
        self.client.close()  # drop the connections that died with the last engine (the client stays usable)
        log: IO[bytes] = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [
                "dockerd",
                f"--config-file={self.root}/daemon.json",
                "-H",
                self.url,
                f"--data-root={self.root}/data",
                f"--exec-root={self.root}/exec",
                f"--pidfile={self.root}/docker.pid",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                *(["--live-restore"] if self.live_restore else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.ping()
                return
            except (docker.errors.DockerException, OSError, requests.RequestException):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the test's engine did not start:\n{(self.root / 'dockerd.log').read_text()[-3000:]}")
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


@pytest.fixture(params=[True, False], ids=["live-restore", "no-live-restore"])
def own_engine(engine: docker.APIClient, request: pytest.FixtureRequest) -> Iterator[OwnEngine]:
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is needed (scripts/start-engine installs docker.io)", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="dy-engine-", dir="/tmp"))  # short: a socket path has 108 bytes at most
    own = OwnEngine(root, live_restore=request.param)
    own.start()
    try:
        own.client.load_image(b"".join(engine.get_image(IMAGE)))
        yield own
    finally:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            for container in own.client.containers(all=True):
                own.client.remove_container(container["Id"], force=True, v=True)
        own.client.close()
        own.stop()
        for mounted in ("exec", "data"):  # dockerd mounts its data root over itself
            subprocess.run(["umount", "-R", f"{root}/{mounted}"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_try_outlives_a_restart_of_its_engine(
    own_engine: OwnEngine, installation: Callable[..., Installation], record_property: Callable[[str, object], None]
) -> None:
    """With ``live-restore`` the container runs on through the restart and the try is followed to its end.
    Without it the engine stops the container as it stops: the try ends with that exit code and its retry
    runs once the engine is back (``auto_remove="force"`` so that the stopped container goes too)."""
    # own_engine first: set up before the installation, so it is torn down after the installation's cleanup
    dockyard = installation(
        """
with DAG("DAG_ID", start_date=START, schedule=None, default_args={**ARGS, "retries": 1}) as dag:
    DockerOperator(task_id="through", auto_remove="force",
        command=["sh", "-c", "trap 'exit 143' TERM; echo working; sleep 8 & wait; echo through-value"])
""",
        on=own_engine.client,
        DOCKER_HOST=own_engine.url,
    )
    run_id = dockyard.trigger()
    scheduler = dockyard.scheduler()
    wait_for(lambda: dockyard.containers(status="running"), 60, "the container to run")
    time.sleep(1)
    own_engine.stop()
    time.sleep(2)  # the scheduler finds the engine gone
    own_engine.start()
    assert dockyard.wait_finished(run_id) == "success", dockyard.scheduler_log()
    dockyard.stop(scheduler)
    tries = 1 if own_engine.live_restore else 2
    assert dockyard.task_states(run_id) == {"through": ("success", tries)}
    assert dockyard.store.get_xcom(dockyard.dag_id, run_id, "through") == "through-value"
    record_property("starts", dockyard.starts())
    assert dockyard.starts() == tries, "the task's container was started again"
    assert dockyard.containers() == []
    log = next(dockyard.settings.logs_folder.rglob("task_id=through/attempt=1.log")).read_text()
    assert len(re.findall(r"^\S+ working$", log, re.M)) == 1 and "The engine answers again" in log
    if not own_engine.live_restore:
        first = dockyard.store.list_tries(dockyard.dag_id, run_id, "through")[0]
        assert (first.state, first.exit_code) == ("up_for_retry", 143)

"""The Docker engine restarts while a task runs: the try is followed to its end, not failed and run again.

The machine's shared engine is never touched: the test starts an engine of its own (its own socket, data
root, exec root and pidfile, as ``scripts/start-engine`` starts the shared one) with ``--live-restore``,
loads the test image into it, points the scheduler at it, and restarts it while a container runs.
"""

from __future__ import annotations

import contextlib
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

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"unix://{root}/docker.sock"
        (root / "daemon.json").write_text("{}")
        self.process: subprocess.Popen[bytes] | None = None
        self.client = docker.APIClient(base_url=self.url, version="1.41")

    def start(self) -> None:
        self.client.close()  # its pooled connections died with the last engine
        self.client = docker.APIClient(base_url=self.url, version="1.41")
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
                "--live-restore",
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


@pytest.fixture
def own_engine(engine: docker.APIClient) -> Iterator[OwnEngine]:
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is needed (scripts/start-engine installs docker.io)", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="dy-engine-", dir="/tmp"))  # short: a socket path has 108 bytes at most
    own = OwnEngine(root)
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
        subprocess.run(["umount", "-R", f"{root}/exec"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_try_outlives_a_restart_of_its_engine(
    own_engine: OwnEngine, installation: Callable[..., Installation], record_property: Callable[[str, object], None]
) -> None:
    # own_engine first: set up before the installation, so it is torn down after the installation's cleanup
    dockyard = installation(
        """
with DAG("DAG_ID", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="through", command=["sh", "-c", "echo working; sleep 8; echo through-value"])
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
    assert dockyard.task_states(run_id) == {"through": ("success", 1)}
    assert dockyard.store.get_xcom(dockyard.dag_id, run_id, "through") == "through-value"
    record_property("starts", dockyard.starts())
    assert dockyard.starts() == 1, "the task's container was started again"
    assert dockyard.containers() == []
    log = next(dockyard.settings.logs_folder.rglob("task_id=through/attempt=1.log")).read_text()
    assert log.count(" working\n") == 1 and "The engine answers again" in log

"""A second Docker engine that is the manager of a one-node Docker Swarm, for the Swarm tests.

The main engine is never put into swarm mode (every other test uses it). This engine has its own socket
(``/run/dockyard-swarm/<worker>/docker.sock``), data, exec root and pidfile, and runs in network and mount
namespaces of its own: a swarm makes a ``docker_gwbridge`` interface and an ingress network, which would
otherwise collide with the main engine's networks and with the swarm engine of another pytest-xdist worker.
The test image is copied in from the main engine (``docker save`` | ``docker load``); then
``docker swarm init`` on the namespace's loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import docker.errors
import pytest
import requests

from tests.helpers import IMAGE

SOCKET_ROOT = Path("/run/dockyard-swarm")


@dataclass
class SwarmEngine:
    url: str
    client: docker.APIClient
    process: subprocess.Popen[bytes]
    root: Path

    def leave(self) -> None:
        """Leave the swarm (its services go with it): the swarm is gone, the engine still answers."""
        self.client.leave_swarm(force=True)

    def stop(self) -> None:
        """Stop the engine (SIGTERM, then SIGKILL after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def swarm_engine_at(root: Path, name: str) -> Iterator[SwarmEngine]:
    """Start a swarm engine with its files under ``root`` and its socket named by ``name``; stop it after."""
    if shutil.which("dockerd") is None or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("dockerd, unshare and ip are needed (scripts/start-engine installs docker.io)", pytrace=False)
    folder = SOCKET_ROOT / name
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "docker.sock"
    socket_path.unlink(missing_ok=True)
    url = f"unix://{socket_path}"
    dockerd = [
        "dockerd",
        "--host",
        url,
        f"--data-root={root}/data",
        f"--exec-root={folder}/exec",  # short: containerd's sockets live here, and a socket path has 108 bytes
        f"--pidfile={root}/docker.pid",
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
        "--default-address-pool",
        "base=10.231.0.0/16,size=24",
    ]
    root.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = (root / "dockerd.log").open("wb")
    # Its own network namespace (with its loopback up) and mount namespace: nothing it makes is seen outside.
    process = subprocess.Popen(
        [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"ip link set lo up && exec {' '.join(dockerd)}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client: docker.APIClient | None = None
    engine: SwarmEngine | None = None
    try:
        deadline = time.monotonic() + 60
        # Wait with a plain socket until the engine answers: docker-py leaks the socket of a refused connection.
        while subprocess.run(["docker", "-H", url, "version"], capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the swarm engine did not start:\n{(root / 'dockerd.log').read_text()[-3000:]}")
            time.sleep(0.2)
        client = docker.APIClient(base_url=url, version="1.41")
        main_url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        subprocess.run(
            f"docker -H {main_url} save {IMAGE} | docker -H {url} load", shell=True, check=True, capture_output=True
        )
        client.init_swarm(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
        engine = SwarmEngine(url=url, client=client, process=process, root=root)
        yield engine
    finally:
        if client is not None and process.poll() is None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                for service in client.services():
                    client.remove_service(service["ID"])
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                client.leave_swarm(force=True)
        if client is not None:
            client.close()
        if engine is not None:
            engine.stop()
        elif process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        socket_path.unlink(missing_ok=True)
        subprocess.run(["umount", "-R", f"{folder}/exec"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def worker_name(prefix: str) -> str:
    """A name for this pytest-xdist worker's engine (each worker runs its own)."""
    return f"{prefix}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@pytest.fixture(scope="session")
def swarm_engine(tmp_path_factory: pytest.TempPathFactory, engine: docker.APIClient) -> Iterator[SwarmEngine]:
    """This session's swarm engine (one per pytest-xdist worker); ``engine`` checks the test image is there."""
    with swarm_engine_at(tmp_path_factory.mktemp("swarm-engine"), worker_name("shared")) as swarm:
        yield swarm

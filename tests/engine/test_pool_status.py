"""Engine statuses read from real engines: a labelled container's limits are counted, and an engine that is
away or silent is reported unhealthy within the status timeout instead of holding the pass."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import docker.types
import pytest
import requests

from dockyard import defaults
from dockyard.container.engine import EngineClients
from dockyard.container.pool import (
    EngineDefinition,
    Reservation,
    Resources,
    WaitingForResources,
    admit,
    load_pool,
    task_key,
)
from dockyard.container.pool_status import LimitsCache, read_status, read_statuses
from dockyard.container.spec import EngineConfig, labels_for
from dockyard.store import Store
from dockyard.store.engines import list_statuses, write_statuses
from tests.helpers import IMAGE, TEST_LABEL, TOKEN
from tests.tls_engine import TlsEngine

pytestmark = pytest.mark.engine

LOCAL = EngineDefinition(name="local", config=EngineConfig(urls=("unix:///var/run/docker.sock",)))
MB = 1024**2


@pytest.fixture
def clients() -> Iterator[EngineClients]:
    clients = EngineClients()
    yield clients
    clients.close()


@pytest.fixture
def silent_engine() -> Iterator[str]:
    """A socket that accepts connections and never answers: an engine that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"


def test_a_running_labelled_container_is_counted_with_its_limits(
    engine: docker.APIClient, clients: EngineClients
) -> None:
    instance = uuid.uuid4().hex[:8]
    labels = {**labels_for("pool_dag", "sleeper", "manual__1", 1, instance=instance), TEST_LABEL: TOKEN}
    before = read_status(clients, LOCAL, instance)
    assert before.healthy and before.error is None
    assert before.capacity.cpus >= 1 and before.capacity.memory > 0
    assert before.running == 0
    container = engine.create_container(
        IMAGE,
        ["sleep", "60"],
        labels=labels,
        host_config=engine.create_host_config(network_mode="none", mem_limit=96 * MB, nano_cpus=250_000_000),
    )
    try:
        engine.start(container["Id"])
        cache = LimitsCache()
        during = read_status(clients, LOCAL, instance, cache=cache)
        assert during.running == 1
        assert during.task_keys == {task_key("pool_dag", "sleeper", "manual__1", 1)}
        assert during.used.memory - before.used.memory == 96 * MB
        assert during.used.cpus - before.used.cpus == pytest.approx(0.25)
        assert during.free == (during.capacity - during.used)
        # the reservation made for this try is not counted again now that the engine shows the container
        reserved = [Reservation("local", task_key("pool_dag", "sleeper", "manual__1", 1), Resources(0, 96 * MB, 0))]
        assert during.room(reserved) == during.free
        assert admit(Resources(0, 64 * MB, 0), "default", [during], reserved) == during
        # another dockyard's containers on the same engine count as used, not as this one's tasks
        other = read_status(clients, LOCAL, "another-instance", cache=cache)
        assert other.running == 0 and other.used == during.used
    finally:
        engine.remove_container(container["Id"], force=True, v=True)
    after = read_status(clients, LOCAL, instance, cache=cache)
    assert after.running == 0 and after.used.memory == before.used.memory


def test_capacity_overrides_replace_what_the_engine_reports(clients: EngineClients) -> None:
    definition = EngineDefinition(name="small", config=LOCAL.config, cpus=2.0, memory=512 * MB, gpus=1)
    found = read_status(clients, definition, None)
    assert found.healthy and found.capacity == Resources(2.0, 512 * MB, 1)


def test_an_engine_that_is_not_there_is_unhealthy_at_once(clients: EngineClients) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        away = EngineDefinition(name="away", config=EngineConfig(urls=(f"tcp://127.0.0.1:{port}",)), memory=MB)
        started = time.monotonic()
        found = read_status(clients, away, None)
    assert time.monotonic() - started < 2
    assert not found.healthy
    assert found.error is not None and "no Docker engine answered" in found.error
    assert found.capacity.memory == MB and found.running == 0


def test_an_engine_that_hangs_is_unhealthy_after_the_status_timeout(clients: EngineClients, silent_engine: str) -> None:
    hung = EngineDefinition(name="hung", config=EngineConfig(urls=(silent_engine,)))
    started = time.monotonic()
    statuses = read_statuses(clients, [hung, LOCAL], None)
    took = time.monotonic() - started
    assert took < defaults.DEFAULT_ENGINE_STATUS_TIMEOUT * 2 + 2
    assert [s.name for s in statuses] == ["hung", "local"]
    assert not statuses[0].healthy and statuses[0].error
    assert statuses[1].healthy


def test_an_engine_set_to_swarm_reads_the_swarm_or_says_it_is_none(
    engine: docker.APIClient, clients: EngineClients
) -> None:
    swarm = EngineDefinition(name="swarm", config=EngineConfig(urls=LOCAL.config.urls, mode="swarm"))
    found = read_status(clients, swarm, None)
    if engine.info()["Swarm"].get("ControlAvailable"):  # the test engine is made a manager elsewhere
        assert found.healthy and found.capacity.memory > 0
    else:
        assert not found.healthy
        assert found.error is not None and "the engine is not a swarm manager" in found.error


def test_a_pool_of_two_engines_from_a_file_admits_where_memory_is_free(
    tmp_path: Path, clients: EngineClients, tls_engine: TlsEngine
) -> None:
    """The local engine and a second one over TLS, both read for real: a container on the TLS engine takes
    most of the memory its override allows, so a request that no longer fits there goes to the local engine."""
    engines = tmp_path / "engines.toml"
    engines.write_text(
        f"""
[[engine]]
name = "local"
url = "unix:///var/run/docker.sock"
memory = "2g"

[[engine]]
name = "remote"
url = "{tls_engine.url}"
labels = ["default", "remote"]
memory = "4g"
tls_ca_cert = "{tls_engine.ca}"
tls_client_cert = "{tls_engine.cert}"
tls_client_key = "{tls_engine.key}"
""",
        encoding="utf-8",
    )
    pool = load_pool(engines, default_docker_url="unix:///var/run/docker.sock")
    instance = uuid.uuid4().hex[:8]
    local, remote = read_statuses(clients, pool, instance)
    assert local.healthy and remote.healthy, (local.error, remote.error)
    assert remote.capacity.memory == 4 * 1024 * MB
    assert admit(Resources(0, 512 * MB, 0), "default", [local, remote]) == remote  # more memory free there
    labels = {**labels_for("pool_dag", "big", "manual__1", 1, instance=instance), TEST_LABEL: TOKEN}
    client = tls_engine.client
    container = client.create_container(
        IMAGE,
        ["sleep", "60"],
        labels=labels,
        host_config=client.create_host_config(network_mode="none", mem_limit=3800 * MB),
    )
    try:
        client.start(container["Id"])
        local, remote = read_statuses(clients, pool, instance)
        assert remote.running == 1 and remote.used.memory >= 3800 * MB
        assert admit(Resources(0, 512 * MB, 0), "default", [local, remote]) == local
        assert admit(Resources(0, 512 * MB, 0), "remote", [local, remote]) == WaitingForResources(
            f"waiting for resources: needs 512 MB memory, largest free {_mb(remote.free.memory)} MB on remote"
        )
    finally:
        client.remove_container(container["Id"], force=True, v=True)


def _mb(size: int) -> str:
    """Memory below 1 GB as the waiting reason spells it."""
    return f"{size / 1024**2:.2f}".rstrip("0").rstrip(".")


@dataclass
class SwarmEngine:
    url: str
    client: docker.APIClient


@pytest.fixture(scope="module")
def swarm_engine(tmp_path_factory: pytest.TempPathFactory, engine: docker.APIClient) -> Iterator[SwarmEngine]:
    """A one-node swarm on a second dockerd in a network namespace of its own (only loopback), so the
    swarm's bridges never meet the test engine's; reached through a unix socket in its own folder."""
    root = tmp_path_factory.mktemp("swarm-engine")
    socket_path = root / "docker.sock"
    log = (root / "dockerd.log").open("wb")
    dockerd = (
        f"ip link set lo up && exec dockerd -H unix://{socket_path} --data-root={root}/data "
        f"--exec-root={root}/exec --pidfile={root}/docker.pid --bridge=none --iptables=false --ip-masq=false"
    )
    process = subprocess.Popen(
        ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", dockerd],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = docker.APIClient(base_url=f"unix://{socket_path}", version="1.41")
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists() or not _answers(client):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the swarm engine did not start:\n{(root / 'dockerd.log').read_text()[-3000:]}")
            time.sleep(0.3)
        client.init_swarm(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:0")
        client.load_image(b"".join(engine.get_image(IMAGE)))
        yield SwarmEngine(url=f"unix://{socket_path}", client=client)
    finally:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            for service in client.services():
                client.remove_service(service["ID"])
            client.leave_swarm(force=True)
        client.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _answers(client: docker.APIClient) -> bool:
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, requests.RequestException):
        return False


def test_a_swarm_engine_counts_its_nodes_and_its_tasks_reservations(
    clients: EngineClients, swarm_engine: SwarmEngine
) -> None:
    definition = EngineDefinition(name="swarm", config=EngineConfig(urls=(swarm_engine.url,), mode="swarm"))
    swarm = swarm_engine.client
    instance = uuid.uuid4().hex[:8]
    before = read_status(clients, definition, instance)
    assert before.healthy, before.error
    info = swarm.info()
    assert before.capacity.cpus == info["NCPU"] and before.capacity.memory == info["MemTotal"]
    labels = {**labels_for("pool_dag", "service", "manual__1", 1, instance=instance), TEST_LABEL: TOKEN}
    task = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(IMAGE, ["sleep", "60"], labels=labels),
        resources=docker.types.Resources(mem_reservation=128 * MB, mem_limit=256 * MB, cpu_reservation=250_000_000),
        restart_policy=docker.types.RestartPolicy(condition="none"),
    )
    service = swarm.create_service(task, name=f"pool-{instance}", labels={TEST_LABEL: TOKEN})
    try:
        deadline = time.monotonic() + 60
        during = read_status(clients, definition, instance)
        while during.running == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            during = read_status(clients, definition, instance)
        assert during.running == 1
        assert during.task_keys == {task_key("pool_dag", "service", "manual__1", 1)}
        assert during.used.memory - before.used.memory == 128 * MB  # the reservation, not the limit
        assert during.used.cpus - before.used.cpus == pytest.approx(0.25)
    finally:
        swarm.remove_service(service["ID"])


def test_statuses_read_from_engines_are_what_the_store_keeps(clients: EngineClients, store: Store) -> None:
    away = EngineDefinition(name="away", config=EngineConfig(urls=("unix:///no/such.sock",)), labels=frozenset({"x"}))
    statuses = read_statuses(clients, [LOCAL, away], None)
    write_statuses(store, statuses)
    local, gone = sorted(list_statuses(store), key=lambda r: r.name != "local")
    read = statuses[0]
    assert (local.name, local.healthy, local.capacity_memory, local.used_memory, local.running) == (
        "local",
        True,
        read.capacity.memory,
        read.used.memory,
        read.running,
    )
    assert local.free_memory == read.free.memory and local.checked_at == read.checked_at
    assert (gone.healthy, gone.labels) == (False, ("x",)) and "no such socket" in (gone.error or "")

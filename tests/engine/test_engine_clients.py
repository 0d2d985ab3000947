"""The engine pool and the error boundary against real engines and real sockets: a slow engine blocks
nobody else, a client whose engine stopped answering is dropped and the next call reconnects, engine
errors become dockyard's by their kind, and a stopped try says why by a StopReason."""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest
import requests

from dockyard.container import DockerRuntime, RunControl, StopReason, build_spec, labels_for
from dockyard.container.engine_errors import engine_errors
from dockyard.container.spec import EngineConfig
from dockyard.errors import (
    EngineError,
    EngineNotFoundError,
    EngineUnreachableError,
    ImageNotFoundError,
    TaskCancelledError,
)
from tests.helpers import IMAGE, TEST_LABEL, TOKEN

pytestmark = pytest.mark.engine

LOCAL = EngineConfig(urls=("unix:///var/run/docker.sock",))


@pytest.fixture
def runtime() -> Iterator[DockerRuntime]:
    runtime = DockerRuntime(stop_grace_seconds=1)
    yield runtime
    runtime.close()


@pytest.fixture
def silent_engine() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: an engine that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"


class _Pipe(socketserver.BaseRequestHandler):
    """Carries one TCP connection to the engine's unix socket and back."""

    def handle(self) -> None:
        with socket.socket(socket.AF_UNIX) as upstream:
            upstream.connect("/var/run/docker.sock")
            ends = [self.request, upstream]
            while not self.server.stopping:  # type: ignore[attr-defined]
                ready, _, _ = select.select(ends, [], [], 0.1)
                for end in ready:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.request else self.request).sendall(data)


class EngineProxy:
    """The local engine behind a TCP port that can be switched off and on again (same port)."""

    def __init__(self) -> None:
        self.port = 0
        self._server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), _Pipe)
        server.daemon_threads = True
        server.stopping = False  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stopping = True  # type: ignore[attr-defined]
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            time.sleep(0.3)  # the open connections end with their handlers


@pytest.fixture
def proxy() -> Iterator[EngineProxy]:
    proxy = EngineProxy()
    proxy.start()
    yield proxy
    proxy.stop()


def test_a_slow_engine_does_not_hold_up_another(runtime: DockerRuntime, silent_engine: str) -> None:
    slow = EngineConfig(urls=(silent_engine,), timeout=4)
    failures: list[BaseException] = []

    def connect_slow() -> None:
        try:
            runtime.clients.get(slow)
        except EngineUnreachableError as exc:
            failures.append(exc)

    thread = threading.Thread(target=connect_slow)
    started = time.monotonic()
    thread.start()
    time.sleep(0.5)  # the slow connection is under way
    runtime.clients.get(LOCAL).ping()
    assert time.monotonic() - started < 3  # the local engine did not wait for the silent one's 4 s timeout
    thread.join(30)
    assert len(failures) == 1 and silent_engine in str(failures[0])


def test_a_client_whose_engine_stopped_answering_is_dropped_and_the_next_call_reconnects(
    runtime: DockerRuntime, proxy: EngineProxy
) -> None:
    engine = EngineConfig(urls=(f"tcp://127.0.0.1:{proxy.port}",), timeout=10)
    assert isinstance(runtime.managed_containers(engine, f"test-{TOKEN}"), list)
    first = runtime.clients.get(engine)
    proxy.stop()
    with pytest.raises(EngineUnreachableError, match="did not answer") as info:
        runtime.managed_containers(engine, f"test-{TOKEN}")
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    proxy.start()
    assert isinstance(runtime.managed_containers(engine, f"test-{TOKEN}"), list)
    assert runtime.clients.get(engine) is not first


def test_engine_errors_become_dockyards_by_their_kind(engine: docker.APIClient) -> None:
    with pytest.raises(EngineNotFoundError) as missing:
        with engine_errors("inspecting"):
            engine.inspect_container(f"dockyard-no-such-{uuid.uuid4().hex}")
    assert missing.value.status == 404 and isinstance(missing.value.__cause__, docker.errors.NotFound)
    with pytest.raises(ImageNotFoundError, match="^inspecting the image: "):
        with engine_errors("inspecting the image"):
            engine.inspect_image("dockyard/no-such-image:0")
    with pytest.raises(EngineError) as refused:
        with engine_errors("creating"):
            engine.create_container(IMAGE, name="not a valid name!", labels={TEST_LABEL: TOKEN})
    assert refused.value.status == 400
    secret = f"hush-{uuid.uuid4().hex}"
    with pytest.raises(EngineNotFoundError) as masked:
        with engine_errors("inspecting", secrets=[secret]):
            engine.inspect_container(secret)
    assert secret not in str(masked.value) and "***" in str(masked.value)
    nobody = docker.APIClient(base_url="tcp://127.0.0.1:1", version="1.41")
    with contextlib.closing(nobody), pytest.raises(EngineUnreachableError):
        with engine_errors("pinging"):
            nobody.ping()


def test_a_stop_says_why_by_its_reason_and_the_first_reason_wins(runtime: DockerRuntime) -> None:
    spec = build_spec(
        {
            "image": IMAGE,
            "command": ["sh", "-c", "echo up; exec sleep 60"],
            "network_mode": "none",
            "labels": {TEST_LABEL: TOKEN},
            "auto_remove": "force",
            "mount_tmp_dir": False,
        },
        labels=labels_for("d", "t", f"r-{TOKEN}", 1),
        default_docker_url=LOCAL.urls[0],
    )
    control = RunControl()
    threading.Timer(1.5, control.cancel, ("the scheduler shut down", StopReason.SHUTDOWN)).start()
    threading.Timer(2.0, control.cancel, ("stopped on request",)).start()
    started = time.monotonic()
    with pytest.raises(TaskCancelledError, match=r"was stopped \(the scheduler shut down\)") as info:
        runtime.run(spec, lambda lines: None, control=control, timeout=30)
    assert time.monotonic() - started < 20
    assert info.value.stop_reason is StopReason.SHUTDOWN
    assert info.value.result.stop_reason is StopReason.SHUTDOWN and info.value.result.last_lines == ["up"]

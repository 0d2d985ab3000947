"""The Docker runtime: runs one :class:`ContainerSpec` to the end and reports what happened.

One try, in order: (pull if asked or missing) -> create (labelled) -> start -> stream the output
line by line to the caller -> wait for the exit code -> read the result file -> remove per
``auto_remove``. Whatever happens in between (a timeout, Ctrl-C, a cancel from another thread, an
engine error), the container is stopped before :meth:`DockerRuntime.run` returns or raises.

docker-py and requests errors are translated into :mod:`dockyard.errors` here and nowhere else.
"""

from __future__ import annotations

import collections
import heapq
import io
import logging
import os
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests
from docker.auth import resolve_repository_name
from docker.types import Mount
from docker.utils import parse_repository_tag

from dockyard import defaults
from dockyard.container.engine import EngineClients
from dockyard.container.output import LineSplitter, decode_result
from dockyard.container.policy import Policy, check_policy
from dockyard.container.spec import LABEL_PREFIX, ContainerSpec, EngineConfig
from dockyard.errors import (
    ContainerSpecError,
    EngineError,
    EngineUnreachableError,
    ImageError,
    OutputError,
    TaskCancelledError,
    TaskTimeoutError,
)

logger = logging.getLogger(__name__)

LinesCallback = Callable[[list[str]], None]
MessageCallback = Callable[[str], None]


@dataclass
class ContainerResult:
    """How a container ended and what it left behind."""

    container_id: str
    exit_code: int
    last_lines: list[str]
    all_lines: list[str] | None
    output_value: Any = None
    removed: bool = False
    skipped: bool = False
    duration: float = 0.0

    @property
    def last_line(self) -> str | None:
        return self.last_lines[-1] if self.last_lines else None


class Abandoned(Exception):
    """The supervisor let go of a running container on purpose (a scheduler shutting down without
    stopping its tasks); the container keeps running and a later scheduler re-attaches to it."""


class RunControl:
    """Lets another thread stop a running try (a timeout, a UI request, shutdown) or let go of it.

    ``cancel()`` before the container exists is remembered, and the container is stopped as soon as it
    is created, so there is no window in which a cancelled try can start a container that keeps running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopper: Callable[[], None] | None = None
        self._closer: Callable[[], None] | None = None
        self.reason: str | None = None
        self.abandoned = False

    @property
    def cancelled(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            stopper = self._stopper
        if stopper is not None:
            stopper()

    def abandon(self) -> None:
        """Stop watching the container without stopping it (its output stream is closed)."""
        with self._lock:
            self.abandoned = True
            closer = self._closer
        if closer is not None:
            closer()

    def _attach(self, stopper: Callable[[], None], closer: Callable[[], None]) -> None:
        with self._lock:
            self._stopper = stopper
            self._closer = closer
            cancelled, abandoned = self.reason is not None, self.abandoned
        if abandoned:
            closer()
        elif cancelled:
            stopper()

    def _detach(self) -> None:
        with self._lock:
            self._stopper = None
            self._closer = None


class Watchdog:
    """One thread that fires deadlines for every running try (a timeout costs no thread of its own)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._cond = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None

    def schedule(self, delay: float, action: Callable[[], None]) -> int:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._seq, action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="dockyard-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return self._seq

    def unschedule(self, token: int) -> None:
        with self._cond:
            self._cancelled.add(token)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                _, token, action = heapq.heappop(self._heap)
                if token in self._cancelled:
                    self._cancelled.discard(token)
                    continue
            try:
                action()
            except Exception:  # the watchdog must outlive a failing action
                logger.exception("watchdog action failed")


class DockerRuntime:
    """Runs container specs on Docker engines. Thread-safe: one instance serves every executor thread."""

    def __init__(
        self,
        *,
        docker_host: str | None = None,
        max_pool_size: int = defaults.DEFAULT_MAX_POOL_SIZE,
        stop_grace_seconds: int = defaults.DEFAULT_STOP_GRACE_SECONDS,
        tail_lines: int = defaults.DEFAULT_ERROR_TAIL_LINES,
        policy: Policy | None = None,
        host_tmp_dir: str | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.host_tmp_dir = host_tmp_dir
        """Where temporary folders for ``mount_tmp_dir`` are made when a task names no ``host_tmp_dir``."""
        self.clients = EngineClients(docker_host=docker_host, max_pool_size=max_pool_size)
        self.stop_grace_seconds = stop_grace_seconds
        self.tail_lines = tail_lines
        self._watchdog = Watchdog()

    def close(self) -> None:
        self.clients.close()

    # -- images --------------------------------------------------------------------------------
    def pull(self, spec: ContainerSpec, say: MessageCallback) -> None:
        """Pull ``spec.image``; layer progress goes to ``say``, a failure is an :class:`ImageError`."""
        client = self.clients.get(spec.engine)
        repository, tag = parse_repository_tag(spec.image)
        registry, _ = resolve_repository_name(repository)
        auth_config = self._registry_auth(client, spec, registry, say)
        say(f"Pulling image {spec.image} from {registry}")
        seen: set[tuple[str, str]] = set()
        try:
            for event in client.pull(
                repository, tag=tag or "latest", stream=True, decode=True, auth_config=auth_config
            ):
                if "error" in event:
                    raise ImageError(_pull_failure(spec.image, registry, str(event["error"])))
                status, layer = str(event.get("status", "")), str(event.get("id", ""))
                if status and "progress" not in event and (layer, status) not in seen:
                    seen.add((layer, status))
                    say(f"  {layer + ': ' if layer else ''}{status}")
        except docker.errors.APIError as exc:
            raise ImageError(_pull_failure(spec.image, registry, _explain(exc))) from exc
        except requests.RequestException as exc:
            raise EngineUnreachableError(f"the engine stopped answering while pulling {spec.image}: {exc}") from exc

    def _registry_auth(
        self, client: docker.APIClient, spec: ContainerSpec, registry: str, say: MessageCallback
    ) -> dict[str, Any]:
        """Credentials for one pull: the task's connection (logged in first, so a wrong password fails
        clearly), else the Docker CLI's config.json and its credential helpers, asked anew for each pull
        so that a short-lived token is always fresh; else none. Never the client's remembered logins."""
        auth = spec.registry_auth
        if auth is not None:
            try:
                client.login(
                    username=auth.username,
                    password=auth.password,
                    email=auth.email,
                    registry=auth.registry,
                    reauth=auth.reauth,
                )
            except docker.errors.APIError as exc:
                reason = _explain(exc).replace(auth.password, "***")
                raise ImageError(
                    f"login to registry {auth.registry} as {auth.username!r} (connection {auth.source!r}) failed: "
                    f"{reason}. Check the connection's login and password"
                ) from exc
            except requests.RequestException as exc:
                raise EngineUnreachableError(
                    f"the engine stopped answering while logging in to {auth.registry}: {exc}"
                ) from exc
            say(f"Logged in to {auth.registry} as {auth.username} (connection {auth.source})")
            return {"username": auth.username, "password": auth.password, "serveraddress": auth.registry}
        if spec.docker_config:
            path = os.path.join(spec.docker_config, "config.json")
            if os.path.exists(path):
                try:
                    found = docker.auth.load_config(path).resolve_authconfig(registry)
                except docker.errors.DockerException as exc:
                    raise ImageError(f"the credentials for {registry} in {path} could not be read: {exc}") from exc
                if found:
                    say(f"Using the credentials for {registry} from {path}")
                    return dict(found)
        return {}

    # -- one try ---------------------------------------------------------------------------------
    def run(
        self,
        spec: ContainerSpec,
        on_lines: LinesCallback,
        *,
        say: MessageCallback = lambda message: None,
        timeout: float | None = None,
        control: RunControl | None = None,
        on_created: Callable[[str], None] | None = None,
    ) -> ContainerResult:
        """Run ``spec`` to its end; ``on_lines`` gets its output as it comes, ``say`` dockyard's own messages.

        Raises :class:`TaskTimeoutError` after ``timeout`` seconds and :class:`TaskCancelledError` when
        ``control`` is cancelled; the container is stopped (and removed per ``auto_remove``) either way.
        """
        check_policy(self.policy, spec)  # before anything reaches the engine
        control = control or RunControl()
        client = self.clients.get(spec.engine)
        if spec.force_pull:
            self.pull(spec, say)
        tmp_root = spec.host_tmp_dir or self.host_tmp_dir
        tmp_host = tempfile.mkdtemp(prefix="airflowtmp", dir=tmp_root) if spec.mount_tmp_dir else None
        try:
            try:
                container_id = self._create(client, spec, tmp_host, say)
            except (docker.errors.DockerException, requests.RequestException) as exc:
                raise EngineError(
                    f"the engine failed while creating a container of {spec.image}: {_explain(exc)}"
                ) from exc
            if on_created is not None:
                on_created(container_id)
            # Attach before start, as `docker run` does: the output comes straight from the container's
            # stdio, so nothing is lost however fast it exits (following the log file can miss the last
            # unterminated chunk when the container stops).
            output = client.attach(container_id, stdout=True, stderr=True, stream=True, logs=False)

            def start() -> None:
                try:
                    client.start(container_id)
                except docker.errors.APIError as exc:
                    reason = _explain(exc)
                    if "executable file not found" in reason and spec.command:
                        program = (spec.entrypoint or spec.command)[0]
                        raise EngineError(
                            f"the image {spec.image} has no {program!r} to run ({reason}); use an image that has it, "
                            "or change the command or entrypoint"
                        ) from exc
                    raise EngineError(f"the engine could not start the container of {spec.image}: {reason}") from exc
                say(f"Started container {container_id[:12]} (image {spec.image}, command {spec.command_text()})")

            return self._supervise(
                client, spec, container_id, output, on_lines, start=start, timeout=timeout, control=control, say=say
            )
        finally:
            if tmp_host is not None and not control.abandoned:
                shutil.rmtree(tmp_host, ignore_errors=True)

    def resume(
        self,
        spec: ContainerSpec,
        container_id: str,
        on_lines: LinesCallback,
        *,
        skip_lines: int = 0,
        say: MessageCallback = lambda message: None,
        timeout: float | None = None,
        control: RunControl | None = None,
    ) -> ContainerResult:
        """Re-attach to a container a previous supervisor started (after a crash) and finish its try.

        The first ``skip_lines`` lines of its output were already delivered; the rest follow as they come.
        A container that already exited is finished from its exit code and log.
        """
        control = control or RunControl()
        client = self.clients.get(spec.engine)
        try:
            info = client.inspect_container(container_id)
            state = info["State"]["Status"]
            say(f"Re-attached to container {container_id[:12]} ({state}) after a restart of the scheduler")
            output = client.logs(container_id, stdout=True, stderr=True, stream=True, follow=state == "running")
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(
                f"the engine failed while re-attaching to container {container_id[:12]}: {_explain(exc)}"
            ) from exc
        try:
            return self._supervise(
                client,
                spec,
                container_id,
                output,
                on_lines,
                start=None,
                timeout=timeout,
                control=control,
                say=say,
                skip_lines=skip_lines,
            )
        finally:
            if not control.abandoned:
                for mount in info.get("Mounts", []):
                    source = str(mount.get("Source", ""))
                    if mount.get("Type") == "bind" and os.path.basename(source).startswith("airflowtmp"):
                        shutil.rmtree(source, ignore_errors=True)

    def _supervise(
        self,
        client: docker.APIClient,
        spec: ContainerSpec,
        container_id: str,
        output: Any,
        on_lines: LinesCallback,
        *,
        start: Callable[[], None] | None,
        timeout: float | None,
        control: RunControl,
        say: MessageCallback,
        skip_lines: int | None = None,
    ) -> ContainerResult:
        started = time.monotonic()
        finished = False
        exit_code: int | None = None
        token: int | None = None
        tail: collections.deque[str] = collections.deque(maxlen=self.tail_lines)
        everything: list[str] | None = [] if spec.collect_all_lines else None
        sink = _LineSink(tail, everything, on_lines, skip=skip_lines or 0)
        try:
            control._attach(lambda: self._stop(client, container_id), lambda: _close_stream(output))
            if timeout is not None:
                token = self._watchdog.schedule(max(timeout, 0.0), lambda: control.cancel("timeout"))
            try:
                if start is not None:
                    start()
                sink.consume(output)
            except Exception:
                if control.abandoned:  # the stream was closed under the reader on purpose
                    raise Abandoned(container_id) from None
                raise
            finally:
                _close_stream(output)
            if control.abandoned:
                raise Abandoned(container_id)
            exit_code = self._wait(client, container_id)
            finished = True
            if skip_lines is not None:
                # Re-attached through the log: read it once more after the exit, so that a last chunk the
                # engine wrote after the follow stream ended is not lost.
                sink.catch_up(client.logs(container_id, stdout=True, stderr=True, stream=False))
            if control.cancelled:
                if control.reason == "timeout":
                    raise TaskTimeoutError(
                        f"the container of {spec.image} ran longer than its execution_timeout of {timeout:g} s "
                        "and was stopped"
                    )
                raise TaskCancelledError(f"the container of {spec.image} was stopped ({control.reason})")
            result = ContainerResult(
                container_id=container_id,
                exit_code=exit_code,
                last_lines=list(tail),
                all_lines=everything,
                skipped=exit_code in spec.skip_on_exit_code,
            )
            if exit_code == 0 and spec.retrieve_output_path:
                result.output_value = self._retrieve(client, container_id, spec.retrieve_output_path, say)
            result.duration = time.monotonic() - started
            return result
        except (docker.errors.DockerException, requests.RequestException) as exc:
            if control.abandoned:
                raise Abandoned(container_id) from exc
            raise EngineError(f"the engine failed while running {spec.image}: {_explain(exc)}") from exc
        finally:
            if token is not None:
                self._watchdog.unschedule(token)
            control._detach()
            if not control.abandoned:
                if not finished:
                    self._stop(client, container_id)
                ok = finished and exit_code is not None and (exit_code == 0 or exit_code in spec.skip_on_exit_code)
                if spec.auto_remove == "force" or (spec.auto_remove == "success" and ok and not control.cancelled):
                    self._remove(client, container_id)

    # -- finding containers again ---------------------------------------------------------------
    def managed_containers(self, engine: EngineConfig, instance: str) -> list[dict[str, Any]]:
        """Every container this installation (``instance``) labelled on ``engine``: id, state and labels."""
        client = self.clients.get(engine)
        try:
            wanted = [f"{LABEL_PREFIX}managed=true", f"{LABEL_PREFIX}instance={instance}"]
            found = client.containers(all=True, filters={"label": wanted})
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(f"the engine failed while listing dockyard's containers: {_explain(exc)}") from exc
        return [{"id": c["Id"], "state": c["State"], "labels": c.get("Labels") or {}} for c in found]

    def discard(self, engine: EngineConfig, container_id: str) -> None:
        """Stop and remove a container (one that belongs to no live task try)."""
        client = self.clients.get(engine)
        self._stop(client, container_id)
        self._remove(client, container_id)

    def _create(self, client: docker.APIClient, spec: ContainerSpec, tmp_host: str | None, say: MessageCallback) -> str:
        mounts = list(spec.mounts)
        env = dict(spec.environment)
        if tmp_host is not None:
            mounts.append(Mount(target=spec.tmp_dir, source=tmp_host, type="bind"))
            env["AIRFLOW_TMP_DIR"] = env["DOCKYARD_TMP_DIR"] = spec.tmp_dir
        try:
            return self._create_once(client, spec, mounts, env)
        except docker.errors.ImageNotFound:
            self.pull(spec, say)
            return self._create_once(client, spec, mounts, env)
        except (docker.errors.APIError, ContainerSpecError) as exc:
            # The engine's refusal names the folder it cannot see, whichever way it was translated.
            if tmp_host is not None and tmp_host in str(exc):
                # A remote engine (or Docker-in-Docker) cannot see this host's folder: run without it, as Airflow does.
                say(
                    f"WARNING: the engine cannot mount the host folder {tmp_host} (a remote engine?); running "
                    "without the temporary directory. Set mount_tmp_dir=False to silence this warning."
                )
                mounts.pop()
                env.pop("AIRFLOW_TMP_DIR", None)
                env.pop("DOCKYARD_TMP_DIR", None)
                return self._create_once(client, spec, mounts, env)
            raise

    def _create_once(
        self, client: docker.APIClient, spec: ContainerSpec, mounts: list[Mount], env: dict[str, Any]
    ) -> str:
        host_config_args = dict(spec.host_config)
        ports = list(host_config_args.get("port_bindings") or {}) or None
        try:
            host_config = client.create_host_config(mounts=mounts or None, auto_remove=False, **host_config_args)
        except (docker.errors.InvalidArgument, TypeError, ValueError) as exc:
            raise ContainerSpecError(f"container options for {spec.image} are not valid: {exc}") from exc
        try:
            created = client.create_container(
                image=spec.image,
                command=spec.command,
                entrypoint=spec.entrypoint,
                environment=env or None,
                working_dir=spec.working_dir,
                user=spec.user,
                hostname=spec.hostname,
                name=spec.name,
                labels=spec.labels,
                tty=spec.tty,
                ports=ports,
                host_config=host_config,
                use_config_proxy=False,
            )
        except docker.errors.ImageNotFound:
            raise
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise EngineError(
                    f"a container named {spec.name!r} already exists on the engine; pick another container_name "
                    f"or remove it (docker rm {spec.name})"
                ) from exc
            if exc.status_code == 400 or (exc.status_code == 500 and "invalid" in _explain(exc).lower()):
                raise ContainerSpecError(
                    f"the engine refused the container options for {spec.image}: {_explain(exc)}"
                ) from exc
            raise
        return str(created["Id"])

    def _wait(self, client: docker.APIClient, container_id: str) -> int:
        while True:
            try:
                return int(client.wait(container_id)["StatusCode"])
            except requests.exceptions.ReadTimeout:
                continue  # a long-running container outlives the API timeout: keep waiting

    def _retrieve(self, client: docker.APIClient, container_id: str, path: str, say: MessageCallback) -> Any:
        try:
            chunks, stat = client.get_archive(container_id, path)
            data = b"".join(chunks)
        except docker.errors.NotFound:
            say(f"WARNING: retrieve_output_path {path} does not exist in the container; the XCom value is None")
            return None
        if stat.get("size", 0) == 0 and not data:
            return None
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            member = archive.getmember(stat["name"]) if stat.get("name") in archive.getnames() else archive.next()
            if member is None or not member.isfile():
                raise OutputError(f"retrieve_output_path {path} is not a regular file in the container")
            handle = archive.extractfile(member)
            content = handle.read() if handle is not None else b""
        return decode_result(content, path)

    def _stop(self, client: docker.APIClient, container_id: str) -> None:
        if not container_id:
            return
        try:
            client.stop(container_id, timeout=self.stop_grace_seconds)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException) as exc:
            logger.warning("could not stop container %s: %s; killing it", container_id[:12], exc)
            try:
                client.kill(container_id)
            except (docker.errors.APIError, requests.RequestException):
                logger.exception("could not kill container %s", container_id[:12])

    def _remove(self, client: docker.APIClient, container_id: str) -> None:
        try:
            client.remove_container(container_id, v=True, force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException) as exc:
            logger.warning("could not remove container %s: %s", container_id[:12], exc)


class _LineSink:
    """Turns output chunks into lines for the caller, keeping the tail (and every line when asked).

    ``skip`` lines are counted but not delivered: they reached the task log before a restart.
    """

    def __init__(
        self, tail: collections.deque[str], everything: list[str] | None, on_lines: LinesCallback, *, skip: int = 0
    ) -> None:
        self.tail = tail
        self.everything = everything
        self.on_lines = on_lines
        self.skip = skip
        self.seen = 0

    def _deliver(self, lines: list[str]) -> None:
        if not lines:
            return
        self.tail.extend(lines)
        if self.everything is not None:
            self.everything.extend(lines)
        first_new = max(0, self.skip - self.seen)
        self.seen += len(lines)
        if first_new < len(lines):
            self.on_lines(lines[first_new:] if first_new else lines)

    def consume(self, stream: Iterable[bytes]) -> None:
        splitter = LineSplitter()
        for chunk in stream:
            self._deliver(splitter.feed(chunk))
        self._deliver(splitter.close())

    def catch_up(self, whole_log: bytes) -> None:
        """Deliver what a complete copy of the output has beyond the lines already seen."""
        splitter = LineSplitter()
        lines = splitter.feed(whole_log) + splitter.close()
        self._deliver(lines[self.seen :])


def _close_stream(stream: Any) -> None:
    """Close an attach stream and its HTTP response: docker-py's ``close()`` alone leaves the socket's
    file object open (a ResourceWarning, and one file descriptor per try until garbage collection)."""
    stream.close()
    response = getattr(stream, "_response", None)
    if response is not None:
        response.close()


def _explain(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)


def _pull_failure(image: str, registry: str, reason: str) -> str:
    return (
        f"could not pull image {image!r} from {registry}: {reason}. Check the image name and tag, that the "
        f"registry is reachable from the engine, and (for a private registry) the task's docker_conn_id"
    )

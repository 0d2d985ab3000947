"""The Docker runtime: runs one :class:`ContainerSpec` to the end and reports what happened.

One try, in order: (pull if asked or missing) -> create (labelled) -> start -> stream the output
line by line to the caller -> wait for the exit code -> read the result file -> remove per
``auto_remove``. Whatever happens in between (a timeout, Ctrl-C, a cancel from another thread, an
engine error), the container is stopped before :meth:`DockerRuntime.run` returns or raises.

With ``defer_removal`` the container stays until the caller has recorded its result and calls
``RunControl.remove_container``, so an unrecorded result can be read from it after a restart. An engine
that stops answering mid-try is waited for (:mod:`~dockyard.container.recovery`) and the try followed on.

Every engine call runs inside :meth:`EngineClients.errors <dockyard.container.engine.EngineClients.errors>`,
the one boundary where docker-py's and requests' errors become :mod:`dockyard.errors`; the runtime then
decides by the error's class and HTTP status, never by its words. The one exception is Airflow's own
rule for a remote engine that cannot mount the host's temporary folder: the engine's refusal names
that folder, and nothing else tells it apart.

docker-py is imported when the first runtime is built (and docker-py types only where the options
become Engine API arguments, :func:`_host_config_arguments`), so importing this module costs nothing.
"""

from __future__ import annotations

import collections
import io
import logging
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from dockyard import defaults
from dockyard.container.control import Abandoned, ContainerResult, RunControl, StopReason, Watchdog
from dockyard.container.mounts import MountOption
from dockyard.container.output import LineSplitter, decode_result
from dockyard.container.policy import Policy, check_policy
from dockyard.container.recovery import engine_back, in_background, with_removal_label
from dockyard.container.spec import LABEL_PREFIX, ContainerSpec, EngineConfig
from dockyard.container.usage import UsageSampler
from dockyard.errors import (
    ContainerSpecError,
    EngineError,
    EngineNotFoundError,
    EngineTimeoutError,
    EngineUnreachableError,
    ImageError,
    ImageNotFoundError,
    OutputError,
    TaskCancelledError,
    TaskTimeoutError,
)

if TYPE_CHECKING:
    import docker

__all__ = ["Abandoned", "ContainerResult", "DockerRuntime", "RunControl", "StopReason"]

logger = logging.getLogger(__name__)

LinesCallback = Callable[[list[str]], None]
MessageCallback = Callable[[str], None]


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
        engine_return_seconds: float = defaults.DEFAULT_ENGINE_RETURN_SECONDS,
    ) -> None:
        from dockyard.container.engine import EngineClients  # docker-py is loaded here, not on import

        self.policy = policy or Policy()
        self.host_tmp_dir = host_tmp_dir
        """Where temporary folders for ``mount_tmp_dir`` are made when a task names no ``host_tmp_dir``."""
        self.clients = EngineClients(docker_host=docker_host, max_pool_size=max_pool_size)
        self.stop_grace_seconds = stop_grace_seconds
        self.engine_return_seconds = engine_return_seconds
        """How long a running try waits for an engine that stopped answering before the try fails."""
        self.tail_lines = tail_lines
        self._watchdog = Watchdog()
        self.usage = UsageSampler(self.clients)
        """Peak memory, CPU time and image digest of each running try, read off the watcher threads."""

    def close(self) -> None:
        self.clients.close()

    # -- images --------------------------------------------------------------------------------
    def pull(self, spec: ContainerSpec, say: MessageCallback) -> None:
        """Pull ``spec.image``; layer progress goes to ``say``, a failure is an :class:`ImageError`."""
        from docker.auth import resolve_repository_name
        from docker.utils import parse_repository_tag

        client = self.clients.get(spec.engine)
        repository, tag = parse_repository_tag(spec.image)
        registry, _ = resolve_repository_name(repository)
        auth_config = self._registry_auth(client, spec, registry, say)
        say(f"Pulling image {spec.image} from {registry}")
        seen: set[tuple[str, str]] = set()
        failure = (
            f"could not pull image {spec.image!r} from {registry}. Check the image name and tag, that the registry "
            "is reachable from the engine, and (for a private registry) the task's docker_conn_id"
        )
        try:
            with self.clients.errors(spec.engine, failure):
                for event in client.pull(
                    repository, tag=tag or "latest", stream=True, decode=True, auth_config=auth_config
                ):
                    if "error" in event:
                        raise ImageError(f"{failure}: {event['error']}")
                    status, layer = str(event.get("status", "")), str(event.get("id", ""))
                    if status and "progress" not in event and (layer, status) not in seen:
                        seen.add((layer, status))
                        say(f"  {layer + ': ' if layer else ''}{status}")
        except ImageError:
            raise
        except EngineError as exc:
            if isinstance(exc, EngineTimeoutError) or exc.status is None:
                raise
            raise ImageError(str(exc), status=exc.status) from exc

    def _registry_auth(
        self, client: docker.APIClient, spec: ContainerSpec, registry: str, say: MessageCallback
    ) -> dict[str, Any]:
        """Credentials for one pull: the task's connection (logged in first, so a wrong password fails
        clearly), else the Docker CLI's config.json and its credential helpers, asked anew for each pull
        so that a short-lived token is always fresh; else none. Never the client's remembered logins."""
        auth = spec.registry_auth
        if auth is not None:
            failure = (
                f"login to registry {auth.registry} as {auth.username!r} (connection {auth.source!r}) failed; "
                "check the connection's login and password"
            )
            try:
                with self.clients.errors(spec.engine, failure, secrets=[auth.password]):
                    client.login(
                        username=auth.username,
                        password=auth.password,
                        email=auth.email,
                        registry=auth.registry,
                        reauth=auth.reauth,
                    )
            except EngineError as exc:
                if exc.status is None:
                    raise
                raise ImageError(str(exc), status=exc.status) from exc
            say(f"Logged in to {auth.registry} as {auth.username} (connection {auth.source})")
            return {"username": auth.username, "password": auth.password, "serveraddress": auth.registry}
        if spec.docker_config:
            path = os.path.join(spec.docker_config, "config.json")
            if os.path.exists(path):
                import docker.auth

                try:
                    with self.clients.errors(
                        spec.engine, f"the credentials for {registry} in {path} could not be read"
                    ):
                        found = docker.auth.load_config(path).resolve_authconfig(registry)
                except EngineError as exc:
                    raise ImageError(str(exc)) from exc
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
        on_started: Callable[[str], None] | None = None,
        defer_removal: bool = False,
    ) -> ContainerResult:
        """Run ``spec`` to its end; ``on_lines`` gets its output as it comes, ``say`` dockyard's own messages.

        Raises :class:`TaskTimeoutError` after ``timeout`` seconds and :class:`TaskCancelledError` when
        ``control`` is cancelled (both carry the :class:`StopReason` and the result); the container is
        stopped (and removed per ``auto_remove``) either way.
        """
        check_policy(self.policy, spec)  # before anything reaches the engine
        control = control or RunControl()
        client = self.clients.get(spec.engine)
        if spec.options.force_pull:
            self.pull(spec, say)
        tmp_root = spec.options.host_tmp_dir or self.host_tmp_dir
        tmp_host = tempfile.mkdtemp(prefix="airflowtmp", dir=tmp_root) if spec.options.mount_tmp_dir else None
        try:
            container_id = self._create(client, spec, tmp_host, say)
            control.container_id = container_id
            self.usage.watch(spec.engine, spec.image, container_id)  # from creation: the digest is read meanwhile
            if on_created is not None:
                on_created(container_id)
            # Attach before start, as `docker run` does: the output comes straight from the container's
            # stdio, so nothing is lost however fast it exits (following the log file can miss the last
            # unterminated chunk when the container stops).
            with self.clients.errors(spec.engine, f"the engine could not attach to the container of {spec.image}"):
                output = client.attach(container_id, stdout=True, stderr=True, stream=True, logs=False)

            def start() -> None:
                failure = f"the engine could not start the container of {spec.image} (command {spec.command_text()})"
                with self.clients.errors(spec.engine, failure):
                    client.start(container_id)
                say(f"Started container {container_id[:12]} (image {spec.image}, command {spec.command_text()})")
                if on_started is not None:
                    on_started(container_id)

            return self._supervise(
                client,
                spec,
                container_id,
                output,
                on_lines,
                start=start,
                timeout=timeout,
                control=control,
                say=say,
                defer_removal=defer_removal,
            )
        finally:
            if control.container_id is not None:  # not followed (attach failed): stop sampling it all the same
                self.usage.finish(control.container_id, resolve=False)
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
        defer_removal: bool = False,
    ) -> ContainerResult:
        """Re-attach to a container a previous supervisor started (after a crash) and finish its try.

        The first ``skip_lines`` lines of its output were already delivered; the rest follow as they come.
        A container that already exited is finished from its exit code and log.
        """
        control = control or RunControl()
        control.container_id = container_id
        client = self.clients.get(spec.engine)
        with self.clients.errors(spec.engine, f"the engine could not re-attach to container {container_id[:12]}"):
            info = client.inspect_container(container_id)
            state = info["State"]["Status"]
            say(f"Re-attached to container {container_id[:12]} ({state}) after a restart of the scheduler")
            output = client.logs(container_id, stdout=True, stderr=True, stream=True, follow=state == "running")
        self.usage.watch(spec.engine, spec.image, container_id)  # from here on: figures of a resumed try are partial
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
                defer_removal=defer_removal,
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
        defer_removal: bool = False,
    ) -> ContainerResult:
        started = time.monotonic()
        finished = False
        exit_code: int | None = None
        token: int | None = None
        tail: collections.deque[str] = collections.deque(maxlen=self.tail_lines)
        everything: list[str] | None = [] if spec.collect_all_lines else None
        sink = _LineSink(tail, everything, on_lines, skip=skip_lines or 0)
        try:
            control._attach(
                lambda: in_background(self._stop, client, spec.engine, container_id), lambda: _close_stream(output)
            )
            if timeout is not None:
                token = self._watchdog.schedule(
                    max(timeout, 0.0),
                    lambda: control.cancel(f"execution_timeout of {timeout:g} s passed", StopReason.TIMEOUT),
                )
            deadline: float | None = None
            while True:
                try:
                    try:
                        with self.clients.errors(spec.engine, f"the engine failed while running {spec.image}"):
                            if start is not None:
                                start()
                                start = None
                            sink.consume(output)
                    except Exception:
                        if control.abandoned:  # the stream was closed under the reader on purpose
                            raise Abandoned(container_id) from None
                        raise
                    finally:
                        _close_stream(output)
                    if control.abandoned:
                        raise Abandoned(container_id)
                    with self.clients.errors(spec.engine, f"the engine failed while running {spec.image}"):
                        exit_code = self._wait(client, spec.engine, container_id)
                        finished = True
                        if skip_lines is not None or deadline is not None:
                            # Followed through the log: read it once more after the exit, so that a last chunk
                            # the engine wrote after the follow stream ended is not lost.
                            sink.catch_up(client.logs(container_id, stdout=True, stderr=True, stream=False))
                    break
                except EngineUnreachableError as exc:
                    if start is not None or control.abandoned or control.cancelled:
                        raise
                    if deadline is None:
                        deadline = time.monotonic() + self.engine_return_seconds
                        say(f"The engine stopped answering; waiting up to {self.engine_return_seconds:g} s for it")
                    client = engine_back(self.clients, spec.engine, deadline, exc)
                    with self.clients.errors(spec.engine, f"the engine could not follow container {container_id[:12]}"):
                        output = client.logs(container_id, stdout=True, stderr=True, stream=True, follow=True)
                    sink.replay()
                    say(f"The engine answers again; following container {container_id[:12]} again")
            result = ContainerResult(
                container_id=container_id,
                exit_code=exit_code,
                last_lines=list(tail),
                all_lines=everything,
                skipped=exit_code in spec.skip_on_exit_code,
                stop_reason=control.kind,
            )
            if control.kind is StopReason.TIMEOUT:
                raise TaskTimeoutError(
                    f"the container of {spec.image} ran longer than its execution_timeout of {timeout:g} s "
                    "and was stopped",
                    stop_reason=control.kind,
                    result=result,
                )
            if control.kind is not None:
                raise TaskCancelledError(
                    f"the container of {spec.image} was stopped ({control.reason})",
                    stop_reason=control.kind,
                    result=result,
                )
            if exit_code == 0 and spec.retrieve_output_path:
                result.output_value = self._retrieve(client, spec, container_id, spec.retrieve_output_path, say)
            result.duration = time.monotonic() - started
            return result
        except EngineError as exc:
            if control.abandoned:
                raise Abandoned(container_id) from exc
            raise
        finally:
            if token is not None:
                self._watchdog.unschedule(token)
            control._detach()
            control.usage = self.usage.finish(container_id, resolve=not control.abandoned)
            if not control.abandoned:
                if not finished:
                    self._stop(client, spec.engine, container_id)
                ok = finished and exit_code is not None and (exit_code == 0 or exit_code in spec.skip_on_exit_code)
                due = spec.auto_remove == "force" or (spec.auto_remove == "success" and ok and not control.cancelled)
                if defer_removal:
                    control.removal_due = due
                    control._remover = lambda: self._remove(client, spec.engine, container_id)
                elif due:
                    self._remove(client, spec.engine, container_id)

    # -- finding containers again ---------------------------------------------------------------
    def managed_containers(self, engine: EngineConfig, instance: str) -> list[dict[str, Any]]:
        """Every container this installation (``instance``) labelled on ``engine``: id, state and labels."""
        client = self.clients.get(engine)
        with self.clients.errors(engine, "the engine could not list dockyard's containers"):
            wanted = [f"{LABEL_PREFIX}managed=true", f"{LABEL_PREFIX}instance={instance}"]
            found = client.containers(all=True, filters={"label": wanted})
        return [{"id": c["Id"], "state": c["State"], "labels": c.get("Labels") or {}} for c in found]

    def discard(self, engine: EngineConfig, container_id: str) -> None:
        """Stop and remove a container (one that belongs to no live task try)."""
        client = self.clients.get(engine)
        self._stop(client, engine, container_id)
        self._remove(client, engine, container_id)

    def remove(self, engine: EngineConfig, container_id: str) -> None:
        """Remove a container that has exited (its try's result is recorded)."""
        self._remove(self.clients.get(engine), engine, container_id)

    def _create(self, client: docker.APIClient, spec: ContainerSpec, tmp_host: str | None, say: MessageCallback) -> str:
        mounts = list(spec.mounts)
        env = dict(spec.environment)
        if tmp_host is not None:
            mounts.append(MountOption(target=spec.options.tmp_dir, source=tmp_host, type="bind"))
            env["AIRFLOW_TMP_DIR"] = env["DOCKYARD_TMP_DIR"] = spec.options.tmp_dir
        try:
            return self._create_once(client, spec, mounts, env)
        except ImageNotFoundError:
            self.pull(spec, say)
            return self._create_once(client, spec, mounts, env)
        except (EngineError, ContainerSpecError) as exc:
            # The engine says nothing but the folder's name when it cannot see it (Airflow decides the same way).
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
        self, client: docker.APIClient, spec: ContainerSpec, mounts: list[MountOption], env: dict[str, Any]
    ) -> str:
        try:
            with self.clients.errors(spec.engine, f"the engine could not create a container of {spec.image}"):
                created = client.create_container(
                    image=spec.image,
                    command=spec.command,
                    entrypoint=spec.entrypoint,
                    environment=env or None,
                    working_dir=spec.options.working_dir,
                    user=spec.options.user,
                    hostname=spec.options.hostname,
                    name=spec.name,
                    labels=with_removal_label(spec),
                    tty=spec.options.tty,
                    ports=_exposed_ports(spec),
                    host_config=client.create_host_config(**_host_config_arguments(spec, mounts)),
                    use_config_proxy=False,
                )
        except EngineError as exc:
            if exc.status == 409:
                raise EngineError(
                    f"a container named {spec.name!r} already exists on the engine; pick another container_name "
                    f"or remove it (docker rm {spec.name})",
                    status=exc.status,
                ) from exc
            if exc.status == 400:
                raise ContainerSpecError(f"{exc}; check the task's container options") from exc
            raise
        return str(created["Id"])

    def _wait(self, client: docker.APIClient, engine: EngineConfig, container_id: str) -> int:
        while True:
            try:
                with self.clients.errors(engine, f"the engine failed while waiting for container {container_id[:12]}"):
                    return int(client.wait(container_id)["StatusCode"])
            except EngineTimeoutError:
                continue  # a long-running container outlives the API timeout: keep waiting

    def _retrieve(
        self, client: docker.APIClient, spec: ContainerSpec, container_id: str, path: str, say: MessageCallback
    ) -> Any:
        try:
            with self.clients.errors(spec.engine, f"the engine could not read {path} from the container"):
                chunks, stat = client.get_archive(container_id, path)
                data = b"".join(chunks)
        except EngineNotFoundError:
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

    def _stop(self, client: docker.APIClient, engine: EngineConfig, container_id: str) -> None:
        if not container_id:
            return
        try:
            with self.clients.errors(engine, f"could not stop container {container_id[:12]}"):
                client.stop(container_id, timeout=self.stop_grace_seconds)
        except EngineNotFoundError:
            pass
        except EngineError as exc:
            logger.warning("%s; killing it", exc)
            try:
                with self.clients.errors(engine, f"could not kill container {container_id[:12]}"):
                    client.kill(container_id)
            except EngineNotFoundError:
                pass
            except EngineError as again:
                logger.error("%s", again)

    def _remove(self, client: docker.APIClient, engine: EngineConfig, container_id: str) -> None:
        try:
            with self.clients.errors(engine, f"could not remove container {container_id[:12]}"):
                client.remove_container(container_id, v=True, force=True)
        except EngineNotFoundError:
            pass
        except EngineError as exc:
            logger.warning("%s", exc)


def _exposed_ports(spec: ContainerSpec) -> list[tuple[int, str]] | None:
    """The container ports of ``port_bindings`` (``"8080/tcp"``) as docker-py's ``(port, protocol)``."""
    bindings = spec.options.port_bindings or {}
    return [(int(port), protocol) for port, _, protocol in (key.partition("/") for key in bindings)] or None


def _host_config_arguments(spec: ContainerSpec, mounts: list[MountOption]) -> dict[str, Any]:
    """``create_host_config``'s arguments from the docker-free options: the one place they become
    docker-py types."""
    from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

    options = spec.options
    log_opts = {"max-size": options.log_opts_max_size, "max-file": options.log_opts_max_file}
    log_opts = {key: value for key, value in log_opts.items() if value}
    arguments: dict[str, Any] = {
        "mounts": [Mount(**m.to_json()) for m in mounts] or None,
        "auto_remove": False,
        "mem_limit": options.mem_limit,
        "shm_size": options.shm_size,
        "cpu_shares": round(options.cpus * 1024),
        "nano_cpus": int(options.cpu_limit * 1e9) if options.cpu_limit else None,
        "network_mode": options.network_mode,
        "dns": list(options.dns) if options.dns else None,
        "dns_search": list(options.dns_search) if options.dns_search else None,
        "extra_hosts": dict(options.extra_hosts) if options.extra_hosts else None,
        "port_bindings": {k: list(v) for k, v in options.port_bindings.items()} if options.port_bindings else None,
        "privileged": options.privileged,
        "cap_add": list(options.cap_add) if options.cap_add else None,
        "ipc_mode": options.ipc_mode,
        "ulimits": [Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in options.ulimits or ()] or None,
        "device_requests": [DeviceRequest(**d.to_json()) for d in options.device_requests or ()] or None,
        "log_config": LogConfig(type=LogConfig.types.JSON, config=log_opts) if log_opts else None,
    }
    return {key: value for key, value in arguments.items() if value is not None}


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

    def replay(self) -> None:
        """The output is read again from its start (a new log stream): deliver only what is new."""
        self.skip, self.seen = self.seen, 0
        self.tail.clear()
        if self.everything is not None:
            self.everything.clear()

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

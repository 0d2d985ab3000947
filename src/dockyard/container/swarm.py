"""The Swarm runtime: runs one task try as a one-shot Docker Swarm service and reports what happened.

One try, in order: (registry login) -> create the service (restart policy ``none``, one replica unless the
task's ``mode`` says otherwise, labelled with the try) -> follow its tasks until each has ended, reading the
service's log into the task log as it grows -> the exit code from the task (``ContainerStatus.ExitCode``) ->
remove the service per ``auto_remove``. The swarm places the task on any of its nodes; dockyard only talks
to the manager that ``docker_url`` (or ``DOCKER_HOST``) names.

Stopping a service is removing it: a timeout, a person's stop or a shutdown removes the service (its
container gets SIGTERM, then SIGKILL after ``DOCKYARD_STOP_GRACE_SECONDS``), whatever ``auto_remove`` says.
An engine that stops answering is waited for as for a container; an engine that is no longer a swarm
manager (the swarm was left, or never made) fails the try at once with an error that says so.

The public interface is :class:`~dockyard.container.runtime.DockerRuntime`'s (``run``, ``resume``,
``discard``, ``remove``), so that :class:`~dockyard.container.dispatch.EngineRuntime` can send each try to
either. Every engine call passes the engine boundary (:meth:`EngineClients.errors`).
"""

from __future__ import annotations

import collections
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dockyard import defaults
from dockyard.container.control import Abandoned, ContainerResult, RunControl, StopReason
from dockyard.container.output import LineSplitter
from dockyard.container.policy import check_policy
from dockyard.container.recovery import engine_back, with_removal_label
from dockyard.container.service_options import ServiceOptions
from dockyard.container.spec import LABEL_PREFIX, ContainerSpec, EngineConfig
from dockyard.errors import (
    ContainerSpecError,
    EngineError,
    EngineNotFoundError,
    EngineUnreachableError,
    TaskCancelledError,
    TaskTimeoutError,
)

if TYPE_CHECKING:
    import docker

    from dockyard.container.runtime import DockerRuntime

logger = logging.getLogger(__name__)

LinesCallback = Callable[[list[str]], None]
MessageCallback = Callable[[str], None]

ENDED = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned", "remove"})
"""Swarm task states after which the task's container runs no more."""
STARTED = frozenset({"running"}) | ENDED
NOT_A_MANAGER = 503
"""The engine's answer to a service call when it is not a manager of a swarm."""


class SwarmRuntime:
    """Runs container specs as one-shot Swarm services. Thread-safe; shares the container runtime's
    engine clients, policy, registry logins and watchdog."""

    def __init__(self, containers: DockerRuntime, *, poll_seconds: float = defaults.DEFAULT_SWARM_POLL_SECONDS) -> None:
        self.containers = containers
        self.clients = containers.clients
        self.poll_seconds = poll_seconds

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
        """Run ``spec`` as a service to its end (see :meth:`DockerRuntime.run`, whose contract this keeps)."""
        check_policy(self.containers.policy, spec)
        control = control or RunControl()
        if control.cancelled:  # nothing was created yet: nothing to stop
            raise TaskCancelledError(f"the service of {spec.image} was not started ({control.reason})")
        client = self.clients.get(spec.engine)
        auth = self._auth(client, spec, say)
        service = spec.service or ServiceOptions()
        name = spec.name or f"{service.service_prefix}-{secrets.token_hex(4)}"
        body = service_body(spec, name, self.containers.stop_grace_seconds)
        for note in _ignored(spec):
            say(note)
        service_id = self._create(client, spec, name, body, auth)
        control.container_id = service_id
        say(f"Created Swarm service {name} ({service_id[:12]}; image {spec.image}, command {spec.command_text()})")
        if on_created is not None:
            on_created(service_id)
        return self._supervise(
            client,
            spec,
            service_id,
            on_lines,
            timeout=timeout,
            control=control,
            say=say,
            on_started=on_started,
            defer_removal=defer_removal,
            skip_lines=0,
        )

    def resume(
        self,
        spec: ContainerSpec,
        service_id: str,
        on_lines: LinesCallback,
        *,
        skip_lines: int = 0,
        say: MessageCallback = lambda message: None,
        timeout: float | None = None,
        control: RunControl | None = None,
        defer_removal: bool = False,
    ) -> ContainerResult:
        """Follow a service a previous scheduler created (found again by its labels) to its end."""
        control = control or RunControl()
        control.container_id = service_id
        client = self.clients.get(spec.engine)
        with self._errors(spec.engine, f"the swarm manager could not find service {service_id[:12]} again"):
            name = client.inspect_service(service_id)["Spec"].get("Name", service_id[:12])
        say(f"Re-attached to Swarm service {name} ({service_id[:12]}) after a restart of the scheduler")
        return self._supervise(
            client,
            spec,
            service_id,
            on_lines,
            timeout=timeout,
            control=control,
            say=say,
            on_started=None,
            defer_removal=defer_removal,
            skip_lines=skip_lines,
        )

    def _supervise(
        self,
        client: docker.APIClient,
        spec: ContainerSpec,
        service_id: str,
        on_lines: LinesCallback,
        *,
        timeout: float | None,
        control: RunControl,
        say: MessageCallback,
        on_started: Callable[[str], None] | None,
        defer_removal: bool,
        skip_lines: int,
    ) -> ContainerResult:
        service = spec.service or ServiceOptions()
        started = time.monotonic()
        reader = _LogReader(self.containers.tail_lines, spec.collect_all_lines, on_lines, skip=skip_lines)
        finished, announced = False, on_started is None
        exit_code: int | None = None
        token: int | None = None
        deadline: float | None = None
        lost = False
        # The supervising thread itself removes the service once it sees the cancel (within one poll), so that
        # it can read the last of the log first.
        control._attach(lambda: None, lambda: None)
        try:
            if timeout is not None:
                token = self.containers._watchdog.schedule(
                    max(timeout, 0.0),
                    lambda: control.cancel(f"execution_timeout of {timeout:g} s passed", StopReason.TIMEOUT),
                )
            while True:
                if control.abandoned:
                    raise Abandoned(service_id)
                try:
                    tasks = self._tasks(client, spec, service_id)
                    exit_code = _exit_code(tasks) if exit_code is None else exit_code
                    if not announced and any(t["Status"]["State"] in STARTED for t in tasks):
                        announced = True
                        say(f"Started: the swarm runs service {service_id[:12]} on {_nodes(tasks)}")
                        if on_started is not None:
                            on_started(service_id)
                    done = _ended(tasks, service.replicas)
                    if service.enable_logging and (done or control.cancelled or reader.due()):
                        reader.read(self._logs(client, spec, service_id), final=done)
                    if done:
                        exit_code = _finish(tasks, spec)
                        finished = True
                        break
                    if control.cancelled:
                        break
                    deadline = None
                except EngineUnreachableError as exc:
                    if control.cancelled:
                        raise
                    if deadline is None:
                        deadline = time.monotonic() + self.containers.engine_return_seconds
                        wait = self.containers.engine_return_seconds
                        say(f"The swarm manager stopped answering; waiting up to {wait:g} s for it")
                    client = engine_back(self.clients, spec.engine, deadline, exc)
                    continue
                time.sleep(self.poll_seconds)
            result = ContainerResult(
                container_id=service_id,
                exit_code=exit_code if exit_code is not None else -1,
                last_lines=list(reader.tail),
                all_lines=reader.everything,
                skipped=exit_code in spec.skip_on_exit_code,
                stop_reason=control.kind,
            )
            if control.kind is StopReason.TIMEOUT and not finished:
                raise TaskTimeoutError(
                    f"the Swarm service of {spec.image} ran longer than its execution_timeout of {timeout:g} s "
                    "and was removed",
                    stop_reason=control.kind,
                    result=result,
                )
            if control.kind is not None and not finished:
                raise TaskCancelledError(
                    f"the Swarm service of {spec.image} was removed ({control.reason})",
                    stop_reason=control.kind,
                    result=result,
                )
            result.duration = time.monotonic() - started
            return result
        except EngineError as exc:
            if control.abandoned:
                raise Abandoned(service_id) from exc
            # A manager that is gone (or no manager any more) took its services with it: nothing to remove.
            lost = isinstance(exc, EngineUnreachableError) or exc.status == NOT_A_MANAGER
            raise
        finally:
            if token is not None:
                self.containers._watchdog.unschedule(token)
            control._detach()
            if not control.abandoned:
                ok = finished and exit_code is not None and (exit_code == 0 or exit_code in spec.skip_on_exit_code)
                due = spec.auto_remove == "force" or (spec.auto_remove == "success" and ok)
                if not finished and not lost:
                    self._remove(client, spec.engine, service_id)  # removing a service is what stops it
                elif defer_removal:
                    control.removal_due = due
                    control._remover = lambda: self._remove(client, spec.engine, service_id)
                elif due:
                    self._remove(client, spec.engine, service_id)

    # -- finding services again -----------------------------------------------------------------
    def managed_services(self, engine: EngineConfig, instance: str) -> list[dict[str, Any]]:
        """Every service this installation labelled on ``engine``, as :meth:`DockerRuntime.managed_containers`
        lists containers (id, state, labels); none when the engine is no swarm manager."""
        client = self.clients.get(engine)
        wanted = [f"{LABEL_PREFIX}managed=true", f"{LABEL_PREFIX}instance={instance}"]
        try:
            with self._errors(engine, "the swarm manager could not list dockyard's services"):
                found = client.services(filters={"label": wanted})
                listed = []
                for service in found:
                    tasks = client.tasks(filters={"service": service["ID"]})
                    listed.append(
                        {
                            "id": service["ID"],
                            "state": _service_state(tasks),
                            "labels": service["Spec"].get("Labels") or {},
                            "kind": "service",
                        }
                    )
                return listed
        except EngineError as exc:
            if exc.status == NOT_A_MANAGER:
                return []
            raise

    def discard(self, engine: EngineConfig, service_id: str) -> None:
        """Stop a service by removing it (one that belongs to no live task try)."""
        self._remove(self.clients.get(engine), engine, service_id)

    def remove(self, engine: EngineConfig, service_id: str) -> None:
        """Remove a service whose try's result is recorded."""
        self._remove(self.clients.get(engine), engine, service_id)

    # -- engine calls ----------------------------------------------------------------------------
    def _errors(self, engine: EngineConfig, failure: str) -> Any:
        return self.clients.errors(engine, failure)

    def _auth(self, client: docker.APIClient, spec: ContainerSpec, say: MessageCallback) -> dict[str, Any]:
        """The registry login the nodes pull the image with (the container runtime's path: a connection,
        else the Docker CLI's config.json); none for an image of a public or local registry."""
        if spec.registry_auth is None and not spec.docker_config:
            return {}
        from docker.auth import resolve_repository_name
        from docker.utils import parse_repository_tag

        registry, _ = resolve_repository_name(parse_repository_tag(spec.image)[0])
        return self.containers._registry_auth(client, spec, registry, say)

    def _create(
        self, client: docker.APIClient, spec: ContainerSpec, name: str, body: dict[str, Any], auth: dict[str, Any]
    ) -> str:
        import docker.auth

        headers = {"X-Registry-Auth": docker.auth.encode_header(auth)} if auth else {}
        secrets_ = [auth["password"]] if auth.get("password") else []
        try:
            with self.clients.errors(
                spec.engine, f"the swarm manager could not create a service of {spec.image}", secrets=secrets_
            ):
                response = client._post_json(client._url("/services/create"), data=body, headers=headers)
                return str(client._result(response, json=True)["ID"])
        except EngineError as exc:
            if exc.status == NOT_A_MANAGER:
                raise EngineError(_not_a_manager(spec.engine, exc), status=exc.status) from exc
            if exc.status == 409:
                raise EngineError(
                    f"a Swarm service named {name!r} already exists; pick another container_name or remove it "
                    f"(docker service rm {name})",
                    status=exc.status,
                ) from exc
            if exc.status == 400:
                raise ContainerSpecError(f"{exc}; check the task's service options").for_task(
                    spec.options.task_id
                ) from exc
            raise

    def _tasks(self, client: docker.APIClient, spec: ContainerSpec, service_id: str) -> list[dict[str, Any]]:
        try:
            with self.clients.errors(
                spec.engine, f"the swarm manager could not list the tasks of service {service_id[:12]}"
            ):
                tasks = client.tasks(filters={"service": service_id})
                if not tasks:
                    client.inspect_service(service_id)  # a service removed from outside has no tasks either
                return list(tasks)
        except EngineNotFoundError as exc:
            raise EngineError(
                f"Swarm service {service_id[:12]} of {spec.image} was removed from outside while its try ran "
                "(docker service rm?)",
                status=exc.status,
            ) from exc
        except EngineError as exc:
            if exc.status == NOT_A_MANAGER:
                raise EngineError(_not_a_manager(spec.engine, exc), status=exc.status) from exc
            raise

    def _logs(self, client: docker.APIClient, spec: ContainerSpec, service_id: str) -> bytes:
        """The service's whole log so far (every task's output, stdout and stderr as they came). Read in one
        response, not docker-py's stream, which leaves its socket open once drained."""
        params = {"follow": False, "stdout": True, "stderr": True, "timestamps": False, "tail": "all"}
        failure = f"the swarm manager could not read the log of service {service_id[:12]}"
        try:
            with self.clients.errors(spec.engine, failure):
                response = client._get(client._url("/services/{0}/logs", service_id), params=params, stream=False)
                if spec.options.tty:
                    return bytes(client._result(response, binary=True))
                return b"".join(client._multiplexed_buffer_helper(response))
        except EngineNotFoundError:
            return b""

    def _remove(self, client: docker.APIClient, engine: EngineConfig, service_id: str) -> None:
        try:
            with self.clients.errors(engine, f"could not remove Swarm service {service_id[:12]}"):
                client.remove_service(service_id)
        except EngineNotFoundError:
            pass
        except EngineError as exc:
            logger.warning("%s", exc)


def service_body(spec: ContainerSpec, name: str, stop_grace_seconds: float) -> dict[str, Any]:
    """The Engine API's ``ServiceSpec`` for one try (see docs/swarm.md for how each option maps)."""
    from docker.types import Mount

    options, service = spec.options, spec.service or ServiceOptions()
    command, args = _command_and_args(spec, service)
    mounts = [dict(Mount(**m.to_json())) for m in spec.mounts]
    if options.shm_size:
        mounts.append({"Type": "tmpfs", "Target": "/dev/shm", "TmpfsOptions": {"SizeBytes": options.shm_size}})
    container: dict[str, Any] = {
        "Image": spec.image,
        "Command": command,
        "Args": args,
        "Env": [key if value is None else f"{key}={value}" for key, value in spec.environment.items()] or None,
        "Dir": options.working_dir,
        "User": options.user,
        "Hostname": options.hostname,
        "Labels": dict(options.labels) or None,
        "Mounts": mounts or None,
        "TTY": options.tty or None,
        "StopGracePeriod": int(stop_grace_seconds * 1e9),
        "Configs": list(service.configs) if service.configs else None,
        "Secrets": list(service.secrets) if service.secrets else None,
        "CapabilityAdd": list(options.cap_add) if options.cap_add else None,
        "Hosts": [f"{ip} {host}" for host, ip in (options.extra_hosts or {}).items()] or None,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in options.ulimits or ()] or None,
    }
    if options.dns or options.dns_search:
        container["DNSConfig"] = {"Nameservers": list(options.dns or ()), "Search": list(options.dns_search or ())}
    limits = {"MemoryBytes": options.mem_limit, "NanoCPUs": int(options.cpu_limit * 1e9) if options.cpu_limit else None}
    template: dict[str, Any] = {
        "ContainerSpec": _compact(container),
        "RestartPolicy": {"Condition": "none"},
        "Resources": service.container_resources or ({"Limits": _compact(limits)} if _compact(limits) else None),
        "Placement": service.placement,
        "LogDriver": _log_driver(spec, service),
        "Networks": list(service.networks) if service.networks else _networks_of(options.network_mode),
    }
    return {
        "Name": name,
        "Labels": with_removal_label(spec),
        "TaskTemplate": _compact(template),
        "Mode": service.mode or {"Replicated": {"Replicas": 1}},
    }


def _command_and_args(spec: ContainerSpec, service: ServiceOptions) -> tuple[list[str] | None, list[str] | None]:
    """The service's ``Command`` (which replaces the image's entrypoint) and ``Args`` (its arguments)."""
    extra = list(service.args or ())
    if spec.entrypoint:
        return spec.entrypoint, [*(spec.command or []), *extra] or None
    if service.command_replaces_entrypoint:  # DockerSwarmOperator's command, as the provider passes it
        return spec.command, extra or None
    return None, [*(spec.command or []), *extra] or None


def _log_driver(spec: ContainerSpec, service: ServiceOptions) -> dict[str, Any] | None:
    if service.logging_driver:
        return {"Name": service.logging_driver, "Options": dict(service.logging_driver_opts or {})}
    options = {"max-size": spec.options.log_opts_max_size, "max-file": spec.options.log_opts_max_file}
    options = {key: value for key, value in options.items() if value}
    return {"Name": "json-file", "Options": options} if options else None


def _networks_of(network_mode: str | None) -> list[dict[str, Any]] | None:
    """``network_mode`` for a service: none (or the engine's default) attaches none, another name that network."""
    if network_mode in (None, "", "none", "bridge", "default"):
        return None
    return [{"Target": network_mode}]


def _ignored(spec: ContainerSpec) -> list[str]:
    """Notes for the task log about container options a service runs without (docs/swarm.md says why)."""
    notes: list[str] = []
    if spec.options.cpus != 1.0:
        notes.append("Note: cpus (CPU shares) has no meaning for a Swarm service; use cpu_limit or container_resources")
    if spec.options.force_pull:
        notes.append("Note: force_pull: the swarm's node pulls the image whenever it starts the service's task")
    return notes


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _nodes(tasks: list[dict[str, Any]]) -> str:
    nodes = sorted({str(t.get("NodeID", ""))[:12] for t in tasks if t.get("NodeID")})
    return f"node {', '.join(nodes)}" if nodes else "a node"


def _ended(tasks: list[dict[str, Any]], replicas: int | None) -> bool:
    """Whether every task of the service has ended (and, for N replicas, all N were made)."""
    if not tasks or (replicas is not None and len(tasks) < replicas):
        return False
    return all(t["Status"]["State"] in ENDED for t in tasks)


def _exit_code(tasks: list[dict[str, Any]]) -> int | None:
    codes = [t["Status"].get("ContainerStatus", {}).get("ExitCode") for t in tasks if t["Status"]["State"] in ENDED]
    known = [int(code) for code in codes if code is not None]
    return next((code for code in known if code != 0), known[0] if known else None)


def _finish(tasks: list[dict[str, Any]], spec: ContainerSpec) -> int:
    """The exit code of a service whose tasks all ended: the first non-zero one. A task the swarm could not
    start (no such image on the node, no node fits the placement) has none: that is an error of its own."""
    for task in tasks:
        status = task["Status"]
        if status.get("ContainerStatus", {}).get("ExitCode") is None and status["State"] != "complete":
            raise EngineError(
                f"the swarm could not run the service's task of {spec.image} ({status['State']}: "
                f"{status.get('Err') or status.get('Message') or 'no reason given'}); check that every node can "
                "pull the image and that the placement fits a node"
            )
    code = _exit_code(tasks)
    return 0 if code is None else code


def _service_state(tasks: list[dict[str, Any]]) -> str:
    """A service's tasks as a container's state: ``running``, ``exited`` or ``created`` (not started yet)."""
    states = {t["Status"]["State"] for t in tasks}
    if "running" in states:
        return "running"
    if states and states <= ENDED:
        return "exited"
    return "created"


def _not_a_manager(engine: EngineConfig, exc: EngineError) -> str:
    return (
        f"the engine at {', '.join(engine.urls) or 'DOCKER_HOST'} is not a Docker Swarm manager ({exc}); the swarm "
        "is gone or was never made. Run `docker swarm init` there (or join it to the swarm), point the task's "
        "docker_url at a manager, or set DOCKYARD_ENGINE_MODE=container to run tasks as plain containers"
    )


class _LogReader:
    """Delivers the new lines of a service's log, read whole on each look (a service's log cannot be
    followed to its end: the stream stays open while the service exists). While the service runs only
    complete lines are delivered; the unfinished last one waits for its newline or the end."""

    def __init__(self, tail_lines: int, collect_all: bool, on_lines: LinesCallback, *, skip: int) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self.everything: list[str] | None = [] if collect_all else None
        self.on_lines = on_lines
        self.delivered = 0
        self.skip = skip
        self._last = 0.0

    def due(self) -> bool:
        """Whether to read the log on this look (at most once a second while the service runs)."""
        return time.monotonic() - self._last >= 1.0

    def read(self, whole: bytes, *, final: bool) -> None:
        self._last = time.monotonic()
        splitter = LineSplitter()
        lines = splitter.feed(whole) + (splitter.close() if final else [])
        new = lines[self.delivered :]
        if not new:
            return
        first = max(0, self.skip - self.delivered)
        self.delivered = len(lines)
        self.tail.extend(new)
        if self.everything is not None:
            self.everything.extend(new)
        if first < len(new):
            self.on_lines(new[first:])

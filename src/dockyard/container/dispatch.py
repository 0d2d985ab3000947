"""``EngineRuntime``: one runtime object for every engine mode, sending each call where it belongs.

The execution layer and the scheduler hold one runtime and call ``run``, ``resume``, ``managed_containers``,
``discard``, ``remove`` and ``close`` on it. A try whose engine's ``mode`` is ``swarm`` runs as a one-shot
Swarm service (:class:`~dockyard.container.swarm.SwarmRuntime`), any other as a container
(:class:`~dockyard.container.runtime.DockerRuntime`). A Kubernetes runtime would be one more mode here.

Listing an engine's leftovers after a restart lists both kinds: a DAG may mix ``DockerOperator`` and
``DockerSwarmOperator`` tasks on one engine, and the scheduler asks by engine, not by mode. The ids of the
services it listed (or started) are remembered, so that ``discard`` and ``remove`` reach a service by its id
whatever the mode of the engine they are given with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dockyard.container.control import ContainerResult, RunControl
from dockyard.container.runtime import DockerRuntime, LinesCallback, MessageCallback
from dockyard.container.service_options import ServiceOptions
from dockyard.container.spec import ContainerSpec, EngineConfig
from dockyard.container.swarm import SwarmRuntime
from dockyard.errors import ConfigError, EngineError

if TYPE_CHECKING:
    from dockyard.container.engine import EngineClients
    from dockyard.container.policy import Policy

MODES = ("container", "swarm")
"""The engine modes dockyard runs tries in."""


def engine_mode(options: Mapping[str, Any], overrides: Mapping[str, Any], default_mode: str) -> dict[str, Any]:
    """``build_spec``'s ``mode`` and ``service`` for a try whose prepared options (JSON) are ``options``.

    A ``DockerSwarmOperator`` task (its options carry ``service``) always runs as a service; any other takes
    ``default_mode`` (``DOCKYARD_ENGINE_MODE``) on the default engine, and runs as a container on an engine its
    ``docker_url`` (or its connection, ``overrides``) names.
    """
    service = options.get("service")
    if service is not None:
        task_id = str(options.get("task_id") or "")
        return {"mode": "swarm", "service": ServiceOptions.from_values(service, task_id=task_id)}
    on_default_engine = not options.get("docker_url") and not overrides.get("docker_url")
    return {"mode": default_mode if on_default_engine else "container"}


class EngineRuntime:
    """Runs each try in its engine's mode; the interface is :class:`DockerRuntime`'s. Thread-safe."""

    def __init__(self, containers: DockerRuntime, swarm: SwarmRuntime | None = None) -> None:
        self.containers = containers
        self.swarm = swarm or SwarmRuntime(containers)
        self._services: set[str] = set()
        self._lock = threading.Lock()

    @property
    def policy(self) -> Policy:
        return self.containers.policy

    @property
    def clients(self) -> EngineClients:
        return self.containers.clients

    def close(self) -> None:
        self.containers.close()

    def _is_service(self, engine: EngineConfig, object_id: str) -> bool:
        if engine.mode not in MODES:
            raise ConfigError(f"engine mode {engine.mode!r} is not known; use one of {', '.join(MODES)}")
        with self._lock:
            return engine.mode == "swarm" or object_id in self._services

    def _remember(self, service_id: str) -> None:
        with self._lock:
            self._services.add(service_id)

    def pull(self, spec: ContainerSpec, say: MessageCallback) -> None:
        """Pull the image on the engine (for a swarm, each node pulls when it starts a task)."""
        self.containers.pull(spec, say)

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
        """Run ``spec`` as a container or as a Swarm service, by ``spec.engine.mode``."""
        if not self._is_service(spec.engine, ""):
            return self.containers.run(
                spec,
                on_lines,
                say=say,
                timeout=timeout,
                control=control,
                on_created=on_created,
                on_started=on_started,
                defer_removal=defer_removal,
            )

        def created(service_id: str) -> None:
            self._remember(service_id)
            if on_created is not None:
                on_created(service_id)

        return self.swarm.run(
            spec,
            on_lines,
            say=say,
            timeout=timeout,
            control=control,
            on_created=created,
            on_started=on_started,
            defer_removal=defer_removal,
        )

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
        """Finish a try whose container or service a previous scheduler left running."""
        runtime: DockerRuntime | SwarmRuntime = (
            self.swarm if self._is_service(spec.engine, container_id) else self.containers
        )
        return runtime.resume(
            spec,
            container_id,
            on_lines,
            skip_lines=skip_lines,
            say=say,
            timeout=timeout,
            control=control,
            defer_removal=defer_removal,
        )

    def managed_containers(self, engine: EngineConfig, instance: str) -> list[dict[str, Any]]:
        """dockyard's containers and Swarm services on ``engine`` (id, state, labels; a service has
        ``kind="service"``). A swarm engine that fails to list its services raises; a container engine that is
        no swarm manager simply has none."""
        found = [] if engine.mode == "swarm" else self.containers.managed_containers(engine, instance)
        try:
            services = self.swarm.managed_services(engine, instance)
        except EngineError:
            if engine.mode == "swarm":
                raise
            services = []
        for service in services:
            self._remember(service["id"])
        return found + services

    def discard(self, engine: EngineConfig, container_id: str) -> None:
        """Stop and remove a container, or remove a service (one that belongs to no live task try)."""
        if self._is_service(engine, container_id):
            self.swarm.discard(engine, container_id)
        else:
            self.containers.discard(engine, container_id)

    def remove(self, engine: EngineConfig, container_id: str) -> None:
        """Remove a finished container or service whose try's result is recorded."""
        if self._is_service(engine, container_id):
            self.swarm.remove(engine, container_id)
        else:
            self.containers.remove(engine, container_id)

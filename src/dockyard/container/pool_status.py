"""Reading an engine of the pool: its capacity, what runs there, and whether it answers at all.

:func:`read_status` never raises for an engine that is away or broken, and never hangs: every call it makes
goes through a client with a short timeout (:data:`~dockyard.defaults.DEFAULT_ENGINE_STATUS_TIMEOUT`), and any
failure becomes an unhealthy :class:`~dockyard.container.pool.EngineStatus` carrying the reason.

What is counted as used:

- a container engine: every running container's limits (``NanoCpus``, else ``CpuQuota``/``CpuPeriod``;
  ``Memory``; GPU ``DeviceRequests``), dockyard's or not, since all of them share the machine. CPU shares are
  a weight, not a limit, and count nothing. A container's limits are read once (``inspect``) and remembered by
  its id in a :class:`LimitsCache`, so a pass over an engine with many long tasks costs one list call.
- a swarm: the reservations (else limits) of the tasks its nodes run; capacity is the sum over nodes that are
  ready and active.

Capacity is ``docker info``'s ``NCPU`` and ``MemTotal``; GPUs are what the engine announces as generic
resources (``node-generic-resources`` in ``daemon.json``), else 0: ``docker info`` does not count GPUs, so a GPU
engine should give ``gpus`` in the engines file. The engines file's overrides replace what is read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dockyard import defaults
from dockyard.container.engine_errors import engine_errors
from dockyard.container.pool import (
    ALL_GPUS,
    EngineDefinition,
    EngineStatus,
    Resources,
    generic_gpus,
    gpu_count,
    key_of_labels,
    nano_to_cpus,
    swarm_resources,
)
from dockyard.container.spec import LABEL_PREFIX, EngineConfig
from dockyard.errors import DockyardError, EngineError, EngineNotFoundError

if TYPE_CHECKING:  # docker-py loads with the runtime, not with this module
    from dockyard.container.engine import EngineClients

_SWARM_BUSY = frozenset({"assigned", "accepted", "preparing", "ready", "starting", "running"})
"""Swarm task states that hold their node's resources."""


class LimitsCache:
    """Running containers' limits by container id, per engine: a container's limits are inspected once."""

    def __init__(self) -> None:
        self._limits: dict[str, dict[str, Resources]] = {}
        self._lock = threading.Lock()

    def known(self, engine: str, ids: Iterable[str]) -> dict[str, Resources]:
        """The remembered limits of ``ids``; ids no longer running are forgotten."""
        wanted = set(ids)
        with self._lock:
            kept = {i: r for i, r in self._limits.get(engine, {}).items() if i in wanted}
            self._limits[engine] = kept
            return dict(kept)

    def remember(self, engine: str, container_id: str, limits: Resources) -> None:
        with self._lock:
            self._limits.setdefault(engine, {})[container_id] = limits


def status_config(definition: EngineDefinition) -> EngineConfig:
    """The engine's configuration with the short status timeout (its own cached client)."""
    return dataclasses.replace(definition.config, timeout=defaults.DEFAULT_ENGINE_STATUS_TIMEOUT)


def read_status(
    clients: EngineClients,
    definition: EngineDefinition,
    instance: str | None,
    *,
    cache: LimitsCache | None = None,
) -> EngineStatus:
    """The engine's status now. ``instance`` is dockyard's instance label (the containers of another dockyard
    on the same engine count as used, not as this one's tasks); ``cache`` keeps containers' limits between
    passes (without one, every running container is inspected)."""
    config = status_config(definition)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        with clients.errors(config, f"engine {definition.name!r} did not report its status"):
            client = clients.get(config)
            info = client.info()
            if definition.mode == "swarm":
                capacity, used, running, keys = _swarm(client, info, instance)
            else:
                capacity, used, running, keys = _containers(client, info, definition.name, instance, cache)
    except DockyardError as exc:
        return EngineStatus(
            name=definition.name,
            healthy=False,
            error=str(exc),
            capacity=definition.override(Resources()),
            used=Resources(),
            running=0,
            checked_at=now,
            labels=definition.labels,
            mode=definition.mode,
        )
    capacity = definition.override(capacity)
    if used.gpus == ALL_GPUS or used.gpus > capacity.gpus:
        used = dataclasses.replace(used, gpus=capacity.gpus)
    return EngineStatus(
        name=definition.name,
        healthy=True,
        error=None,
        capacity=capacity,
        used=used,
        running=running,
        checked_at=now,
        labels=definition.labels,
        mode=definition.mode,
        task_keys=keys,
    )


def read_statuses(
    clients: EngineClients,
    definitions: Iterable[EngineDefinition],
    instance: str | None,
    *,
    cache: LimitsCache | None = None,
) -> list[EngineStatus]:
    """Every engine's status, read at once (one thread each): a slow engine delays the pass by at most the
    status timeout, not once per engine."""
    engines = list(definitions)
    found: dict[str, EngineStatus] = {}

    def read(definition: EngineDefinition) -> None:
        found[definition.name] = read_status(clients, definition, instance, cache=cache)

    threads = [threading.Thread(target=read, args=(d,), name=f"engine-status-{d.name}") for d in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [found[d.name] for d in engines]


def _ours(labels: Mapping[str, str] | None, instance: str | None) -> bool:
    labels = labels or {}
    if labels.get(f"{LABEL_PREFIX}managed") != "true":
        return False
    return instance is None or labels.get(f"{LABEL_PREFIX}instance") == instance


def _engine_capacity(info: Mapping[str, Any]) -> Resources:
    gpus = sum(generic_gpus(r) for r in info.get("GenericResources") or ())
    return Resources(float(info.get("NCPU") or 0), int(info.get("MemTotal") or 0), gpus)


def _containers(
    client: Any, info: Mapping[str, Any], engine: str, instance: str | None, cache: LimitsCache | None
) -> tuple[Resources, Resources, int, frozenset[str]]:
    listed = client.containers(filters={"status": "running"})
    limits = cache.known(engine, (c["Id"] for c in listed)) if cache else {}
    used = Resources()
    running = 0
    keys: set[str] = set()
    for container in listed:
        found = limits.get(container["Id"])
        if found is None:
            try:
                with engine_errors(f"engine {engine!r} could not inspect container {container['Id'][:12]}"):
                    inspected = client.inspect_container(container["Id"])
            except EngineNotFoundError:
                continue  # it ended (and was removed) between the list and the inspect: it uses nothing now
            found = container_limits(inspected.get("HostConfig") or {})
            if cache:
                cache.remember(engine, container["Id"], found)
        gpus = ALL_GPUS if ALL_GPUS in (used.gpus, found.gpus) else used.gpus + found.gpus
        used = Resources(used.cpus + found.cpus, used.memory + found.memory, gpus)
        if _ours(container.get("Labels"), instance):
            running += 1
            key = key_of_labels(container.get("Labels") or {})
            if key:
                keys.add(key)
    return _engine_capacity(info), used, running, frozenset(keys)


def container_limits(host_config: Mapping[str, Any]) -> Resources:
    """What one container may use, from its ``HostConfig`` (0 where it has no limit)."""
    cpus = nano_to_cpus(host_config.get("NanoCpus") or 0)
    quota, period = host_config.get("CpuQuota") or 0, host_config.get("CpuPeriod") or 100_000
    if not cpus and quota > 0:
        cpus = quota / period
    return Resources(cpus, int(host_config.get("Memory") or 0), gpu_count(host_config.get("DeviceRequests") or ()))


def _swarm(
    client: Any, info: Mapping[str, Any], instance: str | None
) -> tuple[Resources, Resources, int, frozenset[str]]:
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise EngineError(
            f"the engine is not a swarm manager (Swarm.LocalNodeState={swarm.get('LocalNodeState')!r}); run "
            '`docker swarm init` there, point the engine\'s url at a manager, or set its mode to "container"'
        )
    capacity = Resources()
    for node in client.nodes():
        if (node.get("Status") or {}).get("State") != "ready" or (node.get("Spec") or {}).get(
            "Availability"
        ) != "active":
            continue
        resources = (node.get("Description") or {}).get("Resources") or {}
        gpus = sum(generic_gpus(r) for r in resources.get("GenericResources") or ())
        capacity = capacity + Resources(
            nano_to_cpus(resources.get("NanoCPUs") or 0), int(resources.get("MemoryBytes") or 0), gpus
        )
    used = Resources()
    running = 0
    keys: set[str] = set()
    for task in client.tasks(filters={"desired-state": "running"}):
        if (task.get("Status") or {}).get("State") not in _SWARM_BUSY:
            continue
        spec = task.get("Spec") or {}
        used = used + swarm_resources(spec.get("Resources") or {})
        labels = (spec.get("ContainerSpec") or {}).get("Labels") or {}
        if _ours(labels, instance):
            running += 1
            key = key_of_labels(labels)
            if key:
                keys.add(key)
    return capacity, used, running, frozenset(keys)

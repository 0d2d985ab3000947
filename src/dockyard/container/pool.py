"""The engine pool: which engines tasks may run on, what each task asks for, and where it is admitted.

Pure logic, no engine calls (those are in :mod:`dockyard.container.pool_status`): the pool is read from the
TOML file ``DOCKYARD_ENGINES`` names, a task's request from its container options, and :func:`admit` picks an
engine from the engines' last statuses. Example engines file::

    [[engine]]
    name = "local"
    url = "unix:///var/run/docker.sock"

    [[engine]]
    name = "gpu-box"
    url = "tcp://gpu-box:2376"
    labels = ["gpu"]
    tls_ca_cert = "/etc/dockyard/ca.pem"
    tls_client_cert = "/etc/dockyard/cert.pem"
    tls_client_key = "/etc/dockyard/key.pem"
    memory = "64g"       # capacity overrides; unset: read from the engine (``docker info``)
    gpus = 2

A task picks engines by its ``queue`` (Airflow's ``BaseOperator(queue=...)``, default ``"default"``): an engine
serves the queues named by its labels; an engine without labels serves the ``"default"`` queue. A task's
``executor_config={"engine_labels": [...]}`` adds labels every chosen engine must carry too.

What a task asks for (:func:`requested`):

- CPUs: ``cpu_limit`` (a hard limit, the engine's ``NanoCpus``); else ``cpus`` when it is not Airflow's default
  1.0. ``cpus`` is a relative weight (CPU shares) in Airflow and reserves nothing; its default 1.0 is on nearly
  every ``DockerOperator``, unasked, so it does not count (it would cap an 8-core engine at 8 tasks that today
  share the CPUs fine). A ``cpus`` that an author changed is taken as what the task needs.
- Memory: ``mem_limit``. GPUs: ``device_requests`` asking for the ``gpu`` capability or the ``nvidia`` driver
  (``count=-1``: every GPU of the engine). A swarm task's ``container_resources``: reservations, else limits.

Counting each task once: an engine's status lists the dockyard tasks it runs (by their labels, as
:func:`task_key` spells them). A :class:`Reservation` (a task dockyard admitted, whose container may not run
yet) counts against its engine only while the engine's status does not list that task; once the engine shows
the container, its limits are counted from the engine and the reservation is ignored.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from dockyard import defaults
from dockyard.container import values as v
from dockyard.container.options import ContainerOptions
from dockyard.container.spec import LABEL_PREFIX, EngineConfig
from dockyard.errors import ConfigError, ContainerSpecError

ALL_GPUS = -1
"""``Resources.gpus`` of a request for every GPU of the engine (``device_requests`` with ``count=-1``)."""

ENGINE_MODES = ("container", "swarm")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_GIB = 1024**3


@dataclass(frozen=True)
class Resources:
    """CPUs, memory (bytes) and GPUs: an engine's capacity, what is in use, or what a task asks for."""

    cpus: float = 0.0
    memory: int = 0
    gpus: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpus + other.cpus, self.memory + other.memory, self.gpus + other.gpus)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpus - other.cpus, self.memory - other.memory, self.gpus - other.gpus)

    def at_least_zero(self) -> Resources:
        return Resources(max(self.cpus, 0.0), max(self.memory, 0), max(self.gpus, 0))

    def for_engine(self, capacity: Resources) -> Resources:
        """This request on an engine of ``capacity``: ``ALL_GPUS`` becomes the engine's GPUs (at least one)."""
        return Resources(self.cpus, self.memory, max(capacity.gpus, 1) if self.gpus == ALL_GPUS else self.gpus)

    def fits_in(self, room: Resources) -> bool:
        # a tolerance for float sums of CPU fractions (0.1 + 0.2 > 0.3)
        return self.cpus <= room.cpus + 1e-9 and self.memory <= room.memory and self.gpus <= room.gpus

    def describe(self) -> str:
        """``"2 CPUs, 8 GB memory, 1 GPU"``: the parts that are not zero (``"nothing"`` when none is)."""
        parts = [describe_part(name, getattr(self, name)) for name in ("cpus", "memory", "gpus") if getattr(self, name)]
        return ", ".join(parts) or "nothing"

    def to_dict(self) -> dict[str, Any]:
        return {"cpus": self.cpus, "memory": self.memory, "gpus": self.gpus}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Resources:
        """The inverse of :meth:`to_dict` (a serialized task keeps its request so); None or {} asks for nothing."""
        data = data or {}
        return cls(float(data.get("cpus") or 0), int(data.get("memory") or 0), int(data.get("gpus") or 0))


def describe_part(name: str, amount: float) -> str:
    """One resource for a person: ``"1.5 CPUs"``, ``"8 GB memory"``, ``"all GPUs"``."""
    if name == "memory":  # below 1 GB in MB, as a mem_limit of "200m" was written
        return f"{_number(amount / _GIB)} GB memory" if amount >= _GIB else f"{_number(amount / 1024**2)} MB memory"
    if name == "gpus":
        return "all GPUs" if amount == ALL_GPUS else f"{_number(amount)} GPU{'' if amount == 1 else 's'}"
    return f"{_number(amount)} CPU{'' if amount == 1 else 's'}"


def _number(amount: float) -> str:
    return str(int(amount)) if float(amount).is_integer() else f"{amount:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class EngineDefinition:
    """One engine of the pool: its name, how to reach it, its labels, and capacity overrides (None: read it)."""

    name: str
    config: EngineConfig
    labels: frozenset[str] = frozenset()
    cpus: float | None = None
    memory: int | None = None
    gpus: int | None = None

    @property
    def mode(self) -> str:
        return self.config.mode

    def override(self, read: Resources) -> Resources:
        """The capacity to admit by: the overrides where given, else what the engine reported."""
        return Resources(
            read.cpus if self.cpus is None else self.cpus,
            read.memory if self.memory is None else self.memory,
            read.gpus if self.gpus is None else self.gpus,
        )


def serves(labels: frozenset[str], wanted: frozenset[str]) -> bool:
    """Whether an engine with ``labels`` takes a task that wants ``wanted`` (its queue and engine labels)."""
    if not labels:
        return wanted == {defaults.DEFAULT_QUEUE}
    return wanted <= labels


def wanted_labels(queue: str | None, executor_config: Mapping[str, Any] | None = None) -> frozenset[str]:
    """The labels an engine needs to run a task: its ``queue`` and ``executor_config["engine_labels"]``."""
    extra = (executor_config or {}).get("engine_labels") or ()
    if isinstance(extra, str):
        extra = (extra,)
    return frozenset({queue or defaults.DEFAULT_QUEUE, *(str(label) for label in extra)})


def task_key(dag_id: str, task_id: str, run_id: str, try_number: int, map_index: int = -1) -> str:
    """One task try's identity, as reservations and engine statuses both spell it."""
    return f"{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}"


def key_of_labels(labels: Mapping[str, str]) -> str | None:
    """The :func:`task_key` of a container from dockyard's labels (:func:`~dockyard.container.spec.labels_for`)."""
    try:
        return task_key(
            labels[f"{LABEL_PREFIX}dag_id"],
            labels[f"{LABEL_PREFIX}task_id"],
            labels[f"{LABEL_PREFIX}run_id"],
            int(labels[f"{LABEL_PREFIX}try_number"]),
            int(labels.get(f"{LABEL_PREFIX}map_index", "-1")),
        )
    except (KeyError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------- loading the pool

_ENGINE_KEYS = (
    "name",
    "url",
    "labels",
    "mode",
    "cpus",
    "memory",
    "gpus",
    "api_version",
    "tls_ca_cert",
    "tls_client_cert",
    "tls_client_key",
    "tls_verify",
    "tls_hostname",
)


def default_pool(default_docker_url: str) -> tuple[EngineDefinition, ...]:
    """The pool without an engines file: one engine, ``default``, at ``DOCKER_HOST`` or the local socket."""
    urls = v.parse_docker_urls("DOCKER_HOST", default_docker_url) or ()
    return (EngineDefinition(name=defaults.DEFAULT_ENGINE_NAME, config=EngineConfig(urls=urls)),)


def load_pool(path: Path | None, *, default_docker_url: str) -> tuple[EngineDefinition, ...]:
    """The engines of ``path`` (``Settings.engines_file``), or :func:`default_pool` when it is None.

    Every bad entry raises one :class:`~dockyard.errors.ConfigError` naming the file, the engine and the key.
    """
    if path is None:
        return default_pool(default_docker_url)
    where = f"DOCKYARD_ENGINES file {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{where} cannot be read ({exc.strerror}); point DOCKYARD_ENGINES at a readable file"
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} is not valid TOML ({exc}); write one [[engine]] table per engine") from exc
    unknown = sorted(set(data) - {"engine"})
    if unknown:
        raise ConfigError(f"{where}: top-level key {unknown[0]!r} is not known; write one [[engine]] table per engine")
    tables = data.get("engine")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{where} lists no engines; write one [[engine]] table per engine with a name and a url")
    engines: list[EngineDefinition] = []
    for number, table in enumerate(tables, start=1):
        engine = _engine(where, number, table)
        if any(e.name == engine.name for e in engines):
            raise ConfigError(
                f"{where}: engine {engine.name!r}: key 'name': two engines have this name; give each its own"
            )
        engines.append(engine)
    return tuple(engines)


def _engine(where: str, number: int, table: dict[str, Any]) -> EngineDefinition:
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{where}: engine number {number}: key 'name' is {name!r}; give a name of letters, digits, '-', '_' "
            "or '.' (up to 100), like \"engine-b\""
        )

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{where}: engine {name!r}: key {key!r} is {table.get(key)!r}; {expected}")

    unknown = sorted(set(table) - set(_ENGINE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: engine {name!r}: key {unknown[0]!r} is not known; use {', '.join(_ENGINE_KEYS)}")
    if "url" not in table:
        raise bad("url", "give the engine's URL, like unix:///var/run/docker.sock or tcp://host:2376")
    try:
        urls = v.parse_docker_urls("url", table["url"])
        api_version = v.parse_api_version("api_version", table.get("api_version"))
    except ContainerSpecError as exc:
        raise ConfigError(f"{where}: engine {name!r}: {exc}") from None
    if not urls:
        raise bad("url", "give the engine's URL, like unix:///var/run/docker.sock or tcp://host:2376")
    labels = table.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
        raise bad("labels", 'give a list of names, like ["gpu", "default"]')
    mode = table.get("mode", "container")
    if mode not in ENGINE_MODES:
        raise bad("mode", 'give "container" (containers on this engine) or "swarm" (services on its swarm)')
    tls: dict[str, Any] = {}
    for key in ("tls_ca_cert", "tls_client_cert", "tls_client_key"):
        if key in table:
            if not isinstance(table[key], str) or not Path(table[key]).is_file():
                raise bad(key, "give the path of an existing PEM file")
            tls[key] = table[key]
    if "tls_verify" in table:
        if not isinstance(table["tls_verify"], bool):
            raise bad("tls_verify", "give true or false")
        tls["tls_verify"] = table["tls_verify"]
    if "tls_hostname" in table:
        if not isinstance(table["tls_hostname"], (str, bool)):
            raise bad("tls_hostname", "give the host name in the engine's certificate, or false to skip the check")
        tls["tls_hostname"] = table["tls_hostname"]
    cpus = table.get("cpus")
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not cpus > 0):
        raise bad("cpus", "give the CPUs tasks may use on this engine, a number greater than zero like 8 or 3.5")
    memory = None
    if "memory" in table:
        try:
            memory = v.parse_size("memory", table["memory"])
        except ContainerSpecError:
            raise bad("memory", f"{v.SIZE_FORMS} (the memory tasks may use on this engine)") from None
    gpus = table.get("gpus")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0):
        raise bad("gpus", "give the number of GPUs of this engine, a whole number of 0 or more")
    config = EngineConfig(urls=urls, api_version=api_version, mode=mode, **tls)
    return EngineDefinition(
        name=name,
        config=config,
        labels=frozenset(labels),
        cpus=None if cpus is None else float(cpus),
        memory=memory,
        gpus=gpus,
    )


# ---------------------------------------------------------------------------------------------- a task's request


def requested(values: Mapping[str, Any] | ContainerOptions) -> Resources:
    """What a task asks for, from its container options (see the module docstring for the rules)."""
    if isinstance(values, ContainerOptions):
        values = {name: getattr(values, name) for name in ("cpus", "cpu_limit", "mem_limit", "device_requests")}
    cpu_limit = v.parse_optional_positive("cpu_limit", values.get("cpu_limit"))
    cpus = v.parse_positive("cpus", values.get("cpus", 1.0))
    memory = v.parse_size("mem_limit", values.get("mem_limit")) or 0
    gpus = gpu_count(v.parse_device_requests("device_requests", values.get("device_requests")) or ())
    wanted = Resources(cpu_limit or (cpus if cpus != 1.0 else 0.0), memory, gpus)
    swarm = _swarm_request(values.get("container_resources"))
    return Resources(
        swarm.cpus or wanted.cpus, swarm.memory or wanted.memory, wanted.gpus if wanted.gpus else swarm.gpus
    )


def gpu_count(requests: Iterable[Any]) -> int:
    """GPUs asked for by device requests (``DeviceRequestOption``s, or the Engine API's dicts); ``ALL_GPUS``
    for ``count=-1``. A request counts when it names the ``gpu`` capability or the ``nvidia`` driver."""
    total = 0
    for request in requests:
        get = request.get if isinstance(request, Mapping) else lambda key, r=request: getattr(r, key, None)
        driver = str(get("driver") or get("Driver") or "")
        capabilities = get("capabilities") or get("Capabilities") or ()
        if driver != "nvidia" and not any("gpu" in group for group in capabilities):
            continue
        count = int(get("count") or get("Count") or 0)
        ids = get("device_ids") or get("DeviceIDs") or ()
        if count == ALL_GPUS:
            return ALL_GPUS
        total += count or len(ids)
    return total


def _swarm_request(value: object) -> Resources:
    """``container_resources`` (``docker.types.Resources``: ``Limits``/``Reservations`` with ``NanoCPUs``,
    ``MemoryBytes``), checked, as :func:`swarm_resources`."""
    if not value:
        return Resources()
    if not isinstance(value, Mapping):
        raise ContainerSpecError(
            f"container_resources={value!r} is not valid: give docker.types.Resources(...) or a dict with "
            "'Limits' and 'Reservations'",
            option="container_resources",
        )
    return swarm_resources(value)


def swarm_resources(resources: Mapping[str, Any]) -> Resources:
    """A swarm task's or service's ``Resources``: the reservation of each resource, else its limit."""
    reservations = resources.get("Reservations") or {}
    limits = resources.get("Limits") or {}
    gpus = sum(generic_gpus(r) for r in reservations.get("GenericResources") or ())
    return Resources(
        nano_to_cpus(reservations.get("NanoCPUs") or limits.get("NanoCPUs") or 0),
        int(reservations.get("MemoryBytes") or limits.get("MemoryBytes") or 0),
        gpus,
    )


def generic_gpus(resource: Mapping[str, Any]) -> int:
    """GPUs in one swarm generic resource (``{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 2}}``)."""
    discrete = resource.get("DiscreteResourceSpec") or {}
    if "gpu" in str(discrete.get("Kind", "")).lower():
        return int(discrete.get("Value") or 0)
    named = resource.get("NamedResourceSpec") or {}
    return 1 if "gpu" in str(named.get("Kind", "")).lower() else 0


def task_request(options: Mapping[str, Any] | ContainerOptions, task_id: str) -> Resources:
    """:func:`requested`, with an error that names the task."""
    try:
        return requested(options)
    except ContainerSpecError as exc:
        raise exc.for_task(task_id) from None


# ---------------------------------------------------------------------------------------------- admission


@dataclass(frozen=True)
class Reservation:
    """A task try dockyard admitted to ``engine``: counted there until the engine's status shows its container."""

    engine: str
    key: str
    """The try's :func:`task_key`."""
    resources: Resources


@dataclass(frozen=True)
class WaitingForResources:
    """No engine can take the task now; ``reason`` is what the task shows while it waits."""

    reason: str


@dataclass(frozen=True)
class EngineStatus:
    """One engine as last read: health, capacity (overrides applied), what runs there, and when it was read."""

    name: str
    healthy: bool
    error: str | None
    capacity: Resources
    used: Resources
    running: int
    """dockyard's containers (or swarm tasks) running there."""
    checked_at: dt.datetime
    """When it was read (UTC)."""
    labels: frozenset[str] = frozenset()
    mode: str = "container"
    task_keys: frozenset[str] = field(default_factory=frozenset)
    """The :func:`task_key` of each running dockyard task, so that a :class:`Reservation` is not counted twice."""

    @property
    def free(self) -> Resources:
        return (self.capacity - self.used).at_least_zero()

    def room(self, reserved: Iterable[Reservation]) -> Resources:
        """Free resources less the reservations the engine does not show yet."""
        waiting = [
            r.resources.for_engine(self.capacity)
            for r in reserved
            if r.engine == self.name and r.key not in self.task_keys
        ]
        unseen = sum(waiting, Resources()) if waiting else Resources()
        return (self.free - unseen).at_least_zero()

    def busy(self, reserved: Iterable[Reservation]) -> int:
        """dockyard's tasks running here, and those admitted here that the engine does not show yet."""
        return self.running + sum(1 for r in reserved if r.engine == self.name and r.key not in self.task_keys)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as the store keeps them."""
        return {
            "name": self.name,
            "healthy": self.healthy,
            "error": self.error,
            "mode": self.mode,
            "labels": sorted(self.labels),
            "capacity": self.capacity.to_dict(),
            "used": self.used.to_dict(),
            "free": self.free.to_dict(),
            "running": self.running,
            "checked_at": self.checked_at,
        }


def admit(
    request: Resources,
    wanted: frozenset[str] | str,
    statuses: Sequence[EngineStatus],
    reserved: Iterable[Reservation] = (),
    *,
    task_id: str = "",
) -> EngineStatus | WaitingForResources:
    """The engine to run a task on, or why it waits.

    ``wanted`` is the task's queue (or :func:`wanted_labels`). Among the healthy engines that serve it and have
    room for the request, the one with the most free memory wins (then the most free CPUs, then the name); a
    task that asks for nothing goes to the engine with the fewest dockyard tasks, so tasks spread over the pool.
    A request that no engine serving the queue could ever hold, or a queue no engine serves, raises
    :class:`~dockyard.errors.ContainerSpecError` (the task fails instead of waiting forever).
    """
    labels = frozenset({wanted}) if isinstance(wanted, str) else wanted
    reserved = [r for r in reserved]
    serving = [s for s in statuses if serves(s.labels, labels)]
    if not serving:
        known = "; ".join(f"{s.name}: {', '.join(sorted(s.labels)) or defaults.DEFAULT_QUEUE}" for s in statuses)
        raise _refuse(task_id, f"no engine serves queue {_queue_text(labels)} (engines and queues: {known})")
    healthy = [s for s in serving if s.healthy]
    if not healthy:
        reasons = "; ".join(f"{s.name}: {s.error or 'not answering'}" for s in serving)
        return WaitingForResources(
            f"waiting for resources: no engine serving {_queue_text(labels)} answers ({reasons})"
        )
    too_big = [s for s in healthy if not request.for_engine(s.capacity).fits_in(s.capacity)]
    if len(too_big) == len(serving):
        largest = max(too_big, key=lambda s: (s.capacity.memory, s.capacity.cpus, s.capacity.gpus))
        asked = request.for_engine(largest.capacity)
        over = next(n for n in _OPTION_OF if getattr(asked, n) > getattr(largest.capacity, n) + 1e-9)
        raise _refuse(
            task_id,
            f"needs {request.describe()}, more than any engine serving {_queue_text(labels)} has "
            f"(the largest, {largest.name}, has {largest.capacity.describe()}); lower {_OPTION_OF[over]} or add an "
            "engine that has it",
            _OPTION_OF[over],
        )
    fitting = [s for s in healthy if s not in too_big and request.for_engine(s.capacity).fits_in(s.room(reserved))]
    if fitting:
        if not (request.memory or request.cpus or request.gpus):  # asks for nothing: the least busy engine
            return max(fitting, key=lambda s: (-s.busy(reserved), s.room(reserved).memory, _reverse(s.name)))
        return max(fitting, key=lambda s: (s.room(reserved).memory, s.room(reserved).cpus, _reverse(s.name)))
    possible = [s for s in healthy if s not in too_big]
    if not possible:
        away = ", ".join(s.name for s in serving if not s.healthy)
        return WaitingForResources(
            f"waiting for resources: needs {request.describe()}, more than the engines that answer have; "
            f"waiting for {away} to answer"
        )
    return WaitingForResources(_waiting_text(request, possible, reserved))


def _reverse(name: str) -> tuple[int, ...]:
    """A key that sorts names backwards, so that ``max`` picks the first name among equals."""
    return tuple(-ord(c) for c in name)


def _queue_text(labels: frozenset[str]) -> str:
    return " + ".join(repr(label) for label in sorted(labels))


_OPTION_OF = {"memory": "mem_limit", "cpus": "cpu_limit", "gpus": "device_requests"}


def _refuse(task_id: str, message: str, option: str | None = None) -> ContainerSpecError:
    error = ContainerSpecError(message, option=option)
    return error.for_task(task_id) if task_id else error


def _waiting_text(request: Resources, engines: Sequence[EngineStatus], reserved: Sequence[Reservation]) -> str:
    """``waiting for resources: needs 8 GB memory, largest free 3 GB on engine-b`` (each resource short)."""
    short = []
    for name in ("memory", "cpus", "gpus"):
        needed = getattr(request, name)
        if not needed:
            continue
        rooms = [(getattr(s.room(reserved), name), s) for s in engines]
        best, where = max(rooms, key=lambda pair: pair[0])
        asked = getattr(request.for_engine(where.capacity), name)
        if asked > best + (1e-9 if name == "cpus" else 0):
            free = describe_part(name, best).replace(" memory", "")
            short.append(f"needs {describe_part(name, needed)}, largest free {free} on {where.name}")
    if not short:
        rooms_text = "; ".join(f"{s.name}: {s.room(reserved).describe()} free" for s in engines)
        short.append(f"needs {request.describe()} on one engine, no engine has all of it free ({rooms_text})")
    return "waiting for resources: " + "; ".join(short)


def nano_to_cpus(nano: float) -> float:
    """The engine's ``NanoCpus`` as CPUs, rounded to a thousandth."""
    return math.floor(nano / 1e6 + 0.5) / 1000

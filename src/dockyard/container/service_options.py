"""``ServiceOptions``: what a Docker Swarm service adds to a task's container options, and what it cannot do.

A task try runs as a one-shot Swarm service when its engine's ``mode`` is ``"swarm"``
(``DockerSwarmOperator``, or ``DOCKYARD_ENGINE_MODE=swarm`` for every task on the default engine). The
container options (:class:`~dockyard.container.options.ContainerOptions`) still describe the container;
these options describe the service around it, with the names and meanings of Airflow's
``DockerSwarmOperator`` arguments. Values are kept in the Engine API's form (docker-py's ``ConfigReference``,
``SecretReference``, ``ServiceMode``, ``Placement``, ``Resources`` and ``NetworkAttachmentConfig`` are dicts
of that form already), so they survive JSON and no docker-py is needed to read them.

:func:`check_service` refuses, with one error naming the option and what to do instead, every container
option a service cannot honour::

    >>> check_service(ContainerOptions.from_values({"image": "img", "privileged": True}))
    Traceback (most recent call last):
    ...
    dockyard.errors.ContainerSpecError: privileged=True cannot be used with a Swarm service ...
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import defaults
from dockyard.container.options import ContainerOptions
from dockyard.errors import ContainerSpecError

LOGGING_DRIVERS = ("json-file", "gelf")
"""The logging drivers Airflow's ``DockerSwarmOperator`` accepts (``json-file`` lets dockyard read the log)."""


@dataclass(frozen=True)
class ServiceOptions:
    """The Swarm service around a task's container (Airflow's ``DockerSwarmOperator`` arguments)."""

    args: tuple[str, ...] | None = None
    enable_logging: bool = True
    configs: tuple[dict[str, Any], ...] | None = None
    secrets: tuple[dict[str, Any], ...] | None = None
    mode: dict[str, Any] | None = None
    networks: tuple[dict[str, Any], ...] | None = None
    placement: dict[str, Any] | None = None
    container_resources: dict[str, Any] | None = None
    service_prefix: str = defaults.DEFAULT_SERVICE_PREFIX
    logging_driver: str | None = None
    logging_driver_opts: dict[str, str] | None = None
    command_replaces_entrypoint: bool = False
    """``DockerSwarmOperator``'s ``command`` is the service's command, which replaces the image's entrypoint
    (the provider's meaning); a ``DockerOperator`` run as a service keeps the container's meaning."""

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, task_id: str = "") -> ServiceOptions:
        """Check the arguments as a DAG file (or :meth:`to_json`) gives them; one error names the bad one."""
        try:
            driver = _optional_str("logging_driver", values.get("logging_driver"))
            if driver is not None and driver not in LOGGING_DRIVERS:
                raise ContainerSpecError(
                    f"logging_driver={driver!r} is not supported; use one of {', '.join(LOGGING_DRIVERS)} "
                    "(or leave it unset for the engine's default)",
                    option="logging_driver",
                )
            prefix = _optional_str("service_prefix", values.get("service_prefix")) or defaults.DEFAULT_SERVICE_PREFIX
            if not all(ch.isalnum() or ch in "-_" for ch in prefix) or len(prefix) > 40:
                raise ContainerSpecError(
                    f"service_prefix={prefix!r} must be at most 40 letters, digits, '-' or '_' (a service name)",
                    option="service_prefix",
                )
            return cls(
                args=_args(values.get("args")),
                enable_logging=bool(values.get("enable_logging", True)),
                configs=_dict_list("configs", values.get("configs")),
                secrets=_dict_list("secrets", values.get("secrets")),
                mode=_mode(values.get("mode")),
                networks=_networks(values.get("networks")),
                placement=_placement(values.get("placement")),
                container_resources=_dict("container_resources", values.get("container_resources")),
                service_prefix=prefix,
                logging_driver=driver,
                logging_driver_opts=_string_dict("logging_driver_opts", values.get("logging_driver_opts")),
                command_replaces_entrypoint=bool(values.get("command_replaces_entrypoint", False)),
            )
        except ContainerSpecError as exc:
            raise exc.for_task(task_id) from None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_values` reads it back."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @property
    def replicas(self) -> int | None:
        """How many tasks the service runs (None for a global service: one per node)."""
        mode = {str(k).lower(): v for k, v in (self.mode or {"replicated": {"Replicas": 1}}).items()}
        if "global" in mode:
            return None
        replicated = mode.get("replicated") or {}
        return int(replicated.get("Replicas", 1)) if isinstance(replicated, Mapping) else 1


REFUSED: tuple[tuple[str, str], ...] = (
    ("privileged", "a Swarm service has no privileged mode; add only the capabilities it needs with cap_add"),
    ("port_bindings", "a one-shot service publishes no ports; reach it through a Swarm network (networks=[...])"),
    ("ipc_mode", "a Swarm service cannot share another IPC namespace; run the task as a container (mode 'container')"),
    (
        "device_requests",
        "a Swarm service takes no device requests; ask for generic resources (GPUs) through "
        "container_resources=Resources(generic_resources=...)",
    ),
    (
        "retrieve_output",
        "the service's container may run on another node, whose filesystem dockyard cannot read after it exits; "
        "print the result as the last line of the output (the XCom), or write it to a shared volume",
    ),
)
"""Container options a service cannot honour, each with what to do instead."""


def check_service(options: ContainerOptions, *, task_id: str = "") -> None:
    """Refuse the container options a Swarm service cannot honour (see :data:`REFUSED`), and a
    ``network_mode`` that names another container's namespace."""
    for option, instead in REFUSED:
        value = getattr(options, option)
        if value:
            raise ContainerSpecError(
                f"{option}={value!r} cannot be used with a Swarm service: {instead}", option=option
            ).for_task(task_id or options.task_id)
    if options.network_mode and options.network_mode.startswith("container:"):
        raise ContainerSpecError(
            f"network_mode={options.network_mode!r} cannot be used with a Swarm service (its container runs on a "
            "node of the swarm's choosing); attach the service to a network with networks=[...]",
            option="network_mode",
        ).for_task(task_id or options.task_id)


def _optional_str(option: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise ContainerSpecError(f"{option}={value!r} must be a string", option=option)


def _args(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, (list, tuple)) and all(isinstance(item, (str, int, float)) for item in value):
        return tuple(str(item) for item in value)
    raise ContainerSpecError(f"args={value!r} must be a string or a list of strings", option="args")


def _dict(option: str, value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(item) for k, item in value.items()}
    raise ContainerSpecError(
        f"{option}={value!r} must be a docker.types object or a dict in the Engine API's form", option=option
    )


def _dict_list(option: str, value: object) -> tuple[dict[str, Any], ...] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return tuple(_dict(option, item) or {} for item in value)
    raise ContainerSpecError(f"{option}={value!r} must be a list", option=option)


def _string_dict(option: str, value: object) -> dict[str, str] | None:
    found = _dict(option, value)
    if found is not None and not all(isinstance(item, str) for item in found.values()):
        raise ContainerSpecError(f"{option}={value!r}: every value must be a string", option=option)
    return found


def _mode(value: object) -> dict[str, Any] | None:
    """docker-py's ``ServiceMode`` (``{"replicated": {"Replicas": 2}}``), a dict of that form, or a word."""
    if value is None:
        return None
    if value in ("replicated", "global"):
        return {str(value): {"Replicas": 1} if value == "replicated" else {}}
    found = _dict("mode", value) or {}
    keys = {key.lower() for key in found}
    if len(keys) != 1 or not keys <= {"replicated", "global"}:
        raise ContainerSpecError(
            f"mode={value!r} must be docker.types.ServiceMode('replicated', replicas=N) or ServiceMode('global'); "
            "one-shot jobs run as a replicated service by default",
            option="mode",
        )
    return found


def _networks(value: object) -> tuple[dict[str, Any], ...] | None:
    """Names or ids (strings), or ``NetworkAttachmentConfig``s."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ContainerSpecError(f"networks={value!r} must be a list of network names", option="networks")
    return tuple({"Target": item} if isinstance(item, str) else _dict("networks", item) or {} for item in value)


def _placement(value: object) -> dict[str, Any] | None:
    """A ``Placement``, or a list of constraints (``["node.role == manager"]``), as the provider takes them."""
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, str) for item in value):
            return {"Constraints": list(value)}
        raise ContainerSpecError(
            f"placement={value!r}: a list must hold constraints such as 'node.role == worker'", option="placement"
        )
    return _dict("placement", value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(item) for k, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value

"""``ContainerSpec``: one task try's container, fully validated before the engine is asked anything.

A spec is the task's rendered :class:`~dockyard.container.options.ContainerOptions` plus what the try
adds: dockyard's labels, the engine to use, the registry login and the merged environment. Like the
options it imports no docker-py; the runtime turns it into Engine API calls.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.container import values as v
from dockyard.container.mounts import MountOption
from dockyard.container.options import ContainerOptions
from dockyard.container.service_options import ServiceOptions, check_service
from dockyard.errors import ContainerSpecError

LABEL_PREFIX = "dockyard."


@dataclass(frozen=True)
class EngineConfig:
    """Which Docker engine runs a container, and how to talk to it."""

    urls: tuple[str, ...]
    api_version: str | None = None
    timeout: float = 60
    tls_ca_cert: str | None = None
    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    tls_verify: bool = True
    tls_hostname: str | bool | None = None
    tls_ssl_version: str | None = None
    mode: str = "container"
    """``container`` runs each try as a container; ``swarm`` as a one-shot Swarm service (the engine is a
    manager of a swarm, which places the service's task on one of its nodes)."""

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca_cert or self.tls_client_cert or self.tls_client_key)


@dataclass(frozen=True)
class RegistryAuth:
    """A registry login from a connection: ``registry`` is host[:port]; ``source`` names the connection."""

    registry: str
    username: str
    password: str = field(repr=False)
    email: str | None = None
    reauth: bool = True
    source: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create, run and clean up one container."""

    options: ContainerOptions
    labels: dict[str, str] = field(default_factory=dict)
    """The user's labels and dockyard's (dag, task, run, try); dockyard's win."""
    environment: dict[str, str | None] = field(default_factory=dict, repr=False)
    """``env_file``, then ``environment``, then ``private_environment``: a later one wins."""
    engine: EngineConfig = EngineConfig(urls=())
    registry_auth: RegistryAuth | None = None
    docker_config: str | None = None
    """The folder of the Docker CLI's ``config.json``, read (with its credential helpers) before each pull."""
    service: ServiceOptions | None = None
    """The Swarm service around the container, when ``engine.mode`` is ``swarm``."""

    @property
    def image(self) -> str:
        return self.options.image

    @property
    def command(self) -> list[str] | None:
        command = self.options.command
        return list(command) if isinstance(command, tuple) else None

    @property
    def entrypoint(self) -> list[str] | None:
        return list(self.options.entrypoint) if self.options.entrypoint else None

    @property
    def name(self) -> str | None:
        return self.options.container_name

    @property
    def mounts(self) -> tuple[MountOption, ...]:
        return self.options.parsed_mounts

    @property
    def secrets(self) -> frozenset[str]:
        return self.options.secrets

    @property
    def auto_remove(self) -> str:
        return self.options.auto_remove

    @property
    def skip_on_exit_code(self) -> frozenset[int]:
        return self.options.skip_on_exit_code

    @property
    def retrieve_output_path(self) -> str | None:
        """The result file to read back, when ``retrieve_output`` asks for it."""
        return self.options.retrieve_output_path if self.options.retrieve_output else None

    @property
    def collect_all_lines(self) -> bool:
        return self.options.xcom_all

    def command_text(self) -> str:
        """The command as a person would type it, for messages."""
        return shlex.join(self.command) if self.command else "(the image's default command)"


def build_spec(
    values: Mapping[str, Any] | ContainerOptions,
    *,
    labels: Mapping[str, str],
    default_docker_url: str,
    registry_auth: RegistryAuth | None = None,
    docker_config: str | None = None,
    placed_on: EngineConfig | None = None,
    mode: str | None = None,
    service: ServiceOptions | None = None,
) -> ContainerSpec:
    """Validate rendered options (a :class:`ContainerOptions`, or option name -> value) into a spec.

    ``labels`` are dockyard's own labels (dag, task, run, try); they win over user labels of the same
    name, and their task id names the task in any error. ``placed_on`` is the engine the pool admitted the
    task to; a task whose ``docker_url`` names its engine keeps that one. ``mode`` (``container`` or ``swarm``)
    says how the engine runs the try; ``service`` adds a Swarm service's own options (a swarm mode without them
    runs the container's options as a service).
    """
    task_id = labels.get(f"{LABEL_PREFIX}task_id", "")
    if isinstance(values, ContainerOptions):
        options = values if values.rendered else values.render({})
        task_id = options.task_id or task_id
    else:
        options = ContainerOptions.from_values(values, task_id=task_id, rendered=True)
    environment: dict[str, str | None] = dict(v.parse_env_file(options.env_file))
    environment.update(options.environment)
    environment.update(options.private_environment)
    try:
        engine = engine_config(options, default_docker_url)
        if placed_on is not None and options.docker_url is None:
            engine = placed_on
    except ContainerSpecError as exc:
        raise exc.for_task(task_id) from None
    if mode is not None and mode != engine.mode:
        engine = dataclasses.replace(engine, mode=mode)
    if engine.mode == "swarm":
        check_service(options, task_id=task_id)
        service = service or ServiceOptions()
    return ContainerSpec(
        options=options,
        labels={**options.labels, **labels},
        environment=environment,
        engine=engine,
        registry_auth=registry_auth,
        docker_config=docker_config,
        service=service,
    )


def engine_config(values: Mapping[str, Any] | ContainerOptions, default_docker_url: str) -> EngineConfig:
    """The engine a task's container runs on: ``docker_url`` (or the default), API version, timeout, TLS.

    ``values`` are a task's options, or a mapping of some of them (missing ones take their defaults).
    """
    get = values.get if isinstance(values, Mapping) else lambda name, default=None: getattr(values, name)
    urls = v.parse_docker_urls("docker_url", get("docker_url"))
    if urls is None:
        urls = v.parse_docker_urls("DOCKER_HOST", default_docker_url) or ()
    return EngineConfig(
        urls=urls,
        api_version=v.parse_api_version("api_version", get("api_version")),
        timeout=v.parse_positive("timeout", get("timeout", 60)),
        tls_ca_cert=v.parse_str("tls_ca_cert", get("tls_ca_cert")),
        tls_client_cert=v.parse_str("tls_client_cert", get("tls_client_cert")),
        tls_client_key=v.parse_str("tls_client_key", get("tls_client_key")),
        tls_verify=v.parse_bool("tls_verify", get("tls_verify", True)),
        tls_hostname=v.parse_tls_hostname("tls_hostname", get("tls_hostname")),
        tls_ssl_version=v.parse_str("tls_ssl_version", get("tls_ssl_version")),
    )


def labels_for(
    dag_id: str, task_id: str, run_id: str, try_number: int, instance: str | None = None, map_index: int = -1
) -> dict[str, str]:
    """dockyard's labels on every container, used to find a task's container again after a crash.

    ``instance`` names the installation (its database), so that two dockyards sharing an engine never
    take each other's containers for their own. An instance of a mapped task adds its ``map_index``.
    """
    extra = {f"{LABEL_PREFIX}instance": instance} if instance else {}
    if map_index >= 0:
        extra[f"{LABEL_PREFIX}map_index"] = str(map_index)
    return {
        **extra,
        f"{LABEL_PREFIX}managed": "true",
        f"{LABEL_PREFIX}dag_id": dag_id,
        f"{LABEL_PREFIX}task_id": task_id,
        f"{LABEL_PREFIX}run_id": run_id,
        f"{LABEL_PREFIX}try_number": str(try_number),
    }

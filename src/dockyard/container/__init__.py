"""The container runtime: the only code that talks to a Docker engine (through docker-py)."""

from dockyard.container.mounts import parse_mounts
from dockyard.container.runtime import ContainerResult, DockerRuntime, RunControl
from dockyard.container.spec import ContainerSpec, EngineConfig, build_spec, labels_for

__all__ = [
    "ContainerResult",
    "ContainerSpec",
    "DockerRuntime",
    "EngineConfig",
    "RunControl",
    "build_spec",
    "labels_for",
    "parse_mounts",
]

"""The container layer: a task's container options, and the runtime that runs them on Docker engines.

The only package that talks to a Docker engine (through docker-py), and it does so only once a
container is run: the options, specs and mounts are docker-free, and docker-py itself is loaded when
the first engine client is built. The authoring layer and the web server import names from here
without loading docker-py. Names are resolved on first use::

    from dockyard.container import ContainerOptions, DockerRuntime, build_spec
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.container.control import Abandoned, ContainerResult, RunControl, StopReason
    from dockyard.container.mounts import MountOption, parse_mounts
    from dockyard.container.options import ContainerOptions
    from dockyard.container.runtime import DockerRuntime
    from dockyard.container.spec import ContainerSpec, EngineConfig, build_spec, engine_config, labels_for
    from dockyard.container.values import DeviceRequestOption, UlimitOption

_HOMES = {
    "Abandoned": "control",
    "ContainerResult": "control",
    "RunControl": "control",
    "StopReason": "control",
    "MountOption": "mounts",
    "parse_mounts": "mounts",
    "ContainerOptions": "options",
    "DockerRuntime": "runtime",
    "ContainerSpec": "spec",
    "EngineConfig": "spec",
    "build_spec": "spec",
    "engine_config": "spec",
    "labels_for": "spec",
    "DeviceRequestOption": "values",
    "UlimitOption": "values",
}

__all__ = [
    "Abandoned",
    "ContainerOptions",
    "ContainerResult",
    "ContainerSpec",
    "DeviceRequestOption",
    "DockerRuntime",
    "EngineConfig",
    "MountOption",
    "RunControl",
    "StopReason",
    "UlimitOption",
    "build_spec",
    "engine_config",
    "labels_for",
    "parse_mounts",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dockyard.container' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dockyard.container.{home}"), name)

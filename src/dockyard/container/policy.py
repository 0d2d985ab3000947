"""The installation's container policy: what a DAG file may ask of the engine, checked before anything is created.

Whoever can write a DAG file can ask for a container. On a laptop that is the same person who owns the
engine, so everything is allowed (the default). On a shared server the scheduler holds the Docker socket,
which is root on the host: a task with ``privileged=True``, the host's network, PID or IPC namespace, an
added capability, a device, or a bind mount of ``/`` would hand that to every DAG author. An installation
closes those doors with settings, and :func:`check_policy` refuses a container that would open one,
naming the task, the option and the setting that would allow it.

Example::

    policy = Policy(allow_privileged=False, allowed_bind_paths=("/srv/data",))
    check_policy(policy, spec)   # spec asks for '/etc:/host-etc' -> ContainerPolicyError:
    # task 'etl.extract' mounts the host path /etc, which is outside the allowed host paths (/srv/data);
    # add it to DOCKYARD_POLICY_ALLOWED_BIND_PATHS to allow it

The check is pure: it reads the :class:`~dockyard.container.spec.ContainerSpec` and nothing else, so it
behaves the same on every engine and is tested without one.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.container.spec import LABEL_PREFIX, ContainerSpec
from dockyard.errors import ContainerPolicyError

if TYPE_CHECKING:
    from dockyard.settings import Settings

HOST_NAMESPACE_OPTIONS = ("network_mode", "ipc_mode")
"""Options whose value ``"host"`` shares a namespace of the host with the container."""


@dataclass(frozen=True)
class Policy:
    """What this installation lets a task's container do. The defaults allow everything, as on a laptop.

    ``allowed_capabilities`` and ``allowed_bind_paths`` are ``None`` for "any"; an empty tuple allows none.
    """

    allow_privileged: bool = True
    allow_host_namespaces: bool = True
    allowed_capabilities: tuple[str, ...] | None = None
    allow_devices: bool = True
    allowed_bind_paths: tuple[str, ...] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            allow_privileged=settings.policy_allow_privileged,
            allow_host_namespaces=settings.policy_allow_host_namespaces,
            allowed_capabilities=settings.policy_allowed_capabilities,
            allow_devices=settings.policy_allow_devices,
            allowed_bind_paths=settings.policy_allowed_bind_paths,
        )

    @property
    def allows_everything(self) -> bool:
        return self == Policy()


def check_policy(policy: Policy, spec: ContainerSpec) -> None:
    """Raise :class:`ContainerPolicyError` for the first thing ``spec`` asks that ``policy`` does not allow."""
    if policy.allows_everything:
        return
    refused = next(_violations(policy, spec), None)
    if refused is not None:
        asked, remedy = refused
        raise ContainerPolicyError(
            f"task {_task_name(spec)!r} asks for {asked}, which this installation does not allow "
            f"(container of {spec.image}); {remedy}"
        )


def _violations(policy: Policy, spec: ContainerSpec) -> Iterator[tuple[str, str]]:
    """(what the task asked for, how an installation would allow it), in a stable order."""
    options = spec.options
    if options.privileged and not policy.allow_privileged:
        yield "privileged=True", "set DOCKYARD_POLICY_ALLOW_PRIVILEGED=true to allow it"
    if not policy.allow_host_namespaces:
        for option in HOST_NAMESPACE_OPTIONS:
            if getattr(options, option) == "host":
                yield f"{option}='host'", "set DOCKYARD_POLICY_ALLOW_HOST_NAMESPACES=true to allow it"
    if policy.allowed_capabilities is not None:
        allowed = {_capability(c) for c in policy.allowed_capabilities}
        for capability in options.cap_add or ():
            if _capability(capability) not in allowed and "ALL" not in allowed:
                yield (
                    f"cap_add={capability!r}",
                    f"add {_capability(capability)} to DOCKYARD_POLICY_ALLOWED_CAPABILITIES to allow it",
                )
    if not policy.allow_devices and options.device_requests:
        yield "device_requests", "set DOCKYARD_POLICY_ALLOW_DEVICES=true to allow it"
    if policy.allowed_bind_paths is not None:
        roots = tuple(posixpath.normpath(p) for p in policy.allowed_bind_paths)
        for mount in options.parsed_mounts:
            if mount.type != "bind":
                continue
            source = str(mount.source or "")
            if not _inside(source, roots):
                shown = ", ".join(roots) if roots else "none"
                yield (
                    f"a bind mount of the host path {source} at {mount.target} (allowed host paths: {shown})",
                    "add the path, or a folder above it, to DOCKYARD_POLICY_ALLOWED_BIND_PATHS to allow it "
                    "(or use a named volume)",
                )


def _inside(source: str, roots: tuple[str, ...]) -> bool:
    """Whether the host path ``source`` is one of ``roots`` or below one (``..`` cannot climb out)."""
    if not source.startswith("/"):
        return False
    path = posixpath.normpath(source)
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _capability(name: str) -> str:
    """``net_admin``, ``CAP_NET_ADMIN`` and ``NET_ADMIN`` are one capability to the engine."""
    upper = name.strip().upper()
    return upper[len("CAP_") :] if upper.startswith("CAP_") else upper


def _task_name(spec: ContainerSpec) -> str:
    dag_id = spec.labels.get(f"{LABEL_PREFIX}dag_id")
    task_id = spec.labels.get(f"{LABEL_PREFIX}task_id")
    if dag_id and task_id:
        return f"{dag_id}.{task_id}"
    return task_id or spec.name or spec.image

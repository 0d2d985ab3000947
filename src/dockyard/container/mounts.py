"""Mounts as users write them, validated before anything starts.

Accepted forms, each turned into a :class:`MountOption` (docker-free; the runtime makes it a
``docker.types.Mount``):

- a ``docker.types.Mount`` (a dict of the Engine API's keys, read as such);
- a dict with Mount's keys, either the Engine API's (``{"Target": "/data", "Source": "vol", "Type":
  "volume"}``) or docker-py's argument names (``{"target": "/data", "source": "/srv", "type": "bind",
  "read_only": True}``), which is also the form :meth:`MountOption.to_json` writes;
- the strings of ``docker run -v``: ``/ctr`` (an anonymous volume), ``/host:/ctr`` (a bind mount),
  ``/host:/ctr:ro`` (read-only; ``rw`` and bind propagation such as ``rshared`` are accepted too),
  ``volume:/ctr`` and ``volume:/ctr:ro`` (a named volume; ``nocopy`` is accepted too).

A bad item raises :class:`~dockyard.errors.ContainerSpecError` naming the item and the forms above.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from dockyard.errors import ContainerSpecError

ACCEPTED_FORMS = (
    "'/ctr' (anonymous volume), '/host:/ctr[:ro|rw]' (bind mount), 'volume:/ctr[:ro|rw]' (named volume), "
    "a docker.types.Mount, or a dict such as {'source': '/host', 'target': '/ctr', 'type': 'bind'}"
)
VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PROPAGATIONS = {"shared", "slave", "private", "rshared", "rslave", "rprivate"}
MOUNT_TYPES = {"bind", "volume", "tmpfs", "npipe"}


@dataclass(frozen=True)
class MountOption:
    """One mount, with docker-py's ``Mount`` arguments; each option only where its type allows it."""

    target: str
    source: str | None = None
    type: str = "volume"
    read_only: bool = False
    consistency: str | None = None
    propagation: str | None = None
    no_copy: bool = False
    labels: dict[str, str] | None = None
    driver_config: dict[str, Any] | None = None
    tmpfs_size: int | str | None = None
    tmpfs_mode: int | None = None

    def to_json(self) -> dict[str, Any]:
        """docker-py's argument names, without the defaults; :func:`parse_mounts` reads it back."""
        result: dict[str, Any] = {"target": self.target, "source": self.source, "type": self.type}
        for spec in fields(self)[3:]:
            value = getattr(self, spec.name)
            if value != spec.default:
                result[spec.name] = value
        return result

    def to_engine(self) -> dict[str, Any]:
        """The Engine API's form (what ``docker inspect`` shows under ``HostConfig.Mounts``)."""
        mount: dict[str, Any] = {"Target": self.target, "Source": self.source, "Type": self.type}
        mount["ReadOnly"] = self.read_only
        if self.consistency:
            mount["Consistency"] = self.consistency
        if self.propagation:
            mount["BindOptions"] = {"Propagation": self.propagation}
        volume: dict[str, Any] = {}
        if self.no_copy:
            volume["NoCopy"] = True
        if self.labels:
            volume["Labels"] = dict(self.labels)
        if self.driver_config:
            volume["DriverConfig"] = dict(self.driver_config)
        if volume:
            mount["VolumeOptions"] = volume
        tmpfs: dict[str, Any] = {}
        if self.tmpfs_size is not None:
            tmpfs["SizeBytes"] = self.tmpfs_size
        if self.tmpfs_mode is not None:
            tmpfs["Mode"] = self.tmpfs_mode
        if tmpfs:
            mount["TmpfsOptions"] = tmpfs
        return mount


def _bad(item: object, why: str) -> ContainerSpecError:
    return ContainerSpecError(
        f"mount {item!r} is not valid: {why}. Accepted forms for mounts: {ACCEPTED_FORMS}", option="mounts"
    )


def parse_mount_string(text: str) -> MountOption:
    """Parse one ``docker run -v`` string; see the module docstring for the forms."""
    parts = text.split(":")
    if not text or any(p == "" for p in parts):
        raise _bad(text, "it has an empty part")
    if len(parts) > 3:
        raise _bad(text, "it has more than three ':'-separated parts")
    if len(parts) == 1:
        if not text.startswith("/"):
            raise _bad(text, "a single path must be an absolute path inside the container")
        return MountOption(target=text)
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    if not target.startswith("/"):
        raise _bad(text, f"the container path {target!r} must be absolute")
    if source.startswith("/"):
        kind = "bind"
    elif source.startswith((".", "~")):
        raise _bad(text, f"the host path {source!r} must be absolute (write it out in full)")
    elif VOLUME_NAME.match(source):
        kind = "volume"
    else:
        raise _bad(text, f"{source!r} is neither an absolute host path nor a volume name")
    read_only = False
    propagation: str | None = None
    no_copy = False
    for option in options:
        if option in ("ro", "rw"):
            read_only = option == "ro"
        elif option in PROPAGATIONS and kind == "bind":
            propagation = option
        elif option == "nocopy" and kind == "volume":
            no_copy = True
        else:
            raise _bad(
                text,
                f"the option {option!r} is not one of ro, rw"
                + (", " + ", ".join(sorted(PROPAGATIONS)) if kind == "bind" else ", nocopy"),
            )
    return MountOption(
        target=target, source=source, type=kind, read_only=read_only, propagation=propagation, no_copy=no_copy
    )


_API_KEYS = {"Target", "Source", "Type", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions", "TmpfsOptions"}
_ARG_KEYS = {spec.name for spec in fields(MountOption)}


def _api_arguments(item: Mapping[str, Any]) -> dict[str, Any]:
    """The Engine API's keys (``docker.types.Mount`` is such a dict) as MountOption's arguments."""
    bind = item.get("BindOptions") or {}
    volume = item.get("VolumeOptions") or {}
    tmpfs = item.get("TmpfsOptions") or {}
    if not all(isinstance(o, Mapping) for o in (bind, volume, tmpfs)):
        raise _bad(dict(item), "BindOptions, VolumeOptions and TmpfsOptions must be dicts")
    args = {
        "target": item.get("Target"),
        "source": item.get("Source"),
        "type": item.get("Type", "volume"),
        "read_only": item.get("ReadOnly", False),
        "consistency": item.get("Consistency"),
        "propagation": bind.get("Propagation"),
        "no_copy": volume.get("NoCopy", False),
        "labels": volume.get("Labels"),
        "driver_config": volume.get("DriverConfig"),
        "tmpfs_size": tmpfs.get("SizeBytes"),
        "tmpfs_mode": tmpfs.get("Mode"),
    }
    if "Target" not in item:
        raise _bad(dict(item), "it has no 'Target'")
    return args


def _from_dict(item: Mapping[str, Any]) -> MountOption:
    keys = set(item)
    if keys <= _API_KEYS:
        args = _api_arguments(item)
    elif keys <= _ARG_KEYS:
        if "target" not in item:
            raise _bad(dict(item), "it has no 'target'")
        args = {k: v for k, v in item.items() if v is not None}
    else:
        unknown = sorted(keys - _API_KEYS - _ARG_KEYS) or sorted(keys)
        raise _bad(dict(item), f"unknown key(s) {', '.join(map(repr, unknown))}")
    mount = MountOption(**{k: v for k, v in args.items() if v is not None})
    _check(mount, dict(item))
    return mount


def _check(mount: MountOption, item: object) -> None:
    """What docker-py's ``Mount`` and the engine would refuse, said before anything starts."""
    if not isinstance(mount.target, str) or not mount.target.startswith("/"):
        raise _bad(item, f"the target {mount.target!r} must be an absolute path inside the container")
    if mount.type not in MOUNT_TYPES:
        raise _bad(item, f"the type {mount.type!r} is not one of {', '.join(sorted(MOUNT_TYPES))}")
    if mount.source is not None and not isinstance(mount.source, str):
        raise _bad(item, f"the source {mount.source!r} must be a string")
    if mount.type == "bind" and (mount.source is None or not mount.source.startswith("/")):
        raise _bad(item, f"a bind mount needs an absolute host path as source, got {mount.source!r}")
    if not isinstance(mount.read_only, bool) or not isinstance(mount.no_copy, bool):
        raise _bad(item, "read_only and no_copy must be True or False")
    if mount.propagation is not None and (mount.type != "bind" or mount.propagation not in PROPAGATIONS):
        raise _bad(item, f"propagation {mount.propagation!r} needs a bind mount and one of {sorted(PROPAGATIONS)}")
    if (mount.no_copy or mount.labels or mount.driver_config) and mount.type != "volume":
        raise _bad(item, "no_copy, labels and driver_config are options of a volume mount")
    if (mount.tmpfs_size is not None or mount.tmpfs_mode is not None) and mount.type != "tmpfs":
        raise _bad(item, "tmpfs_size and tmpfs_mode are options of a tmpfs mount")


def parse_mount(item: object) -> MountOption:
    """One mount in any accepted form."""
    if isinstance(item, MountOption):
        _check(item, item)
        return item
    if isinstance(item, Mapping):
        try:
            return _from_dict(item)
        except TypeError as exc:  # a value of the wrong kind for MountOption's arguments
            raise _bad(dict(item), str(exc)) from exc
    if isinstance(item, str):
        return parse_mount_string(item.strip())
    raise _bad(item, f"a {type(item).__name__} is not a mount")


def check_mount_list(items: object) -> list[object]:
    """``mounts`` must be a list (a single string or dict is a common slip)."""
    if items is None:
        return []
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ContainerSpecError(
            f"mounts must be a list of mounts, got a single {type(items).__name__}: {items!r}", option="mounts"
        )
    return list(items)


def check_unique_targets(mounts: Iterable[MountOption]) -> None:
    targets = [m.target for m in mounts]
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise ContainerSpecError(
            f"mounts: the container path {duplicates[0]!r} is mounted twice; give each mount its own target",
            option="mounts",
        )


def parse_mounts(items: Iterable[object] | None) -> list[MountOption]:
    """Turn every accepted mount form into a :class:`MountOption`; raise on the first bad item."""
    result = [parse_mount(item) for item in check_mount_list(items)]
    check_unique_targets(result)
    return result

"""Mounts as users write them, validated before anything starts.

Accepted forms, each turned into a ``docker.types.Mount``:

- a ``docker.types.Mount`` (used as is);
- a dict with Mount's keys, either the Engine API's (``{"Target": "/data", "Source": "vol", "Type":
  "volume"}``) or docker-py's argument names (``{"target": "/data", "source": "/srv", "type": "bind",
  "read_only": True}``);
- the strings of ``docker run -v``: ``/ctr`` (an anonymous volume), ``/host:/ctr`` (a bind mount),
  ``/host:/ctr:ro`` (read-only; ``rw`` and bind propagation such as ``rshared`` are accepted too),
  ``volume:/ctr`` and ``volume:/ctr:ro`` (a named volume; ``nocopy`` is accepted too).

A bad item raises :class:`~dockyard.errors.ContainerSpecError` naming the item and the forms above.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from docker.errors import InvalidArgument
from docker.types import Mount

from dockyard.errors import ContainerSpecError

ACCEPTED_FORMS = (
    "'/ctr' (anonymous volume), '/host:/ctr[:ro|rw]' (bind mount), 'volume:/ctr[:ro|rw]' (named volume), "
    "a docker.types.Mount, or a dict such as {'source': '/host', 'target': '/ctr', 'type': 'bind'}"
)
VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PROPAGATIONS = {"shared", "slave", "private", "rshared", "rslave", "rprivate"}
MOUNT_TYPES = {"bind", "volume", "tmpfs", "npipe"}
_API_KEYS = {"Target", "Source", "Type", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions", "TmpfsOptions"}
_ARG_KEYS = {
    "target",
    "source",
    "type",
    "read_only",
    "consistency",
    "propagation",
    "no_copy",
    "labels",
    "driver_config",
    "tmpfs_size",
    "tmpfs_mode",
}


def _bad(item: object, why: str) -> ContainerSpecError:
    return ContainerSpecError(f"mount {item!r} is not valid: {why}. Accepted forms: {ACCEPTED_FORMS}")


def parse_mount_string(text: str) -> Mount:
    """Parse one ``docker run -v`` string; see the module docstring for the forms."""
    parts = text.split(":")
    if not text or any(p == "" for p in parts):
        raise _bad(text, "it has an empty part")
    if len(parts) > 3:
        raise _bad(text, "it has more than three ':'-separated parts")
    if len(parts) == 1:
        target = parts[0]
        if not target.startswith("/"):
            raise _bad(text, "a single path must be an absolute path inside the container")
        return Mount(target=target, source=None, type="volume")
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
    if kind == "bind":
        return Mount(target=target, source=source, type="bind", read_only=read_only, propagation=propagation)
    return Mount(target=target, source=source, type="volume", read_only=read_only, no_copy=no_copy)


def _from_dict(item: Mapping[str, Any]) -> Mount:
    keys = set(item)
    kind = item.get("Type", item.get("type", "volume"))
    if kind not in MOUNT_TYPES:
        raise _bad(dict(item), f"the type {kind!r} is not one of {', '.join(sorted(MOUNT_TYPES))}")
    if keys <= _API_KEYS:
        if "Target" not in item:
            raise _bad(dict(item), "it has no 'Target'")
        try:
            mount = Mount(
                target=item["Target"],
                source=item.get("Source"),
                type=item.get("Type", "volume"),
                read_only=bool(item.get("ReadOnly", False)),
            )
        except InvalidArgument as exc:
            raise _bad(dict(item), str(exc)) from exc
        for key in ("Consistency", "BindOptions", "VolumeOptions", "TmpfsOptions"):
            if key in item:
                mount[key] = item[key]
    elif keys <= _ARG_KEYS:
        if "target" not in item:
            raise _bad(dict(item), "it has no 'target'")
        args = dict(item)
        try:
            mount = Mount(target=args.pop("target"), source=args.pop("source", None), **args)
        except (InvalidArgument, TypeError) as exc:
            raise _bad(dict(item), str(exc)) from exc
    else:
        unknown = sorted(keys - _API_KEYS - _ARG_KEYS) or sorted(keys)
        raise _bad(dict(item), f"unknown key(s) {', '.join(map(repr, unknown))}")
    _check(mount, item)
    return mount


def _check(mount: Mount, item: object) -> None:
    target = mount.get("Target")
    if not isinstance(target, str) or not target.startswith("/"):
        raise _bad(item, f"the target {target!r} must be an absolute path inside the container")
    kind = mount.get("Type")
    if kind not in MOUNT_TYPES:
        raise _bad(item, f"the type {kind!r} is not one of {', '.join(sorted(MOUNT_TYPES))}")
    source = mount.get("Source")
    if kind == "bind" and (not isinstance(source, str) or not source.startswith("/")):
        raise _bad(item, f"a bind mount needs an absolute host path as source, got {source!r}")


def parse_mounts(items: Iterable[object] | None) -> list[Mount]:
    """Turn every accepted mount form into a ``Mount``; raise on the first bad item."""
    if items is None:
        return []
    if isinstance(items, (str, bytes, Mapping)):
        raise ContainerSpecError(f"mounts must be a list of mounts, got a single {type(items).__name__}: {items!r}")
    result: list[Mount] = []
    for item in items:
        if isinstance(item, Mount):
            _check(item, item)
            result.append(item)
        elif isinstance(item, Mapping):
            result.append(_from_dict(item))
        elif isinstance(item, str):
            result.append(parse_mount_string(item.strip()))
        else:
            raise _bad(item, f"a {type(item).__name__} is not a mount")
    targets = [m["Target"] for m in result]
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise ContainerSpecError(
            f"mounts: the container path {duplicates[0]!r} is mounted twice; give each mount its own target"
        )
    return result

"""One parser per kind of container option value: each checks a value and returns it in one normal form.

Every parser takes the option's name and the value as a DAG file wrote it (or as JSON brought it back)
and returns the normal form :class:`~dockyard.container.options.ContainerOptions` keeps; parsing a normal
form again returns it unchanged, so options survive a trip through JSON. A bad value raises
:class:`~dockyard.errors.ContainerSpecError` naming the option, the value and what would be right.

No docker-py here: ``docker.types.Ulimit`` and ``DeviceRequest`` are dicts, read by their keys, and
their docker-free forms (:class:`UlimitOption`, :class:`DeviceRequestOption`) become docker-py types
only in the runtime.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import ContainerSpecError

AUTO_REMOVE_CHOICES = ("never", "success", "force")
SIZE_FORMS = "give bytes (an integer) or a string like '512m' or '2g'"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_PORT = re.compile(r"^(\d{1,5})(?:/(tcp|udp|sctp))?$")


def _bad(option: str, value: object, right: str) -> ContainerSpecError:
    return ContainerSpecError(f"{option}={value!r} is not valid: {right}", option=option)


def parse_size(option: str, value: object) -> int | None:
    """Bytes from ``512m``, ``1g``, ``1.5g`` or a number; a clear error otherwise."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ContainerSpecError(f"{option}={value!r} must be greater than zero; {SIZE_FORMS}", option=option)
        return int(value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
            if size > 0:
                return size
    raise ContainerSpecError(f"{option}={value!r} is not a size; {SIZE_FORMS}", option=option)


def parse_command(option: str, value: object) -> tuple[str, ...] | None:
    """A command or entrypoint as a tuple of arguments.

    A list is used as is; a string that starts with ``[`` is read as a Python/JSON list (Airflow's rule);
    any other string is split like a shell would split it, without running a shell (docker-py's rule).
    """
    if value is None or value == "" or value == [] or value == ():
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError) as exc:
                raise _bad(
                    option,
                    text,
                    f"it starts with '[' but is not a list literal ({exc}); write a list like "
                    "['echo', 'hi'] or a plain string like 'echo hi'",
                ) from exc
        else:
            try:
                return tuple(shlex.split(text))
            except ValueError as exc:
                raise _bad(option, text, f"it cannot be split into arguments: {exc} (check the quotes)") from exc
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise _bad(option, value, "every item must be a string")
        return tuple(str(v) for v in value)
    raise _bad(option, value, f"it must be a string or a list of strings, not a {type(value).__name__}")


def check_command(option: str, value: object) -> str | tuple[str, ...] | None:
    """A command before its templates are rendered: a string is kept (rendering may change how it splits)."""
    if isinstance(value, str):
        return value
    return parse_command(option, value)


def parse_env_file(text: str | None, option: str = "env_file") -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file's content (comments, ``export`` and quotes allowed)."""
    result: dict[str, str] = {}
    if not text:
        return result
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, val = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME.match(key):
            raise ContainerSpecError(
                f"{option} line {number} {raw!r} is not KEY=VALUE (a name of letters, digits and '_', then '=')",
                option=option,
            )
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
        result[key] = val
    return result


def parse_environment(option: str, value: object) -> dict[str, str | None]:
    """Variable names to string values (numbers become text, ``None`` passes the engine's own value on)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ContainerSpecError(
            f"{option} is a {type(value).__name__}; give a dict of variable names to values, e.g. {{'MODE': 'full'}}",
            option=option,
        )
    env: dict[str, str | None] = {}
    for key, val in value.items():  # the values stay out of messages: private_environment's are secrets
        if not isinstance(key, str) or not key or "=" in key:
            raise ContainerSpecError(
                f"{option}: {key!r} is not a variable name; give a non-empty string without '='", option=option
            )
        if val is None:
            env[key] = None
        elif isinstance(val, (str, int, float)):
            env[key] = str(val)
        else:
            raise ContainerSpecError(
                f"{option}[{key!r}] is a {type(val).__name__}; give a string or a number", option=option
            )
    return env


def parse_str(option: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _bad(option, value, f"give a string, not a {type(value).__name__}")


def parse_user(option: str, value: object) -> str | None:
    """A user name, a uid or ``uid:gid``; a number is kept as its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return parse_str(option, value)


def parse_bool(option: str, value: object) -> bool:
    """``True``/``False`` (or 1/0); a string such as ``"false"`` is refused rather than read as true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _bad(option, value, "give True or False")


def parse_positive(option: str, value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise _bad(option, value, "give a number greater than zero")


def parse_optional_positive(option: str, value: object) -> float | None:
    return None if value is None else parse_positive(option, value)


def parse_str_list(option: str, value: object) -> tuple[str, ...] | None:
    """A list of strings; one string is a list of one."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _bad(option, value, "give a list of strings")


def parse_labels(option: str, value: object) -> dict[str, str]:
    """A dict of labels, or a list of names (each with an empty value), as Airflow takes them."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return {k: "" for k in value}
    raise _bad(option, value, "give a dict such as {'team': 'data'} or a list of label names")


def parse_string_dict(option: str, value: object) -> dict[str, str] | None:
    """A dict of strings to strings, e.g. ``extra_hosts={'db.local': '10.0.0.5'}``."""
    if value is None:
        return None
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    raise _bad(option, value, "give a dict of strings such as {'db.local': '10.0.0.5'}")


def parse_skip_codes(option: str, value: object) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, int) and not isinstance(value, bool):
        return frozenset({value})
    if isinstance(value, (list, tuple, set, frozenset)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return frozenset(value)
    raise _bad(option, value, "give an exit code or a list of exit codes, e.g. 99 or [99, 100]")


def normalize_auto_remove(value: object, option: str = "auto_remove") -> str:
    """Airflow's values; ``True``/``False`` are its older spellings of ``"success"``/``"never"``."""
    if value is True:
        return "success"
    if value is False:
        return "never"
    if value in AUTO_REMOVE_CHOICES:
        return str(value)
    raise ContainerSpecError(
        f"{option}={value!r} is not one of {', '.join(map(repr, AUTO_REMOVE_CHOICES))}", option=option
    )


def parse_docker_urls(option: str, value: object) -> tuple[str, ...] | None:
    """Engine URLs in the order to try them; the local socket's spellings (``unix:/``, ``unix://var``) agree."""
    if value is None or value == "" or value == []:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise _bad(option, value, "give a URL or a list of URLs")
    urls = []
    for url in items:
        if isinstance(url, str) and url.startswith("unix:"):
            urls.append("unix:///" + url[len("unix:") :].lstrip("/"))
        elif isinstance(url, str) and re.match(r"^(tcp|http|https|ssh|npipe)://.", url):
            urls.append(url)
        else:
            raise ContainerSpecError(
                f"{option} {url!r} is not a Docker engine URL; use unix:///var/run/docker.sock, tcp://host:2376 "
                "or ssh://user@host",
                option=option,
            )
    return tuple(urls)


def parse_api_version(option: str, value: object) -> str | None:
    """``None`` and ``"auto"`` both mean: ask the engine."""
    if value is None or value == "auto":
        return None
    if isinstance(value, (str, float)) and re.match(r"^\d+\.\d+$", str(value)):
        return str(value)
    raise _bad(option, value, "give an Engine API version such as '1.41', or 'auto'")


def parse_tls_hostname(option: str, value: object) -> str | bool | None:
    if value is None or isinstance(value, (str, bool)):
        return value
    raise _bad(option, value, "give the host name in the engine's certificate, or False to skip the check")


def parse_port_bindings(option: str, value: object) -> dict[str, tuple[tuple[str, str], ...]] | None:
    """docker-py's port forms as ``{"8080/tcp": (("host ip", "host port"), ...)}``.

    Keys: ``8080``, ``"8080"`` or ``"8080/udp"``. Values: a host port, ``(ip, port)``, ``(port,)``, a
    dict ``{"HostIp": ..., "HostPort": ...}``, ``None`` (any free port), or a list of these.
    """
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping):
        raise _bad(option, value, "give a dict such as {'8080/tcp': 8080}")
    result: dict[str, tuple[tuple[str, str], ...]] = {}
    for key, bindings in value.items():
        match = _PORT.match(str(key))
        if not match or not 0 < int(match.group(1)) < 65536:
            raise _bad(option, dict(value), f"{key!r} is not a container port such as 8080 or '8080/udp'")
        several = isinstance(bindings, list) or (
            isinstance(bindings, tuple) and bool(bindings) and all(isinstance(b, (tuple, list)) for b in bindings)
        )  # a list, or the checked form itself (a tuple of pairs), so checking twice gives the same
        items = list(bindings) if several else [bindings]
        result[f"{match.group(1)}/{match.group(2) or 'tcp'}"] = tuple(_binding(option, value, b) for b in items)
    return result


def _binding(option: str, whole: object, binding: object) -> tuple[str, str]:
    ip: object = ""
    port: object = binding
    if isinstance(binding, (tuple, list)) and len(binding) == 2:
        ip, port = binding
    elif isinstance(binding, (tuple, list)) and len(binding) == 1:
        ip, port = (binding[0], None) if isinstance(binding[0], str) else ("", binding[0])
    elif isinstance(binding, Mapping) and "HostPort" in binding:
        ip, port = binding.get("HostIp", ""), binding["HostPort"]
    if isinstance(port, bool) or not isinstance(port, (int, str, type(None))) or not isinstance(ip, (str, type(None))):
        raise _bad(option, whole, f"the host side {binding!r} is not a port, (ip, port) or None")
    return (ip or "", "" if port is None else str(port))


@dataclass(frozen=True)
class UlimitOption:
    """One resource limit (``docker run --ulimit nofile=1024:2048``); soft and hard default to each other."""

    name: str
    soft: int | None = None
    hard: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "soft": self.soft, "hard": self.hard}


def parse_ulimits(option: str, value: object) -> tuple[UlimitOption, ...] | None:
    """``docker.types.Ulimit`` objects, or dicts with its keys (``name``/``Name``, ``soft``, ``hard``)."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    result = []
    for item in items:
        if isinstance(item, UlimitOption):
            result.append(item)
            continue
        keys = {str(k).lower(): v for k, v in item.items()} if isinstance(item, Mapping) else {}
        limits = [keys.get("soft"), keys.get("hard")]
        if (
            not isinstance(keys.get("name"), str)
            or set(keys) - {"name", "soft", "hard"}
            or not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in limits)
        ):
            raise _bad(option, value, f"{item!r} is not a ulimit; use {{'name': 'nofile', 'soft': 1024, 'hard': 2048}}")
        result.append(UlimitOption(name=keys["name"], soft=keys.get("soft"), hard=keys.get("hard")))
    return tuple(result)


@dataclass(frozen=True)
class DeviceRequestOption:
    """A request for host devices such as GPUs (``docker run --gpus``); ``count=-1`` means all of them."""

    driver: str = ""
    count: int = 0
    device_ids: tuple[str, ...] = ()
    capabilities: tuple[tuple[str, ...], ...] = ()
    options: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "count": self.count,
            "device_ids": list(self.device_ids),
            "capabilities": [list(c) for c in self.capabilities],
            "options": dict(self.options),
        }


_DEVICE_KEYS = {"driver": "driver", "count": "count", "deviceids": "device_ids", "device_ids": "device_ids"}
_DEVICE_KEYS.update({"capabilities": "capabilities", "options": "options"})
GPU_EXAMPLE = "{'count': -1, 'capabilities': [['gpu']]}"


def parse_device_requests(option: str, value: object) -> tuple[DeviceRequestOption, ...] | None:
    """``docker.types.DeviceRequest`` objects, or dicts with its keys (either spelling)."""
    if value is None:
        return None
    result = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, DeviceRequestOption):
            result.append(item)
            continue
        if not isinstance(item, Mapping):
            raise _bad(option, value, f"{item!r} is not a device request; use {GPU_EXAMPLE}")
        args = {_DEVICE_KEYS.get(str(k).lower(), str(k)): v for k, v in item.items()}
        unknown = set(args) - set(_DEVICE_KEYS.values())
        try:
            if unknown:
                raise TypeError(f"unknown key(s) {', '.join(sorted(unknown))}")
            request = DeviceRequestOption(
                driver=str(args.get("driver") or ""),
                count=int(args.get("count") or 0),
                device_ids=tuple(str(d) for d in args.get("device_ids") or ()),
                capabilities=tuple(_capability_group(g) for g in args.get("capabilities") or ()),
                options={str(k): str(v) for k, v in (args.get("options") or {}).items()},
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise _bad(option, value, f"{item!r} is not a device request ({exc}); use {GPU_EXAMPLE}") from exc
        result.append(request)
    return tuple(result)


def _capability_group(group: object) -> tuple[str, ...]:
    """One group of capabilities that must all be present, e.g. ``["gpu", "utility"]``; ``"gpu"`` alone is one."""
    if isinstance(group, str):
        return (group,)
    if isinstance(group, (list, tuple)):
        return tuple(str(c) for c in group)
    raise TypeError(f"capabilities {group!r} is not a list of names")

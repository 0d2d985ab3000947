"""``ContainerSpec``: one task try's container, fully validated before the engine is asked anything.

:func:`build_spec` takes the rendered ``DockerOperator`` values (a plain mapping, so this layer needs
no operator import) and checks each option, raising :class:`~dockyard.errors.ContainerSpecError` that
names the option, the value and what would be right.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from dockyard.container.mounts import parse_mounts
from dockyard.errors import ContainerSpecError

AUTO_REMOVE_CHOICES = ("never", "success", "force")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
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

    image: str
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str | None] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    mounts: list[Mount] = field(default_factory=list)
    host_config: dict[str, Any] = field(default_factory=dict)
    force_pull: bool = False
    auto_remove: str = "success"
    skip_on_exit_code: frozenset[int] = frozenset()
    retrieve_output_path: str | None = None
    collect_all_lines: bool = False
    mount_tmp_dir: bool = True
    host_tmp_dir: str | None = None
    tmp_dir: str = "/tmp/airflow"
    engine: EngineConfig = EngineConfig(urls=())
    registry_auth: RegistryAuth | None = None
    docker_config: str | None = None
    """The folder of the Docker CLI's ``config.json``, read (with its credential helpers) before each pull."""

    def command_text(self) -> str:
        """The command as a person would type it, for messages."""
        return shlex.join(self.command) if self.command else "(the image's default command)"


def parse_size(option: str, value: object) -> int | None:
    """Bytes from ``512m``, ``1g``, ``1.5g`` or an integer; a clear error otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ContainerSpecError(
            f"{option}={value!r} is not a size; give bytes (an integer) or a string like '512m' or '2g'"
        )
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ContainerSpecError(f"{option}={value!r} must be greater than zero")
        return int(value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
            if size > 0:
                return size
    raise ContainerSpecError(
        f"{option}={value!r} is not a size; give bytes (an integer) or a string like '512m' or '2g'"
    )


def parse_command(option: str, value: object) -> list[str] | None:
    """A command or entrypoint as a list of arguments.

    A list is used as is; a string that starts with ``[`` is read as a Python/JSON list (Airflow's rule);
    any other string is split like a shell would split it, without running a shell (docker-py's rule).
    """
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError) as exc:
                raise ContainerSpecError(
                    f"{option} {value!r} starts with '[' but is not a list literal ({exc}); "
                    "write a list like ['echo', 'hi'] or a plain string like 'echo hi'"
                ) from exc
            value = parsed
        else:
            try:
                return shlex.split(text)
            except ValueError as exc:
                raise ContainerSpecError(
                    f"{option} {value!r} cannot be split into arguments: {exc} (check the quotes)"
                ) from exc
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise ContainerSpecError(f"{option} {value!r}: every item must be a string")
        return [str(v) for v in value]
    raise ContainerSpecError(f"{option} must be a string or a list of strings, got {type(value).__name__} {value!r}")


def parse_env_file(text: str | None) -> dict[str, str]:
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
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
            raise ContainerSpecError(f"env_file line {number} {raw!r} is not KEY=VALUE")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
        result[key] = val
    return result


def _environment(option: str, value: object) -> dict[str, str | None]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ContainerSpecError(f"{option} must be a dict of variable names to values, got {type(value).__name__}")
    env: dict[str, str | None] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise ContainerSpecError(f"{option}: {key!r} is not a valid variable name")
        if val is None:
            env[key] = None
        elif isinstance(val, bool):
            env[key] = str(val)
        elif isinstance(val, (str, int, float)):
            env[key] = str(val)
        else:
            raise ContainerSpecError(f"{option}[{key!r}] must be a string or a number, got {type(val).__name__}")
    return env


def _labels(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(k): "" for k in value}
    raise ContainerSpecError(f"labels must be a dict or a list of names, got {type(value).__name__} {value!r}")


def _list_of_str(option: str, value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ContainerSpecError(f"{option} must be a list of strings, got {value!r}")


def _ulimits(value: object) -> list[Ulimit] | None:
    if value is None:
        return None
    result = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, Ulimit):
            result.append(item)
        elif isinstance(item, Mapping) and "name" in item:
            result.append(Ulimit(name=item["name"], soft=item.get("soft"), hard=item.get("hard")))
        else:
            raise ContainerSpecError(
                f"ulimits item {item!r} is not valid: use docker.types.Ulimit or "
                "{'name': 'nofile', 'soft': 1024, 'hard': 2048}"
            )
    return result


def _device_requests(value: object) -> list[DeviceRequest] | None:
    if value is None:
        return None
    result = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, DeviceRequest):
            result.append(item)
        elif isinstance(item, Mapping):
            args = {k.lower() if k[0].isupper() else k: v for k, v in item.items()}
            args = {("device_ids" if k == "deviceids" else k): v for k, v in args.items()}
            try:
                result.append(DeviceRequest(**args))
            except TypeError as exc:
                raise ContainerSpecError(
                    f"device_requests item {item!r} is not valid ({exc}); use docker.types.DeviceRequest("
                    "count=-1, capabilities=[['gpu']])"
                ) from exc
        else:
            raise ContainerSpecError(f"device_requests item {item!r} is not a DeviceRequest or a dict")
    return result


def _skip_codes(value: object) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, int) and not isinstance(value, bool):
        return frozenset({value})
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, int) for v in value):
        return frozenset(value)
    raise ContainerSpecError(f"skip_on_exit_code must be an exit code or a list of exit codes, got {value!r}")


def normalize_auto_remove(value: object) -> str:
    """Airflow's values; ``True``/``False`` are its older spellings of ``"success"``/``"never"``."""
    if value is True:
        return "success"
    if value is False:
        return "never"
    if value in AUTO_REMOVE_CHOICES:
        return str(value)
    raise ContainerSpecError(f"auto_remove={value!r} is not one of {', '.join(map(repr, AUTO_REMOVE_CHOICES))}")


def build_spec(
    values: Mapping[str, Any],
    *,
    labels: Mapping[str, str],
    default_docker_url: str,
    registry_auth: RegistryAuth | None = None,
    docker_config: str | None = None,
) -> ContainerSpec:
    """Validate rendered ``DockerOperator`` values and turn them into a :class:`ContainerSpec`.

    ``labels`` are dockyard's own labels (dag, task, run, try); they win over user labels of the same name.
    """
    image = values.get("image")
    if not isinstance(image, str) or not image.strip():
        raise ContainerSpecError(f"image must be a non-empty string such as 'python:3.12-slim', got {image!r}")
    environment: dict[str, str | None] = dict(parse_env_file(values.get("env_file")))
    environment.update(_environment("environment", values.get("environment")))
    private = _environment("private_environment", values.get("private_environment"))
    environment.update(private)
    secrets = frozenset(v for v in private.values() if v)

    network_mode = values.get("network_mode")
    port_bindings = values.get("port_bindings")
    if port_bindings and network_mode == "host":
        raise ContainerSpecError(
            "port_bindings cannot be used with network_mode='host': the container already uses the host's ports; "
            "drop port_bindings or use another network_mode"
        )
    if port_bindings is not None and not isinstance(port_bindings, Mapping):
        raise ContainerSpecError(f"port_bindings must be a dict like {{'8080/tcp': 8080}}, got {port_bindings!r}")
    extra_hosts = values.get("extra_hosts")
    if extra_hosts is not None and not isinstance(extra_hosts, Mapping):
        raise ContainerSpecError(f"extra_hosts must be a dict like {{'db.local': '10.0.0.5'}}, got {extra_hosts!r}")

    cpus = values.get("cpus", 1.0)
    if not isinstance(cpus, (int, float)) or isinstance(cpus, bool) or cpus <= 0:
        raise ContainerSpecError(f"cpus={cpus!r} must be a positive number (CPU shares = cpus x 1024)")
    cpu_limit = values.get("cpu_limit")
    if cpu_limit is not None and (
        not isinstance(cpu_limit, (int, float)) or isinstance(cpu_limit, bool) or cpu_limit <= 0
    ):
        raise ContainerSpecError(f"cpu_limit={cpu_limit!r} must be a positive number of CPUs, e.g. 0.5 or 2")

    log_config = None
    log_opts = {}
    if values.get("log_opts_max_size"):
        log_opts["max-size"] = str(values["log_opts_max_size"])
    if values.get("log_opts_max_file"):
        log_opts["max-file"] = str(values["log_opts_max_file"])
    if log_opts:
        log_config = LogConfig(type=LogConfig.types.JSON, config=log_opts)

    cap_add = _list_of_str("cap_add", values.get("cap_add"))
    host_config: dict[str, Any] = {
        "mem_limit": parse_size("mem_limit", values.get("mem_limit")),
        "shm_size": parse_size("shm_size", values.get("shm_size")),
        "cpu_shares": round(float(cpus) * 1024),
        "nano_cpus": int(float(cpu_limit) * 1e9) if cpu_limit else None,
        "network_mode": network_mode,
        "dns": _list_of_str("dns", values.get("dns")),
        "dns_search": _list_of_str("dns_search", values.get("dns_search")),
        "extra_hosts": dict(extra_hosts) if extra_hosts else None,
        "port_bindings": dict(port_bindings) if port_bindings else None,
        "privileged": bool(values.get("privileged", False)),
        "cap_add": cap_add,
        "ipc_mode": values.get("ipc_mode"),
        "ulimits": _ulimits(values.get("ulimits")),
        "device_requests": _device_requests(values.get("device_requests")),
        "log_config": log_config,
    }
    host_config = {k: v for k, v in host_config.items() if v is not None}

    user = values.get("user")
    all_labels = _labels(values.get("labels"))
    all_labels.update(labels)
    retrieve_path = values.get("retrieve_output_path") if values.get("retrieve_output") else None
    if values.get("retrieve_output") and not retrieve_path:
        raise ContainerSpecError(
            "retrieve_output=True needs retrieve_output_path, the file inside the container to read back"
        )
    engine = engine_config(values, default_docker_url)
    mount_items = list(values.get("mounts") or [])
    return ContainerSpec(
        image=image.strip(),
        command=parse_command("command", values.get("command")),
        entrypoint=parse_command("entrypoint", values.get("entrypoint")),
        environment=environment,
        secrets=secrets,
        working_dir=values.get("working_dir"),
        user=str(user) if user is not None else None,
        hostname=values.get("hostname"),
        name=values.get("container_name"),
        labels=all_labels,
        tty=bool(values.get("tty", False)),
        mounts=parse_mounts(mount_items),
        host_config=host_config,
        force_pull=bool(values.get("force_pull", False)),
        auto_remove=normalize_auto_remove(values.get("auto_remove", "success")),
        skip_on_exit_code=_skip_codes(values.get("skip_on_exit_code")),
        retrieve_output_path=retrieve_path,
        collect_all_lines=bool(values.get("xcom_all", False)),
        mount_tmp_dir=bool(values.get("mount_tmp_dir", True)),
        host_tmp_dir=values.get("host_tmp_dir"),
        tmp_dir=str(values.get("tmp_dir") or "/tmp/airflow"),
        engine=engine,
        registry_auth=registry_auth,
        docker_config=docker_config,
    )


def engine_config(values: Mapping[str, Any], default_docker_url: str) -> EngineConfig:
    """The engine a task's container runs on: ``docker_url`` (or the default), API version, timeout, TLS."""
    urls = values.get("docker_url") or default_docker_url
    url_list = (urls,) if isinstance(urls, str) else tuple(urls)
    timeout = values.get("timeout", 60)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ContainerSpecError(f"timeout={timeout!r} must be a positive number of seconds for Engine API calls")
    api_version = values.get("api_version")
    return EngineConfig(
        urls=tuple(_normalize_url(u) for u in url_list),
        api_version=None if api_version in (None, "auto") else str(api_version),
        timeout=float(timeout),
        tls_ca_cert=values.get("tls_ca_cert"),
        tls_client_cert=values.get("tls_client_cert"),
        tls_client_key=values.get("tls_client_key"),
        tls_verify=bool(values.get("tls_verify", True)),
        tls_hostname=values.get("tls_hostname"),
        tls_ssl_version=values.get("tls_ssl_version"),
    )


def _normalize_url(url: str) -> str:
    """Accept the spellings real DAG files use for the local socket (``unix:/``, ``unix://var/...``)."""
    if not isinstance(url, str) or not url:
        raise ContainerSpecError(
            f"docker_url {url!r} must be a URL like unix:///var/run/docker.sock or tcp://host:2376"
        )
    if url.startswith("unix:"):
        path = url[len("unix:") :].lstrip("/")
        return f"unix:///{path}"
    if not re.match(r"^(tcp|http|https|ssh|npipe)://", url):
        raise ContainerSpecError(
            f"docker_url {url!r} is not a Docker engine URL; use unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host"
        )
    return url


def labels_for(dag_id: str, task_id: str, run_id: str, try_number: int, instance: str | None = None) -> dict[str, str]:
    """dockyard's labels on every container, used to find a task's container again after a crash.

    ``instance`` names the installation (its database), so that two dockyards sharing an engine never
    take each other's containers for their own.
    """
    extra = {f"{LABEL_PREFIX}instance": instance} if instance else {}
    return {
        **extra,
        f"{LABEL_PREFIX}managed": "true",
        f"{LABEL_PREFIX}dag_id": dag_id,
        f"{LABEL_PREFIX}task_id": task_id,
        f"{LABEL_PREFIX}run_id": run_id,
        f"{LABEL_PREFIX}try_number": str(try_number),
    }

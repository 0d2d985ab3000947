"""``ContainerOptions``: every option of a task's container, typed and validated, in one place.

The same object serves the authoring layer (``DockerOperator`` keeps its arguments in one), the DAG
processor (which stores it as JSON), the task's execution (which renders its templated fields) and
the runtime (which turns it into Engine API calls). It imports no docker-py, so a DAG file that
builds operators never loads it.

Two moments of validation, one parser per option (:mod:`dockyard.container.values`):

- at DAG load (``rendered=False``), every option that templates cannot change is checked and put in
  its normal form; the templated ones (:data:`TEMPLATED_OPTIONS`) are only checked for their kind
  (a string, a list, ...), and a mount that holds a template is kept as written;
- once rendered (:meth:`ContainerOptions.render`), the templated options are checked too.

An error names the task, the option, the value and what would be right::

    >>> ContainerOptions.from_values({"image": "img", "mem_limit": "lots"}, task_id="load")
    Traceback (most recent call last):
    ...
    dockyard.errors.ContainerSpecError: task 'load': mem_limit='lots' is not a size; give bytes (an integer) ...

Options survive JSON: ``ContainerOptions.from_json(options.to_json()) == options``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard import defaults
from dockyard.container import values as v
from dockyard.container.mounts import MountOption, check_mount_list, check_unique_targets, parse_mount
from dockyard.container.values import DeviceRequestOption, UlimitOption
from dockyard.errors import ContainerSpecError

TEMPLATED_OPTIONS = ("image", "command", "environment", "env_file", "container_name", "mounts", "docker_conn_id")
"""Airflow's ``DockerOperator.template_fields`` (the provider templates ``docker_conn_id`` too): rendered with
Jinja before they are checked in full."""

RawMount = MountOption | str | dict[str, Any]
"""A mount in its normal form, or (before rendering) a string or dict that still holds a template."""


@dataclass(frozen=True)
class ContainerOptions:
    """A task's container options in their normal form (see the module docstring).

    Field names and meanings are those of Airflow's ``DockerOperator`` arguments (``cpu_limit`` is
    dockyard's: a hard limit in CPUs). ``rendered`` says whether the templated fields were rendered;
    ``task_id`` names the task in errors.
    """

    image: str
    command: str | tuple[str, ...] | None = None
    environment: dict[str, str | None] = field(default_factory=dict)
    env_file: str | None = None
    container_name: str | None = None
    mounts: tuple[RawMount, ...] = ()
    api_version: str | None = None
    cpus: float = 1.0
    cpu_limit: float | None = None
    docker_url: tuple[str, ...] | None = None
    private_environment: dict[str, str | None] = field(default_factory=dict, repr=False)
    force_pull: bool = False
    mem_limit: int | None = None
    host_tmp_dir: str | None = None
    network_mode: str | None = None
    tls_ca_cert: str | None = None
    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    tls_verify: bool = True
    tls_hostname: str | bool | None = None
    tls_ssl_version: str | None = None
    mount_tmp_dir: bool = True
    tmp_dir: str = defaults.DEFAULT_TMP_DIR
    user: str | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    xcom_all: bool = False
    docker_conn_id: str | None = None
    dns: tuple[str, ...] | None = None
    dns_search: tuple[str, ...] | None = None
    auto_remove: str = defaults.DEFAULT_AUTO_REMOVE
    shm_size: int | None = None
    tty: bool = False
    hostname: str | None = None
    privileged: bool = False
    cap_add: tuple[str, ...] | None = None
    extra_hosts: dict[str, str] | None = None
    retrieve_output: bool = False
    retrieve_output_path: str | None = None
    timeout: float = defaults.DEFAULT_DOCKER_TIMEOUT
    device_requests: tuple[DeviceRequestOption, ...] | None = None
    log_opts_max_size: str | None = None
    log_opts_max_file: str | None = None
    ipc_mode: str | None = None
    skip_on_exit_code: frozenset[int] = frozenset()
    port_bindings: dict[str, tuple[tuple[str, str], ...]] | None = None
    ulimits: tuple[UlimitOption, ...] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    rendered: bool = False
    task_id: str = ""
    """The task these options belong to, named in every error about them."""

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, task_id: str = "", rendered: bool = True) -> ContainerOptions:
        """Check ``values`` (option name -> value, as a DAG file or JSON gives them); missing ones take
        Airflow's defaults. With ``rendered=False`` the templated options are checked for their kind only."""
        try:
            found: dict[str, Any] = {}
            for name in OPTION_NAMES:
                raw = values[name] if name in values else _DEFAULTS[name]()
                parse = _RENDERED.get(name, _PARSERS[name]) if rendered else _PARSERS[name]
                found[name] = parse(name, raw)
            options = cls(**found, rendered=rendered, task_id=task_id)
            options._check_together()
        except ContainerSpecError as exc:
            raise exc.for_task(task_id) from None
        return options

    def render(self, rendered: Mapping[str, Any]) -> ContainerOptions:
        """These options with ``rendered`` (the templated fields' rendered values), every option checked."""
        return self.from_values({**self.to_values(), **rendered}, task_id=self.task_id, rendered=True)

    def _check_together(self) -> None:
        if self.port_bindings and self.network_mode == "host":
            raise ContainerSpecError(
                "port_bindings cannot be used with network_mode='host': the container already uses the host's "
                "ports; drop port_bindings or use another network_mode",
                option="port_bindings",
            )
        if self.retrieve_output and not self.retrieve_output_path:
            raise ContainerSpecError(
                "retrieve_output=True needs retrieve_output_path, the file inside the container to read back",
                option="retrieve_output_path",
            )

    def to_values(self) -> dict[str, Any]:
        """Option name -> value (the normal forms), as :meth:`from_values` takes them."""
        return {name: getattr(self, name) for name in OPTION_NAMES}

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (dicts, lists, strings, numbers); :meth:`from_json` reads it back.

        It holds ``private_environment``'s values: store and send it as a secret (see :meth:`redacted`).
        """
        data = {name: _json(value) for name, value in self.to_values().items()}
        data.update(rendered=self.rendered, task_id=self.task_id)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerOptions:
        """Options from :meth:`to_json`'s data, checked again (the data may come from another process)."""
        return cls.from_values(data, task_id=str(data.get("task_id") or ""), rendered=bool(data.get("rendered")))

    def redacted(self) -> ContainerOptions:
        """A copy whose ``private_environment`` values are masked, for anything a person can read."""
        masked = {k: (defaults.MASK if val else val) for k, val in self.private_environment.items()}
        return dataclasses.replace(self, private_environment=masked)

    @property
    def secrets(self) -> frozenset[str]:
        """The values of ``private_environment``: masked wherever a person could read them."""
        return frozenset(val for val in self.private_environment.values() if val)

    @property
    def parsed_mounts(self) -> tuple[MountOption, ...]:
        """The mounts, each a :class:`MountOption` (only once rendered is every one of them one)."""
        return tuple(m for m in self.mounts if isinstance(m, MountOption))


def _json(value: Any) -> Any:
    if isinstance(value, (MountOption, UlimitOption, DeviceRequestOption)):
        return value.to_json()
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _json(item) for k, item in value.items()}
    return value


def has_template(value: object) -> bool:
    """Whether ``value`` (or a string inside it) holds Jinja markup."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value or "{#" in value
    if isinstance(value, Mapping):
        return any(has_template(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_template(item) for item in value)
    return False


def _image(option: str, value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise ContainerSpecError(
        f"image must be a non-empty string such as 'python:3.12-slim', got {value!r}", option=option
    )


def _rendered_image(option: str, value: object) -> str:
    return _image(option, value).strip()


def _rendered_env_file(option: str, value: object) -> str | None:
    text = v.parse_str(option, value)
    v.parse_env_file(text, option)
    return text


def _unrendered_mounts(option: str, value: object) -> tuple[RawMount, ...]:
    """Mounts without templates are parsed at once; one with a template waits for its rendering."""
    result: list[RawMount] = []
    for item in check_mount_list(value):
        if isinstance(item, (str, Mapping)) and has_template(item):
            result.append(item if isinstance(item, str) else dict(item))
        else:
            result.append(parse_mount(item))
    return tuple(result)


def _rendered_mounts(option: str, value: object) -> tuple[RawMount, ...]:
    mounts = tuple(parse_mount(item) for item in check_mount_list(value))
    check_unique_targets(mounts)
    return mounts


def _tmp_dir(option: str, value: object) -> str:
    path = v.parse_str(option, value) or defaults.DEFAULT_TMP_DIR
    if not path.startswith("/"):
        raise ContainerSpecError(f"{option}={value!r} must be an absolute path inside the container", option=option)
    return path


def _auto_remove(option: str, value: object) -> str:
    return v.normalize_auto_remove(value, option)


def _log_size(option: str, value: object) -> str | None:
    """A size such as ``'10m'``; ``-1`` is the log driver's "unlimited" (Airflow's documented default)."""
    if value is None or str(value) == "-1":
        return None if value is None else "-1"
    v.parse_size(option, value)
    return str(value)


def _log_files(option: str, value: object) -> str | None:
    if value is None:
        return None
    if str(value).isdigit() and int(str(value)) > 0 and not isinstance(value, bool):
        return str(int(str(value)))
    raise ContainerSpecError(f"{option}={value!r} must be a whole number of files such as '3'", option=option)


Parser = Callable[[str, Any], Any]
_PARSERS: dict[str, Parser] = {
    "image": _image,
    "command": v.check_command,
    "environment": v.parse_environment,
    "env_file": v.parse_str,
    "container_name": v.parse_str,
    "mounts": _unrendered_mounts,
    "api_version": v.parse_api_version,
    "cpus": v.parse_positive,
    "cpu_limit": v.parse_optional_positive,
    "docker_url": v.parse_docker_urls,
    "private_environment": v.parse_environment,
    "force_pull": v.parse_bool,
    "mem_limit": v.parse_size,
    "host_tmp_dir": v.parse_str,
    "network_mode": v.parse_str,
    "tls_ca_cert": v.parse_str,
    "tls_client_cert": v.parse_str,
    "tls_client_key": v.parse_str,
    "tls_verify": v.parse_bool,
    "tls_hostname": v.parse_tls_hostname,
    "tls_ssl_version": v.parse_str,
    "mount_tmp_dir": v.parse_bool,
    "tmp_dir": _tmp_dir,
    "user": v.parse_user,
    "entrypoint": v.parse_command,
    "working_dir": v.parse_str,
    "xcom_all": v.parse_bool,
    "docker_conn_id": v.parse_str,
    "dns": v.parse_str_list,
    "dns_search": v.parse_str_list,
    "auto_remove": _auto_remove,
    "shm_size": v.parse_size,
    "tty": v.parse_bool,
    "hostname": v.parse_str,
    "privileged": v.parse_bool,
    "cap_add": v.parse_str_list,
    "extra_hosts": v.parse_string_dict,
    "retrieve_output": v.parse_bool,
    "retrieve_output_path": v.parse_str,
    "timeout": v.parse_positive,
    "device_requests": v.parse_device_requests,
    "log_opts_max_size": _log_size,
    "log_opts_max_file": _log_files,
    "ipc_mode": v.parse_str,
    "skip_on_exit_code": v.parse_skip_codes,
    "port_bindings": v.parse_port_bindings,
    "ulimits": v.parse_ulimits,
    "labels": v.parse_labels,
}
"""Each option's parser at DAG load; :data:`_RENDERED` replaces it for templated options once rendered."""

_RENDERED: dict[str, Parser] = {
    "image": _rendered_image,
    "command": v.parse_command,
    "env_file": _rendered_env_file,
    "mounts": _rendered_mounts,
}

OPTION_NAMES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(ContainerOptions) if f.name not in ("rendered", "task_id")
)
"""Every option: the templated ones first, then the rest of Airflow's ``DockerOperator`` arguments."""


def _default(spec: dataclasses.Field[Any]) -> Callable[[], Any]:
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory
    value = None if spec.default is dataclasses.MISSING else spec.default
    return lambda: value


_DEFAULTS = {spec.name: _default(spec) for spec in dataclasses.fields(ContainerOptions)}

assert set(_PARSERS) == set(OPTION_NAMES), "every option needs a parser"

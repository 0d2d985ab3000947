"""``DockerOperator``: a task that runs one container. Same arguments and defaults as Airflow's provider.

The one deliberate difference is ``auto_remove``, which defaults to ``"success"`` (see
:data:`dockyard.defaults.DEFAULT_AUTO_REMOVE`). ``cpus`` keeps Airflow's meaning (CPU shares =
cpus x 1024, a relative weight); ``cpu_limit`` is dockyard's hard limit in CPUs (the engine's
``NanoCpus``, like ``docker run --cpus``).

Example::

    DockerOperator(
        task_id="train",
        image="registry.example.com/ml/train:1.4",
        command="python train.py --date {{ ds }}",
        mounts=["/srv/data:/data:ro", "models:/models"],
        mem_limit="4g", cpu_limit=2,
        private_environment={"API_TOKEN": "..."},
    )
"""

from __future__ import annotations

import warnings
from collections.abc import Container, Sequence
from typing import Any, ClassVar, Literal

from dockyard import defaults
from dockyard.container.mounts import parse_mounts
from dockyard.container.spec import normalize_auto_remove, parse_size
from dockyard.errors import ContainerSpecError, DagDefinitionError
from dockyard.operators.base import BaseOperator

SPEC_FIELDS = (
    "image",
    "api_version",
    "command",
    "container_name",
    "cpus",
    "cpu_limit",
    "docker_url",
    "environment",
    "private_environment",
    "env_file",
    "force_pull",
    "mem_limit",
    "host_tmp_dir",
    "network_mode",
    "tls_ca_cert",
    "tls_client_cert",
    "tls_client_key",
    "tls_verify",
    "tls_hostname",
    "tls_ssl_version",
    "mount_tmp_dir",
    "tmp_dir",
    "user",
    "mounts",
    "entrypoint",
    "working_dir",
    "xcom_all",
    "docker_conn_id",
    "dns",
    "dns_search",
    "auto_remove",
    "shm_size",
    "tty",
    "hostname",
    "privileged",
    "cap_add",
    "extra_hosts",
    "retrieve_output",
    "retrieve_output_path",
    "timeout",
    "device_requests",
    "log_opts_max_size",
    "log_opts_max_file",
    "ipc_mode",
    "skip_on_exit_code",
    "port_bindings",
    "ulimits",
    "labels",
)
"""The operator attributes that describe the container (everything :func:`build_spec` reads)."""


class DockerOperator(BaseOperator):
    """Run a command inside a Docker container; its output becomes the task log and its XCom."""

    template_fields: ClassVar[Sequence[str]] = (
        "image",
        "command",
        "environment",
        "env_file",
        "container_name",
        "mounts",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"env_file": "yaml"}
    template_ext: ClassVar[Sequence[str]] = (".sh", ".bash", ".env")
    ui_color = "#d8e8ff"

    def __init__(
        self,
        *,
        image: str,
        api_version: str | None = None,
        command: str | list[str] | None = None,
        container_name: str | None = None,
        cpus: float = 1.0,
        cpu_limit: float | None = None,
        docker_url: str | list[str] | None = None,
        environment: dict[str, Any] | None = None,
        private_environment: dict[str, Any] | None = None,
        env_file: str | None = None,
        force_pull: bool = False,
        mem_limit: float | str | None = None,
        host_tmp_dir: str | None = None,
        network_mode: str | None = None,
        tls_ca_cert: str | None = None,
        tls_client_cert: str | None = None,
        tls_client_key: str | None = None,
        tls_verify: bool = True,
        tls_hostname: str | bool | None = None,
        tls_ssl_version: str | None = None,
        mount_tmp_dir: bool = True,
        tmp_dir: str = defaults.DEFAULT_TMP_DIR,
        user: str | int | None = None,
        mounts: list[Any] | None = None,
        entrypoint: str | list[str] | None = None,
        working_dir: str | None = None,
        xcom_all: bool = False,
        docker_conn_id: str | None = None,
        dns: list[str] | None = None,
        dns_search: list[str] | None = None,
        auto_remove: Literal["never", "success", "force"] | bool = defaults.DEFAULT_AUTO_REMOVE,  # type: ignore[assignment]
        shm_size: int | str | None = None,
        tty: bool = False,
        hostname: str | None = None,
        privileged: bool = False,
        cap_add: Sequence[str] | None = None,
        extra_hosts: dict[str, str] | None = None,
        retrieve_output: bool = False,
        retrieve_output_path: str | None = None,
        timeout: int = defaults.DEFAULT_DOCKER_TIMEOUT,
        device_requests: list[Any] | None = None,
        log_opts_max_size: str | None = None,
        log_opts_max_file: str | None = None,
        ipc_mode: str | None = None,
        skip_on_exit_code: int | Container[int] | None = None,
        port_bindings: dict[Any, Any] | None = None,
        ulimits: list[Any] | None = None,
        labels: dict[str, str] | list[str] | None = None,
        volumes: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if volumes:
            warnings.warn(
                f"task {self.task_id!r}: 'volumes' is deprecated, use 'mounts' (the same strings are accepted)",
                DeprecationWarning,
                stacklevel=3,
            )
            mounts = list(mounts or []) + list(volumes)
        self.image = image
        self.api_version = api_version
        self.command = command
        self.container_name = container_name
        self.cpus = cpus
        self.cpu_limit = cpu_limit
        self.docker_url = docker_url
        self.environment = environment or {}
        self.private_environment = private_environment or {}
        self.env_file = env_file
        self.force_pull = force_pull
        self.mem_limit = mem_limit
        self.host_tmp_dir = host_tmp_dir
        self.network_mode = network_mode
        self.tls_ca_cert = tls_ca_cert
        self.tls_client_cert = tls_client_cert
        self.tls_client_key = tls_client_key
        self.tls_verify = tls_verify
        self.tls_hostname = tls_hostname
        self.tls_ssl_version = tls_ssl_version
        self.mount_tmp_dir = mount_tmp_dir
        self.tmp_dir = tmp_dir
        self.user = user
        self.mounts = list(mounts or [])
        self.entrypoint = entrypoint
        self.working_dir = working_dir
        self.xcom_all = xcom_all
        self.docker_conn_id = docker_conn_id
        self.dns = dns
        self.dns_search = dns_search
        self.shm_size = shm_size
        self.tty = tty
        self.hostname = hostname
        self.privileged = privileged
        self.cap_add = cap_add
        self.extra_hosts = extra_hosts
        self.retrieve_output = retrieve_output
        self.retrieve_output_path = retrieve_output_path
        self.timeout = timeout
        self.device_requests = device_requests
        self.log_opts_max_size = log_opts_max_size
        self.log_opts_max_file = log_opts_max_file
        self.ipc_mode = ipc_mode
        self.skip_on_exit_code = skip_on_exit_code
        self.port_bindings = port_bindings
        self.ulimits = ulimits
        self.labels = labels
        try:
            self.auto_remove = normalize_auto_remove(auto_remove)
            self._validate()
        except ContainerSpecError as exc:
            raise DagDefinitionError(f"task {self.task_id!r}: {exc}") from None

    def _validate(self) -> None:
        """Check, at DAG load, every option that templates cannot change."""
        parse_size("mem_limit", self.mem_limit)
        parse_size("shm_size", self.shm_size)
        if not any("{{" in str(m) or "{%" in str(m) for m in self.mounts):
            parse_mounts(self.mounts)
        if self.port_bindings and self.network_mode == "host":
            raise ContainerSpecError("port_bindings cannot be used with network_mode='host'; drop one of them")
        if self.retrieve_output and not self.retrieve_output_path:
            raise ContainerSpecError(
                "retrieve_output=True needs retrieve_output_path, the file in the container to read back"
            )

    def spec_values(self) -> dict[str, Any]:
        """The container-describing attributes, as :func:`dockyard.container.build_spec` takes them."""
        values = {name: getattr(self, name) for name in SPEC_FIELDS}
        values["auto_remove"] = self.auto_remove
        return values

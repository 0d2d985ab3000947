"""``DockerOperator``: a task that runs one container. Same arguments and defaults as Airflow's provider.

The one deliberate difference is ``auto_remove``, which defaults to ``"success"`` (see
:data:`dockyard.defaults.DEFAULT_AUTO_REMOVE`). ``cpus`` keeps Airflow's meaning (CPU shares =
cpus x 1024, a relative weight); ``cpu_limit`` is dockyard's hard limit in CPUs (the engine's
``NanoCpus``, like ``docker run --cpus``).

The arguments are checked once, by :class:`~dockyard.container.options.ContainerOptions` (``task.options``):
at DAG load every option that templates cannot change, the templated ones once rendered. The attributes
keep what the DAG file wrote, as in Airflow.

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
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from dockyard import defaults
from dockyard.container.options import OPTION_NAMES, TEMPLATED_OPTIONS, ContainerOptions
from dockyard.errors import ContainerSpecError, DagDefinitionError
from dockyard.operators.base import BaseOperator

SPEC_FIELDS = OPTION_NAMES
"""The operator arguments that describe the container: every field of :class:`ContainerOptions`."""


class DockerOperator(BaseOperator):
    """Run a command inside a Docker container; its output becomes the task log and its XCom."""

    template_fields: ClassVar[Sequence[str]] = TEMPLATED_OPTIONS
    template_fields_renderers: ClassVar[dict[str, str]] = {"env_file": "yaml"}
    template_ext: ClassVar[Sequence[str]] = (".sh", ".bash", ".env")
    ui_color = "#d8e8ff"
    runs_in_container = True

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
        arguments = locals()  # the signature above is the one list of the options and their defaults
        values = {name: arguments[name] for name in OPTION_NAMES}
        values.update(
            environment=environment or {}, private_environment=private_environment or {}, mounts=list(mounts or [])
        )
        self.__dict__.update(values)
        self._set_options(values)
        if retrieve_output and not retrieve_output_path:
            self.do_xcom_push = False  # Airflow finds no file to read back: the XCom is None

    def _set_options(self, values: dict[str, Any]) -> None:
        """Check the options (those that templates cannot change, at once) and keep their normal form.

        Two of Airflow's habits are kept: ``retrieve_output=True`` without ``retrieve_output_path`` reads
        nothing back (the XCom is None), and a bad mount (``Mount(source=os.environ.get("UNSET"))``) fails
        only that task when it runs, where the rendered mounts are checked again, not the whole DAG file.
        """
        checked = dict(values)
        if checked.get("retrieve_output") and not checked.get("retrieve_output_path"):
            checked["retrieve_output"] = False
        try:
            options = ContainerOptions.from_values(checked, task_id=self.task_id, rendered=False)
        except ContainerSpecError as exc:
            others = [m for m in checked.get("mounts") or [] if not _is_mount_object(m)]
            if exc.option != "mounts" or len(others) == len(checked.get("mounts") or []):
                raise DagDefinitionError(str(exc)) from None
            try:  # Airflow's own Mount objects are checked when the task runs; dockyard's strings now
                options = ContainerOptions.from_values(
                    {**checked, "mounts": others}, task_id=self.task_id, rendered=False
                )
            except ContainerSpecError as again:
                raise DagDefinitionError(str(again)) from None
        self.__dict__["options"] = options

    def __setattr__(self, name: str, value: Any) -> None:
        """Setting an option after construction (``task.mem_limit = "2g"``) checks it like the constructor."""
        if name in _OPTIONS and "options" in self.__dict__:
            self._set_options({**self.spec_values(), name: value})
        super().__setattr__(name, value)

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """The options' attributes (set from the signature's arguments, so not declared one by one)."""

    options: ContainerOptions
    """The options in their normal form, checked; the attributes of the same names keep what the DAG file
    wrote (as in Airflow), and are what templates render."""

    def spec_values(self) -> dict[str, Any]:
        """The options as the DAG file wrote them (unrendered), by name, as :func:`~dockyard.container.spec.build_spec`
        takes them once the templated ones are rendered."""
        return {name: self.__dict__[name] for name in OPTION_NAMES}


_OPTIONS = frozenset(OPTION_NAMES)


def _is_mount_object(item: Any) -> bool:
    """A ``docker.types.Mount`` (Airflow's only form of a mount), told by its class (docker stays in container/)."""
    return type(item).__name__ == "Mount" and type(item).__module__.startswith("docker.")

"""Tasks that Airflow runs inside its worker (Bash, Python) run here in a container of a *task image*.

Which image: the task's ``executor_config={"image": ...}`` (per DAG through ``default_args``), else the
installation's ``DOCKYARD_TASK_IMAGE`` (default :data:`~dockyard.defaults.DEFAULT_TASK_IMAGE`).
``executor_config`` may also set a few container options (:data:`EXECUTOR_CONFIG_OPTIONS`); the keys of
other executors (``pod_override``, ``KubernetesExecutor``) are ignored, as Airflow's own executors ignore
keys that are not theirs. The operators stay exactly Airflow's: a DAG file that uses them still runs on Airflow.

Example::

    BashOperator(task_id="count", bash_command="wc -l /data/{{ ds }}.csv",
                 executor_config={"image": "debian:12", "mounts": ["/srv/data:/data:ro"]})
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dockyard.container.options import ContainerOptions
from dockyard.errors import ContainerSpecError, DagDefinitionError
from dockyard.operators.base import BaseOperator

if TYPE_CHECKING:
    from dockyard.settings import Settings

DAGS_MOUNT = "/opt/dockyard/dags"
"""Where a Python task's DAG folder is mounted (read-only) inside its container."""

EXECUTOR_CONFIG_OPTIONS = (
    "image",
    "environment",
    "private_environment",
    "mounts",
    "network_mode",
    "mem_limit",
    "cpu_limit",
    "cpus",
    "shm_size",
    "user",
    "labels",
    "docker_url",
    "docker_conn_id",
    "force_pull",
    "auto_remove",
    "device_requests",
    "extra_hosts",
    "dns",
)
"""The ``executor_config`` keys dockyard reads: container options with their ``DockerOperator`` meaning."""

PLACEMENT_KEYS = ("engine_labels",)
"""``executor_config`` keys that pick engines of the pool (:func:`dockyard.container.pool.wanted_labels`)."""

OTHER_EXECUTORS = ("pod_override", "KubernetesExecutor")
"""``executor_config`` keys of Airflow's other executors: ignored here, so the DAG file runs on both."""


class TaskImageOperator(BaseOperator):
    """An operator whose work runs in a container of the task image (see the module docstring)."""

    runs_in_container: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        config = dict(self.executor_config)
        unknown = sorted(set(config) - set(EXECUTOR_CONFIG_OPTIONS) - set(PLACEMENT_KEYS) - set(OTHER_EXECUTORS))
        if unknown:
            raise DagDefinitionError(
                f"task {self.task_id!r}: executor_config key {unknown[0]!r} is not known; dockyard reads "
                f"{', '.join(EXECUTOR_CONFIG_OPTIONS)} (the container's options), {', '.join(PLACEMENT_KEYS)} "
                f"(engines of the pool) and ignores "
                f"{', '.join(OTHER_EXECUTORS)}"
            )
        try:
            ContainerOptions.from_values(
                {"image": "task-image", **self.container_config()}, task_id=self.task_id, rendered=False
            )
        except ContainerSpecError as exc:
            raise DagDefinitionError(f"{exc} (in executor_config)") from None

    def container_config(self) -> dict[str, Any]:
        """The container options ``executor_config`` sets."""
        return {k: v for k, v in self.executor_config.items() if k in EXECUTOR_CONFIG_OPTIONS}

    def image_for(self, settings: Settings) -> str:
        return str(self.executor_config.get("image") or settings.task_image)

    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        """The options of this try's container, from the rendered templated fields (in the preparing child)."""
        raise NotImplementedError

    def base_options(
        self, context: Mapping[str, Any], settings: Settings, *, program: str, command: list[str], **values: Any
    ) -> ContainerOptions:
        """Options every task-image container shares: the image, ``executor_config``, Airflow's
        ``AIRFLOW_CTX_*`` variables, and a check that ``program`` is in the image (one clear error if not)."""
        config = self.container_config()
        image = self.image_for(settings)
        environment = {**airflow_context_variables(context), **dict(config.pop("environment", None) or {})}
        environment.update(values.pop("environment", None) or {})
        mounts = [*values.pop("mounts", []), *(config.pop("mounts", None) or [])]
        lacks = (
            f"dockyard: the task image {image} has no {program}; {type(self).__name__} runs {program} inside the "
            'task image: pick one that has it with executor_config={"image": ...} or DOCKYARD_TASK_IMAGE'
        )
        check = f'command -v "$1" >/dev/null 2>&1 || {{ echo {shlex.quote(lacks)} >&2; exit 127; }}; exec "$@"'
        options = {
            **config,
            "image": image,
            "entrypoint": ["sh", "-c", check, "dockyard"],
            "command": command,
            "environment": environment,
            "mounts": mounts,
            "mount_tmp_dir": False,
            **values,
        }
        return ContainerOptions.from_values(options, task_id=self.task_id, rendered=True)


def airflow_context_variables(context: Mapping[str, Any]) -> dict[str, str]:
    """Airflow's ``AIRFLOW_CTX_*`` variables, which it sets for Bash commands and Python callables."""
    ti = context.get("ti")
    dag = context.get("dag")
    task = context.get("task")
    logical = context.get("logical_date")
    names = {
        "AIRFLOW_CTX_DAG_ID": getattr(dag, "dag_id", None),
        "AIRFLOW_CTX_TASK_ID": getattr(task, "task_id", None),
        "AIRFLOW_CTX_DAG_OWNER": getattr(task, "owner", None),
        "AIRFLOW_CTX_LOGICAL_DATE": logical.isoformat() if logical is not None else None,
        "AIRFLOW_CTX_EXECUTION_DATE": logical.isoformat() if logical is not None else None,
        "AIRFLOW_CTX_TRY_NUMBER": getattr(ti, "try_number", None),
        "AIRFLOW_CTX_DAG_RUN_ID": context.get("run_id"),
    }
    return {k: str(v) for k, v in names.items() if v is not None}


def dag_folder_mount(task: BaseOperator, settings: Settings) -> tuple[Path, str]:
    """The folder to mount at :data:`DAGS_MOUNT` for ``task`` (the DAG folder when the DAG file is in it, so
    helper modules at its top import as in Airflow; else the DAG file's own folder), and the DAG file's path
    inside the container. See :func:`mount_source` for the folder's path on the engine's host."""
    fileloc = task.dag.fileloc if task.dag is not None else ""
    if not fileloc:
        raise DagDefinitionError(
            f"task {task.task_id!r} runs Python from its DAG file, but its DAG was not loaded from a file"
        )
    path = Path(fileloc).resolve()
    root = Path(settings.dags_folder).resolve()
    if not path.is_relative_to(root):
        root = path.parent
    return root, f"{DAGS_MOUNT}/{path.relative_to(root).as_posix()}"


def mount_source(root: Path, settings: Settings) -> str:
    """``root`` as the engine's host sees it: ``DOCKYARD_HOST_DAGS_FOLDER`` stands for the DAG folder when
    dockyard runs in a container that mounts it at another path."""
    folder = Path(settings.dags_folder).resolve()
    if settings.host_dags_folder and root.is_relative_to(folder):
        return str(Path(settings.host_dags_folder) / root.relative_to(folder))
    return str(root)


def inside(path: str, root: Path) -> str | None:
    """``path`` (on the host) as seen inside the container, or None if it is outside the mounted folder."""
    resolved = Path(path).resolve()
    return f"{DAGS_MOUNT}/{resolved.relative_to(root).as_posix()}" if resolved.is_relative_to(root) else None

"""``BashOperator``: Airflow's Bash task, run with ``bash -c`` in a container of the task image.

Airflow's arguments and defaults: ``bash_command`` is templated (a value ending in ``.sh`` or ``.bash`` is
read as a template file from the DAG file's folder or ``template_searchpath``), ``env`` and ``cwd`` are
templated too; the last line of output is the XCom; exit code 99 (``skip_on_exit_code``) skips the task.
The image is the task image (see :mod:`dockyard.operators.task_image`); it needs ``bash``, and ``python3``
too when ``output_processor`` is given (the function runs in the container, on the last line, as in Airflow).

Example::

    BashOperator(task_id="report", bash_command="echo rows for {{ ds }}; wc -l < /data/in.csv",
                 env={"LANG": "C.UTF-8"}, append_env=True)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Container, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dockyard.container.options import ContainerOptions
from dockyard.errors import DagDefinitionError
from dockyard.operators.python import runner_options
from dockyard.operators.task_image import TaskImageOperator

if TYPE_CHECKING:
    from dockyard.settings import Settings

UTF8 = ("utf-8", "utf8", "UTF-8", "UTF8")


class BashOperator(TaskImageOperator):
    """Run a Bash command (Airflow's ``BashOperator``) inside the task image."""

    template_fields: ClassVar[Sequence[str]] = ("bash_command", "env", "cwd")
    template_fields_renderers: ClassVar[dict[str, str]] = {"bash_command": "bash", "env": "json"}
    template_ext: ClassVar[Sequence[str]] = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_exit_code: int | None = None,
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(bash_command, str) or not bash_command.strip():
            raise DagDefinitionError(
                f"task {self.task_id!r}: bash_command must be a non-empty string such as 'echo {{{{ ds }}}}', "
                f"got {bash_command!r}"
            )
        if output_encoding not in UTF8:
            raise DagDefinitionError(
                f"task {self.task_id!r}: output_encoding={output_encoding!r} is not supported; dockyard reads a "
                "container's output as UTF-8 (leave output_encoding at 'utf-8')"
            )
        if output_processor is not None and getattr(inspect.unwrap(output_processor), "__code__", None) is None:
            raise DagDefinitionError(
                f"task {self.task_id!r}: output_processor must be a function (a def or a lambda), "
                f"got {output_processor!r}"
            )
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = skip_exit_code if skip_exit_code is not None else skip_on_exit_code
        self.cwd = cwd
        self.output_processor = output_processor

    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        """``bash -c`` with the rendered command; ``env`` becomes the container's environment (with
        ``append_env`` or without, the image's own variables such as ``PATH`` stay: they are the image's)."""
        command = str(rendered.get("bash_command", self.bash_command))
        env = rendered.get("env", self.env) or {}
        if not isinstance(env, Mapping):
            raise DagDefinitionError(f"task {self.task_id!r}: env must be a dict of names to values, got {env!r}")
        environment = {str(k): str(v) for k, v in env.items()}
        if self.output_processor is not None:  # the runner runs bash and hands the last line to the function
            return runner_options(
                self,
                self.output_processor,
                context,
                settings,
                skip_on_exit_code=self.skip_on_exit_code,
                environment=environment,
                working_dir=rendered.get("cwd", self.cwd),
                bash_command=command,
            )
        return self.base_options(
            context,
            settings,
            program="bash",
            command=["bash", "-c", command],
            environment=environment,
            working_dir=rendered.get("cwd", self.cwd),
            skip_on_exit_code=self.skip_on_exit_code,
        )

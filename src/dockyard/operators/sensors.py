"""Sensors: tasks that wait for a condition, poking it every ``poke_interval`` until it holds or ``timeout``.

``BaseSensorOperator`` takes Airflow's arguments (``poke_interval``, ``timeout``, ``soft_fail``, ``mode``,
``exponential_backoff``, ``max_wait``, ``silent_fail``, ``never_fail``). A sensor whose ``poke()`` is the
user's code (a subclass, :class:`PythonSensor`, ``@task.sensor``, :class:`FileSensor`) runs it in a container
of the task image, as Airflow runs it in its worker (see :mod:`dockyard.operators.task_image`):

- ``mode="poke"``: one container pokes, sleeps and pokes again until the condition holds or the timeout
  passes (it holds a parallelism slot all the while, as Airflow's poke mode holds a worker slot);
- ``mode="reschedule"``: one short container per poke; between pokes the task instance is
  ``up_for_reschedule`` with its next poke time in the store, and nothing is held: no thread, no container.

Sensors that only watch the clock or dockyard's own store (:mod:`dockyard.operators.scheduler_sensors`) poke
in the scheduler, without a container. The timing rules (backoff, timeout) are in
:mod:`dockyard.sensor_program`, shared by the scheduler and the container.

Example::

    class RowsArrived(BaseSensorOperator):
        template_fields = ("table",)

        def __init__(self, *, table, **kwargs):
            super().__init__(**kwargs)
            self.table = table

        def poke(self, context):
            return count_rows(self.table) > 0      # runs in the task image

    RowsArrived(task_id="wait", table="events_{{ ds_nodash }}", mode="reschedule", poke_interval=300)
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

from dockyard.container.options import ContainerOptions
from dockyard.errors import DagDefinitionError
from dockyard.operators.python import PULLED, _pulled, plain_context, runner_options
from dockyard.operators.task_image import TaskImageOperator, dag_folder_mount, inside
from dockyard.sensor_program import PokeReturnValue

if TYPE_CHECKING:
    from dockyard.settings import Settings

__all__ = [
    "BaseSensorOperator",
    "BashSensor",
    "FileSensor",
    "PokeReturnValue",
    "PythonSensor",
    "poke_mode_only",
    "sensor_task",
]

MODES = ("poke", "reschedule")
DEFAULT_SENSOR_TIMEOUT = 7 * 24 * 60 * 60
"""Airflow's ``[sensors] default_timeout``: a week."""
START = (
    'import os;r={"__name__":"dockyard_task_runner"};'
    'exec(compile(os.environ["DOCKYARD_RUNNER"],"dockyard-task-runner","exec"),r);'
    'exec(compile(os.environ["DOCKYARD_SENSOR"],"dockyard-sensor","exec"),{"__name__":"__main__","RUNNER":r})'
)
"""A sensor container's command: load the task runner's helpers, then run the poke loop with them."""
_NOT_ATTRIBUTES = frozenset({"task_group", "upstream_task_ids", "downstream_task_ids", "executor_config", "params"})


def _seconds(task_id: str, name: str, value: object, *, optional: bool = False) -> float | None:
    """A non-negative number of seconds from a number or a ``timedelta`` (Airflow accepts both)."""
    if value is None and optional:
        return None
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DagDefinitionError(
            f"task {task_id!r}: {name} must be a non-negative number of seconds or a timedelta, got {value!r}"
        )
    return float(value)


def sensor_source() -> str:
    return resources.files("dockyard").joinpath("sensor_program.py").read_text(encoding="utf-8")


class BaseSensorOperator(TaskImageOperator):
    """Airflow's ``BaseSensorOperator``: subclasses define ``poke(context)``, which returns True (or a
    :class:`PokeReturnValue`) once the condition holds. See the module docstring for where it runs."""

    ui_color = "#e6f1f2"
    valid_modes: ClassVar[Sequence[str]] = MODES
    pokes_in_scheduler: ClassVar[bool] = False
    """The built-in clock and store sensors poke in the scheduler; a ``poke()`` of the user's runs in a container."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "poke" in cls.__dict__ and cls.__dict__.get("pokes_in_scheduler") is None:
            cls.pokes_in_scheduler = False  # a subclass with a poke() of its own runs it in the task image
        cls.runs_in_container = not cls.pokes_in_scheduler

    def __init__(
        self,
        *,
        poke_interval: dt.timedelta | float = 60,
        timeout: dt.timedelta | float = DEFAULT_SENSOR_TIMEOUT,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: dt.timedelta | float | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds(self.task_id, "poke_interval", poke_interval)
        self.timeout = _seconds(self.task_id, "timeout", timeout)
        self.max_wait = _seconds(self.task_id, "max_wait", max_wait, optional=True)
        if mode not in self.valid_modes:
            raise DagDefinitionError(
                f"task {self.task_id!r}: mode must be one of {', '.join(map(repr, self.valid_modes))}, got {mode!r}"
            )
        if soft_fail and never_fail:
            raise DagDefinitionError(
                f"task {self.task_id!r}: soft_fail and never_fail cannot both be set (never_fail skips on any "
                "error, soft_fail only on a timeout)"
            )
        self.mode = mode
        self.soft_fail = soft_fail
        self.exponential_backoff = exponential_backoff
        self.silent_fail = silent_fail
        self.never_fail = never_fail
        # The verdict travels back in the result file; what is pushed as the XCom is decided from it.
        self.pushes_xcom = self.do_xcom_push
        self.do_xcom_push = True
        self.multiple_outputs = False
        own = type(self).poke is not BaseSensorOperator.poke
        if self.runs_in_container and not own and type(self).container_options is BaseSensorOperator.container_options:
            raise DagDefinitionError(
                f"task {self.task_id!r}: {type(self).__name__} is a sensor without a poke(self, context) method; "
                "define one that returns True once the condition holds"
            )

    @property
    def reschedule(self) -> bool:
        return self.mode == "reschedule"

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """The condition: True (or ``PokeReturnValue(True, xcom_value)``) once it holds."""
        raise NotImplementedError(f"{type(self).__name__}.poke")

    def timing(self) -> dict[str, Any]:
        """What the scheduler and the container need to time pokes (see :mod:`dockyard.sensor_program`)."""
        return {
            "dag_id": self.dag.dag_id if self.dag is not None else "",
            "task_id": self.task_id,
            "mode": self.mode,
            "poke_interval": self.poke_interval,
            "timeout": self.timeout,
            "exponential_backoff": bool(self.exponential_backoff),
            "max_wait": self.max_wait,
            "soft_fail": bool(self.soft_fail),
            "silent_fail": bool(self.silent_fail),
            "never_fail": bool(self.never_fail),
            "push": bool(self.pushes_xcom),
        }

    def sensor_spec(self) -> dict[str, Any]:
        """The stored form of this sensor (in the serialized DAG): its timing and what it watches."""
        return {**self.timing(), "kind": "container"}

    # -- the container -----------------------------------------------------------------------
    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        """A container that runs the class's ``poke`` on an object holding the task's (rendered) attributes."""
        attributes = plain_context({k: v for k, v in vars(self).items() if k not in _NOT_ATTRIBUTES})
        attributes.update(plain_context(rendered))
        return self.poke_container(context, settings, type(self).poke, kind="method", attributes=attributes)

    def poke_container(
        self,
        context: Mapping[str, Any],
        settings: Settings,
        function: Callable[..., Any],
        *,
        kind: str,
        **values: Any,
    ) -> ContainerOptions:
        """The task runner's container (see :func:`~dockyard.operators.python.runner_options`), running the
        poke loop of :mod:`dockyard.sensor_program` on ``function``."""
        passed = ("op_args", "op_kwargs", "templates_dict", "environment")
        arguments = {k: values.pop(k) for k in passed if k in values}
        spec = {**self.timing(), "kind": kind, "started_at": dt.datetime.now(dt.timezone.utc).isoformat(), **values}
        options = runner_options(self, function, context, settings, sensor=spec, **arguments)
        return options.render(
            {
                "command": ["python3", "-c", START],
                "environment": {**options.environment, "DOCKYARD_SENSOR": sensor_source()},
            }
        )


class PythonSensor(BaseSensorOperator):
    """Airflow's ``PythonSensor``: ``python_callable`` (in the task image) returns True once the condition holds."""

    template_fields: ClassVar[Sequence[str]] = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable) or getattr(inspect.unwrap(python_callable), "__code__", None) is None:
            raise DagDefinitionError(
                f"task {self.task_id!r}: python_callable must be a function defined in Python code (a def or a "
                f"lambda), got {python_callable!r}"
            )
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        return self.poke_container(
            context,
            settings,
            self.python_callable,
            kind="callable",
            op_args=[_pulled(v) for v in rendered.get("op_args", self.op_args)],
            op_kwargs={k: _pulled(v) for k, v in rendered.get("op_kwargs", self.op_kwargs).items()},
            templates_dict=rendered.get("templates_dict", self.templates_dict),
        )


class FileSensor(BaseSensorOperator):
    """Airflow's ``FileSensor``: waits until a file (or a folder holding a file) matches ``filepath``.

    ``filepath`` is templated and may be a glob (``**`` with ``recursive=True``); it is joined to the
    ``path`` in the extra of the ``fs_conn_id`` connection (none needed for ``fs_default``). The check runs in
    the task image: a path inside the DAG folder is found there (it is mounted), other paths through the
    mounts the task's ``executor_config`` gives it, e.g. ``{"mounts": ["/srv/in:/srv/in:ro"]}``.
    """

    template_fields: ClassVar[Sequence[str]] = ("filepath",)
    ui_color = "#91818a"

    def __init__(
        self,
        *,
        filepath: str,
        fs_conn_id: str = "fs_default",
        recursive: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        if deferrable:  # no triggerer here: reschedule mode likewise holds nothing between pokes
            kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        if not isinstance(filepath, str) or not filepath:
            raise DagDefinitionError(f"task {self.task_id!r}: filepath must be a path such as '/data/in.csv'")
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        path = os.path.join(self._base_path(context), str(rendered.get("filepath", self.filepath)))
        root, _ = dag_folder_mount(self, settings)
        seen = inside(path, root) if os.path.isabs(path) else None
        return self.poke_container(
            context, settings, type(self).poke, kind="file", path=seen or path, recursive=bool(self.recursive)
        )

    def _base_path(self, context: Mapping[str, Any]) -> str:
        """The ``path`` of the connection's extra (Airflow's ``FSHook``); none for a missing ``fs_default``."""
        accessor = context.get("conn")
        if accessor is None:
            return ""
        try:
            conn = accessor.get(self.fs_conn_id)
        except LookupError:
            if self.fs_conn_id == "fs_default":
                return ""
            raise DagDefinitionError(
                f"task {self.task_id!r}: FileSensor fs_conn_id {self.fs_conn_id!r} is not a connection; create it "
                f'(`dockyard connections add {self.fs_conn_id} --conn-type fs --conn-extra \'{{"path": "/data"}}\'`) '
                "or leave fs_conn_id at 'fs_default'"
            ) from None
        return str((getattr(conn, "extra_dejson", None) or {}).get("path", ""))


class BashSensor(BaseSensorOperator):
    """Airflow's ``BashSensor``: ``bash_command`` (templated) runs with bash in the task image at every poke;
    exit code 0 means done. With ``retry_exit_code``, only that code means "not yet" and any other fails the
    task; without it, any non-zero code means "not yet". ``env`` is the container's environment."""

    template_fields: ClassVar[Sequence[str]] = ("bash_command", "env")
    template_ext: ClassVar[Sequence[str]] = (".sh", ".bash")

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(bash_command, str) or not bash_command.strip():
            raise DagDefinitionError(
                f"task {self.task_id!r}: bash_command must be a non-empty string such as "
                "'test -s /data/{{ ds }}.csv'"
            )
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code

    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        env = rendered.get("env", self.env) or {}
        if not isinstance(env, Mapping):
            raise DagDefinitionError(f"task {self.task_id!r}: env must be a dict of names to values, got {env!r}")
        return self.poke_container(
            context,
            settings,
            type(self).container_options,
            kind="bash",
            command=str(rendered.get("bash_command", self.bash_command)),
            retry_exit_code=self.retry_exit_code,
            environment={str(k): str(v) for k, v in env.items()},
        )


def sensor_task(python_callable: Callable[..., Any] | None = None, **operator_kwargs: Any) -> Any:
    """``@task.sensor(poke_interval=..., timeout=..., mode=...)``: the function is a :class:`PythonSensor`'s
    callable; it returns True or ``PokeReturnValue(is_done, xcom_value)``."""
    from dockyard.decorators import XComArg, _decorator

    def argument(value: Any) -> Any:
        if isinstance(value, XComArg):
            return {PULLED: value.template()}
        return value

    return _decorator(PythonSensor, python_callable, operator_kwargs, argument)


def poke_mode_only(cls: type[BaseSensorOperator]) -> type[BaseSensorOperator]:
    """Airflow's class decorator for sensors that are only safe in poke mode: any other mode is refused."""
    if not (isinstance(cls, type) and issubclass(cls, BaseSensorOperator)):
        raise DagDefinitionError(f"poke_mode_only decorates subclasses of BaseSensorOperator, got {cls!r}")
    original = cls.__init__

    @functools.wraps(original)
    def init(self: BaseSensorOperator, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("mode", "poke") != "poke":
            raise DagDefinitionError(
                f"task {kwargs.get('task_id')!r}: {cls.__name__} works in poke mode only (it is @poke_mode_only), "
                f"got mode={kwargs['mode']!r}"
            )
        original(self, *args, **kwargs)

    cls.__init__ = init  # type: ignore[method-assign]
    cls.valid_modes = ("poke",)  # also refuses reschedule mode where __init__ is bypassed (a mapped task's timing)
    return cls

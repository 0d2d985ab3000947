"""``PythonOperator``: Airflow's Python task, its callable called inside a container of the task image.

The DAG folder is mounted read-only at :data:`~dockyard.operators.task_image.DAGS_MOUNT` with ``PYTHONPATH``
pointing at it, so module-level imports and helper modules next to the DAG file work as in Airflow. A small
standard-library program (:mod:`dockyard.task_runner`, sent as ``python3 -c``) imports the DAG file, finds
the callable and calls it with the rendered ``op_args``/``op_kwargs`` and the context keys it asks for; the
task image needs ``python3`` and whatever the user's code imports, not dockyard.

The return value comes back as JSON in a result file, read with ``retrieve_output``: a file, not the last
line of output, because the callable prints what it likes (and a large value would flood the task log).

Example::

    def total(rows, ds=None):
        return {"day": ds, "rows": rows}

    PythonOperator(task_id="total", python_callable=total, op_kwargs={"rows": 3})
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

from dockyard.container.options import ContainerOptions
from dockyard.errors import DagDefinitionError
from dockyard.operators.task_image import DAGS_MOUNT, TaskImageOperator, dag_folder_mount, inside, mount_source

if TYPE_CHECKING:
    from dockyard.settings import Settings

RESULT_PATH = "/tmp/dockyard_task_result.json"
SKIP_EXIT_CODE = 99
"""The runner's exit code when the callable raises ``AirflowSkipException``."""
PULLED = "__dockyard_pulled__"
"""Marks, in ``op_args``/``op_kwargs``, the positions that hold an upstream XCom (a ``@task`` result)."""
START = 'import os;exec(compile(os.environ["DOCKYARD_RUNNER"],"dockyard-task-runner","exec"))'
"""The container's command: short to read in messages; the runner's text travels in the environment."""


def runner_source() -> str:
    return resources.files("dockyard").joinpath("task_runner.py").read_text(encoding="utf-8")


class PythonOperator(TaskImageOperator):
    """Call a Python function (Airflow's ``PythonOperator``) inside the task image."""

    template_fields: ClassVar[Sequence[str]] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers: ClassVar[dict[str, str]] = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"task {self.task_id!r}: python_callable must be a function, got {type(python_callable).__name__}"
            )
        function = inspect.unwrap(python_callable)
        if getattr(function, "__code__", None) is None:
            raise DagDefinitionError(
                f"task {self.task_id!r}: python_callable {python_callable!r} is not a function defined in Python "
                "code (a def or a lambda); the container finds it by its name and line in the DAG folder"
            )
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = tuple(templates_exts)  # type: ignore[misc]  # Airflow sets it per task too
        self.show_return_value_in_logs = show_return_value_in_logs

    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        return runner_options(
            self,
            self.python_callable,
            context,
            settings,
            op_args=[_pulled(v) for v in rendered.get("op_args", self.op_args)],
            op_kwargs={k: _pulled(v) for k, v in rendered.get("op_kwargs", self.op_kwargs).items()},
            templates_dict=rendered.get("templates_dict", self.templates_dict),
            **self.runner_extra(rendered),
        )

    def runner_extra(self, rendered: Mapping[str, Any]) -> dict[str, Any]:
        """More for :func:`runner_options` (another interpreter, a virtualenv, a Bash command): subclasses'."""
        return {}


def runner_options(
    task: TaskImageOperator,
    python_callable: Callable[..., Any],
    context: Mapping[str, Any],
    settings: Settings,
    *,
    skip_on_exit_code: Any = SKIP_EXIT_CODE,
    environment: Mapping[str, str] | None = None,
    working_dir: str | None = None,
    python: str = "python3",
    **extra: Any,
) -> ContainerOptions:
    """The container that runs :mod:`dockyard.task_runner` to call ``python_callable`` (``extra`` adds to
    what the runner gets: the arguments, or a Bash command whose last line goes to the callable)."""
    root, dag_file = dag_folder_mount(task, settings)
    function = inspect.unwrap(python_callable)
    code = function.__code__
    ti = context["ti"]
    payload = {
        "dag_file": dag_file,
        "callable": {
            "qualname": function.__qualname__,
            "line": code.co_firstlineno,
            "file": inside(code.co_filename, root),
            "module": function.__module__,
        },
        "op_args": [],
        "op_kwargs": {},
        "templates_dict": None,
        "context": plain_context(context),
        "ti": {
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            "run_id": ti.run_id,
            "try_number": ti.try_number,
            "map_index": ti.map_index,
            "logical_date": _encode(ti.logical_date),
        },
        "dag_run": _encode(_run_facts(context)),
        "xcoms": {up: ti.xcom_pull(task_ids=up) for up in sorted(task.upstream_task_ids)},
        "keyed_xcoms": _keyed_xcoms(task, ti),
        "result_path": RESULT_PATH,
        "push": bool(task.do_xcom_push or task.needs_result),
        "multiple_outputs": bool(task.multiple_outputs),
        **extra,
    }
    try:
        encoded = json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise DagDefinitionError(
            f"task {task.task_id!r}: op_args, op_kwargs and templates_dict must be plain data (JSON) to reach "
            f"the container: {exc}"
        ) from None
    folders = dict.fromkeys([DAGS_MOUNT, dag_file.rsplit("/", 1)[0]])  # Airflow: the DAG folder on sys.path
    return task.base_options(
        context,
        settings,
        program=python,
        command=[python, "-c", START],
        environment={
            **(environment or {}),
            "DOCKYARD_TASK": encoded,
            "DOCKYARD_RUNNER": runner_source(),
            "DOCKYARD_START": START,
            "PYTHONPATH": ":".join(folders),
            "PYTHONUNBUFFERED": "1",
        },
        mounts=[f"{mount_source(root, settings)}:{DAGS_MOUNT}:ro"],
        working_dir=working_dir,
        retrieve_output=True,
        retrieve_output_path=RESULT_PATH,
        skip_on_exit_code=skip_on_exit_code,
    )


def _keyed_xcoms(task: TaskImageOperator, ti: Any) -> list[Any]:
    """The XComs the task's upstream tasks (direct or not) pushed under keys other than ``return_value``:
    what ``ti.xcom_pull(key=...)`` finds in the container. Only theirs, because the values travel in the
    container's environment, which has a size limit."""
    ancestors: set[str] = set()
    stack = list(task.upstream_task_ids)
    while stack:
        task_id = stack.pop()
        if task_id not in ancestors:
            ancestors.add(task_id)
            upstream = task.dag.task_dict.get(task_id) if task.dag is not None else None
            stack.extend(upstream.upstream_task_ids if upstream is not None else ())
    rows = ti.keyed_xcoms() if hasattr(ti, "keyed_xcoms") else []
    return [_encode(list(row)) for row in rows if row[0] in ancestors]


def _pulled(value: Any) -> Any:
    """An argument as the callable gets it: an upstream XCom (rendered as JSON text) decoded."""
    if isinstance(value, dict) and set(value) == {PULLED}:
        inner = value[PULLED]
        return json.loads(inner) if isinstance(inner, str) else inner
    return value


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def plain_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context keys whose values are plain data (dates included, as ``{"$date": iso}``); objects such as
    ``dag``, ``task``, ``ti`` and ``dag_run`` are rebuilt from their facts by the runner."""
    plain: dict[str, Any] = {}
    for name, value in context.items():
        if name.startswith("_") or name in ("ti", "task_instance", "dag", "task", "dag_run", "templates_dict"):
            continue
        encoded = _encode(value)
        if _json_safe(encoded):
            plain[name] = encoded
    return plain


def _run_facts(context: Mapping[str, Any]) -> dict[str, Any]:
    run = context.get("dag_run")
    names = ("run_id", "conf", "logical_date", "data_interval_start", "data_interval_end", "run_type")
    facts = {name: getattr(run, name, None) for name in names}
    facts["run_id"] = facts["run_id"] or context.get("run_id")
    return {k: v for k, v in facts.items() if _json_safe(_encode(v))}

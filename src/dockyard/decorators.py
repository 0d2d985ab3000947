"""``@task`` and ``@task.docker``: a Python function that runs inside an image, its arguments in and its
result out.

``@task`` is Airflow's TaskFlow task: a :class:`~dockyard.operators.python.PythonOperator` whose callable
runs in the task image with the DAG folder mounted. ``@task.docker`` is the Docker provider's decorator:

The function's source and its arguments travel into the container; what it returns comes back as the
task's XCom. Arguments and results are JSON by default; ``serializer="pickle"`` returns a pickle, read
back through dockyard's restricted unpickler (plain data only). Calling the decorated function inside a
DAG creates the task; passing one task's result to another creates the dependency and the XCom pull::

    @task.docker(image="python:3.12-slim")
    def count(day: str) -> int: ...

    @task.docker(image="python:3.12-slim")
    def report(n: int) -> str: ...

    report(count("{{ ds }}"))
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import json
import textwrap
import typing
from collections.abc import Callable
from typing import Any, cast

from dockyard.dag import current_dag
from dockyard.errors import DagDefinitionError
from dockyard.mapping import ExpandInput, MappedOperator, ZipXComArg, decorated_mapped
from dockyard.operators.base import BaseOperator
from dockyard.operators.docker import DockerOperator
from dockyard.operators.python import PULLED, PythonOperator
from dockyard.taskgroup import current_group

RESULT_PATH = "/tmp/dockyard_result"
RUNNER = """
import json, os, sys
{source}
def _value(raw):
    return json.loads(raw[2:]) if raw.startswith("J:") else raw[2:]
args = [_value(os.environ[f"DOCKYARD_ARG_{{i}}"]) for i in range(int(os.environ["DOCKYARD_NARGS"]))]
kwargs = {{k: _value(os.environ["DOCKYARD_KWARG_" + k]) for k in json.loads(os.environ["DOCKYARD_KWARG_NAMES"])}}
result = {name}(*args, **kwargs)
if os.environ["DOCKYARD_SERIALIZER"] == "pickle":
    import pickle
    with open("{path}", "wb") as handle:
        pickle.dump(result, handle)
else:
    with open("{path}", "w") as handle:
        json.dump(result, handle)
"""


class XComArg:
    """The future result of a decorated task: passing it to another task pulls its XCom there.
    ``result["key"]`` is the XCom of one key of a ``multiple_outputs`` task."""

    def __init__(self, operator: BaseOperator, key: str = "return_value") -> None:
        self.operator = operator
        self.key = key

    def template(self) -> str:
        key = "" if self.key == "return_value" else f", key={self.key!r}"
        return "{{ ti.xcom_pull(task_ids=" + repr(self.operator.task_id) + key + ") | tojson }}"

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.operator, key)

    def __rshift__(self, other: Any) -> Any:
        return self.operator >> (other.operator if isinstance(other, XComArg) else other)

    def __rrshift__(self, other: Any) -> XComArg:
        (other.operator if isinstance(other, XComArg) else other) >> self.operator
        return self

    def __lshift__(self, other: Any) -> Any:
        return self.operator << (other.operator if isinstance(other, XComArg) else other)

    def __rlshift__(self, other: Any) -> XComArg:
        (other.operator if isinstance(other, XComArg) else other) << self.operator
        return self

    def as_setup(self) -> XComArg:
        self.operator.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> XComArg:
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    @property
    def output(self) -> XComArg:
        return self

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.operator.__exit__(*exc)

    def zip(self, *others: Any, fillvalue: Any = ZipXComArg._NOTSET) -> ZipXComArg:
        """Airflow's ``XComArg.zip``: map over the tuples of this result's and ``others``' elements."""
        return ZipXComArg([self, *others], fillvalue)

    def map(self, function: Callable[..., Any]) -> Any:
        """Airflow's ``XComArg.map`` runs ``function`` in the worker; here it would have to run in a container."""
        raise DagDefinitionError(
            f"the result of task {self.operator.task_id!r}: XComArg.map() is not supported by dockyard; transform "
            "the elements inside the mapped task's callable (or in a @task between the two)"
        )


class DockerPythonOperator(DockerOperator):
    """The operator behind ``@task.docker``: ``python3 -c`` with the function's source."""

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: list[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        python_command: str = "python3",
        serializer: str = "json",
        use_dill: bool = False,
        multiple_outputs: bool = False,
        **kwargs: Any,
    ) -> None:
        if serializer not in ("json", "pickle") or use_dill:
            raise DagDefinitionError(
                f"@task.docker serializer={serializer!r}: use 'json' (the default) or 'pickle' "
                "(read back as plain data only)"
            )
        source = textwrap.dedent(inspect.getsource(python_callable))
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("@"))
        script = RUNNER.format(source=source, name=python_callable.__name__, path=RESULT_PATH)
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        environment = dict(kwargs.pop("environment", None) or {})
        for index, value in enumerate(self.op_args):
            environment[f"DOCKYARD_ARG_{index}"] = _encoded(value)
        for name, value in self.op_kwargs.items():
            environment[f"DOCKYARD_KWARG_{name}"] = _encoded(value)
        environment["DOCKYARD_NARGS"] = str(len(self.op_args))
        environment["DOCKYARD_KWARG_NAMES"] = json.dumps(list(self.op_kwargs))
        environment["DOCKYARD_SERIALIZER"] = serializer
        super().__init__(
            command=[python_command, "-c", script],
            environment=environment,
            retrieve_output=True,
            retrieve_output_path=RESULT_PATH,
            multiple_outputs=multiple_outputs,
            **kwargs,
        )
        self.python_callable = python_callable


def _encoded(value: Any) -> str:
    """``J:<json>`` for values (an upstream result becomes its XCom as JSON); ``T:<text>`` for a templated
    string, which reaches the function as the rendered text."""
    if isinstance(value, XComArg):
        return "J:" + value.template()
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return "T:" + value
    return "J:" + json.dumps(value)


def docker_task(python_callable: Callable[..., Any] | None = None, **operator_kwargs: Any) -> Any:
    """``@task.docker(image=..., ...)``: every DockerOperator argument is accepted."""
    return _decorator(DockerPythonOperator, python_callable, operator_kwargs, lambda value: value)


def python_task(
    python_callable: Callable[..., Any] | None = None,
    operator_class: type[PythonOperator] = PythonOperator,
    **operator_kwargs: Any,
) -> Any:
    """``@task`` / ``@task(...)``: a :class:`PythonOperator` (every argument of it is accepted); an upstream
    result passed in is pulled by a template rendered before the container starts. A return annotation of
    ``dict`` turns ``multiple_outputs`` on, as in Airflow. ``operator_class`` gives ``@task.branch``,
    ``@task.short_circuit``, ``@task.bash``, ``@task.virtualenv`` and ``@task.external_python`` their operator."""

    def pulled(value: Any) -> Any:
        if isinstance(value, XComArg):
            return {PULLED: value.template()}
        if isinstance(value, (list, tuple, dict)) and _holds_xcom(value):
            raise DagDefinitionError(
                "an upstream @task result inside a list or dict argument is not supported yet; pass it as an "
                "argument of its own"
            )
        return value

    return _decorator(operator_class, python_callable, operator_kwargs, pulled)


def setup_task(python_callable: Callable[..., Any] | None = None, **operator_kwargs: Any) -> Any:
    """``@setup``: a ``@task`` (or an already decorated one) whose task is a setup task."""
    return _marked(python_callable, operator_kwargs, "as_setup")


def teardown_task(
    python_callable: Callable[..., Any] | None = None, *, on_failure_fail_dagrun: bool = False, **operator_kwargs: Any
) -> Any:
    """``@teardown``: a ``@task`` (or an already decorated one) whose task is a teardown task."""
    return _marked(python_callable, operator_kwargs, "as_teardown", on_failure_fail_dagrun=on_failure_fail_dagrun)


def _marked(python_callable: Callable[..., Any] | None, operator_kwargs: dict[str, Any], how: str, **marks: Any) -> Any:
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        made = function if getattr(function, "_dockyard_task", False) else python_task(function, **operator_kwargs)

        @functools.wraps(function)
        def make(*args: Any, **kwargs: Any) -> Any:
            result = made(*args, **kwargs)
            getattr(result, how)(**marks)
            return result

        make._dockyard_task = True  # type: ignore[attr-defined]
        return make

    return decorate(python_callable) if python_callable is not None else decorate


def _holds_xcom(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(v, XComArg) or (isinstance(v, (list, tuple, dict)) and _holds_xcom(v)) for v in items)


def _returns_dict(function: Callable[..., Any]) -> bool:
    try:
        annotation = typing.get_type_hints(function).get("return")
    except Exception:  # noqa: BLE001 - an annotation that does not evaluate infers nothing, as in Airflow
        return False
    return annotation is dict or typing.get_origin(annotation) in (dict, collections.abc.Mapping)


def _decorator(
    operator_class: type[BaseOperator],
    python_callable: Callable[..., Any] | None,
    operator_kwargs: dict[str, Any],
    argument: Callable[[Any], Any],
) -> Any:
    """The decorator both ``@task`` and ``@task.docker`` are: calling the function inside a DAG creates the
    task (a unique task_id), upstream results become dependencies, the result is an :class:`XComArg`."""

    def decorate(function: Callable[..., Any]) -> Callable[..., XComArg]:
        def make(*args: Any, **kwargs: Any) -> XComArg:
            task_id = _unique_task_id(operator_kwargs.get("task_id") or function.__name__)
            options = {k: v for k, v in operator_kwargs.items() if k != "task_id"}
            if issubclass(operator_class, PythonOperator) and "multiple_outputs" not in options:
                options["multiple_outputs"] = _returns_dict(function)
            operator = operator_class(
                task_id=task_id,
                python_callable=function,
                op_args=[argument(v) for v in args],
                op_kwargs={k: argument(v) for k, v in kwargs.items()},
                **options,
            )
            for value in [*args, *kwargs.values()]:
                if isinstance(value, XComArg):
                    value.operator >> operator
            return XComArg(operator)

        make.__name__ = function.__name__
        return TaskFunction(make, operator_class, function, operator_kwargs, argument)

    if python_callable is not None:
        return decorate(python_callable)
    return decorate


def _unique_task_id(task_id: str) -> str:
    """``task_id``, or ``task_id__N`` when the DAG has it already in the current group (a function called
    twice), as in Airflow."""
    dag = current_dag()
    group = current_group()
    prefix = group.child_id("") if group is not None else ""
    if dag is not None and prefix + task_id in dag.task_dict:
        n = 1
        while f"{prefix}{task_id}__{n}" in dag.task_dict:
            n += 1
        task_id = f"{task_id}__{n}"
    return task_id


# -- dynamic task mapping: .partial() / .expand() / .expand_kwargs() on a decorated function ----------------
class TaskFunction:
    """A decorated function: calling it makes a task; ``.partial(**fixed)``, ``.expand(**mapped)`` and
    ``.expand_kwargs(list_of_dicts)`` make a mapped task (one instance per element), as in Airflow."""

    _dockyard_task = True  # ``@setup``/``@teardown`` on top of ``@task`` wrap it, not re-decorate it

    def __init__(
        self,
        make: Callable[..., XComArg],
        operator_class: type[BaseOperator],
        function: Callable[..., Any],
        operator_kwargs: dict[str, Any],
        argument: Callable[[Any], Any],
        fixed: dict[str, Any] | None = None,
    ) -> None:
        self._make = make
        self._operator_class = operator_class
        self._argument = argument
        self.function = function
        self.operator_kwargs = operator_kwargs
        self.fixed = dict(fixed or {})
        self.__name__ = function.__name__
        self.__doc__ = function.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        return self._make(*args, **kwargs)

    def override(self, **operator_kwargs: Any) -> TaskFunction:
        """Airflow's ``.override(task_id=..., retries=..., ...)``: the same function with other operator
        arguments (``@task``'s own and what ``partial`` fixed are kept, the new ones win)."""
        made = _decorator(
            self._operator_class, self.function, {**self.operator_kwargs, **operator_kwargs}, self._argument
        )
        made.fixed = dict(self.fixed)
        return cast(TaskFunction, made)

    def partial(self, **fixed: Any) -> TaskFunction:
        return TaskFunction(
            self._make, self._operator_class, self.function, self.operator_kwargs, self._argument, fixed
        )

    def expand(self, **mapped: Any) -> XComArg:
        if not mapped:
            raise DagDefinitionError(f"{self.__name__}.expand() needs at least one argument to map over")
        return self._mapped(ExpandInput(fields=mapped))

    def expand_kwargs(self, value: Any, *, strict: bool = True) -> XComArg:
        return self._mapped(ExpandInput(kwargs_list=value))

    def _mapped(self, expand_input: ExpandInput) -> XComArg:
        options = {k: v for k, v in self.operator_kwargs.items() if k != "task_id"}
        if self._operator_class is PythonOperator and "multiple_outputs" not in options:
            options["multiple_outputs"] = _returns_dict(self.function)
        options["task_id"] = _unique_task_id(self.operator_kwargs.get("task_id") or self.function.__name__)
        operator: MappedOperator = decorated_mapped(
            self._operator_class,
            self.function,
            options,
            {k: self._argument(v) for k, v in self.fixed.items()},
            expand_input,
        )
        for value in self.fixed.values():
            if isinstance(value, XComArg):
                value.operator >> operator
        return XComArg(operator)

"""Dynamic task mapping (Airflow's ``.partial().expand()``): one task definition, one task instance per input.

``Operator.partial(task_id=..., **fixed).expand(arg=[...])`` gives a :class:`MappedOperator`: a task of the
DAG like any other (dependencies, trigger rule, retries, pool), whose instances are made when its upstream
tasks are done, one per element of what it maps over. It maps over literal lists and dicts, over an upstream
task's result (an :class:`~dockyard.decorators.XComArg`: a list, or a dict whose ``(key, value)`` pairs are
the elements), and over several arguments at once as their cross product (the last argument varies fastest,
as in Airflow). ``.expand_kwargs([...])`` maps over a list of argument dicts; ``XComArg.zip(...)`` pairs
results up. ``@task`` functions map the same way (:func:`decorated_partial`): their arguments are mapped.

The scheduler never imports DAG files, so it sees a mapped task through :func:`describe` (how many
elements each input has, or which upstream XCom to count) and counts its instances with :func:`count`.
The preparation of one instance's try, which does import the DAG file, turns the mapped task back into a
plain operator for its ``map_index`` with :func:`unmap`.

Example::

    BashOperator.partial(task_id="say", retries=1).expand(bash_command=["echo a", "echo b"])   # 2 instances
    add.partial(y=10).expand(x=numbers())                  # one instance per element numbers() returns
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dockyard.dag import DAG, closest, current_dag
from dockyard.errors import DagDefinitionError, UnknownArgumentError, UnmappableResultError
from dockyard.operators.base import BaseOperator
from dockyard.sensor_program import TIMING
from dockyard.taskgroup import current_group

if TYPE_CHECKING:
    from dockyard.decorators import XComArg

NOT_MAPPED = -1
"""The ``map_index`` of a task instance that is not (yet) one of a mapped task's instances (Airflow's -1)."""

XComResolver = Callable[[str, str], Any]
"""``(task_id, key) -> value`` of an upstream XCom in the same run (a mapped upstream: the list of results)."""

_SCHEDULER_ARGUMENTS = frozenset(
    {
        "task_id",
        "dag",
        "task_group",
        "default_args",
        "trigger_rule",
        "retries",
        "retry_delay",
        "retry_exponential_backoff",
        "max_retry_delay",
        "execution_timeout",
        "depends_on_past",
        "wait_for_downstream",
        "pool",
        "pool_slots",
        "priority_weight",
        "weight_rule",
        "queue",
        "start_date",
        "end_date",
        "max_active_tis_per_dag",
        "max_active_tis_per_dagrun",
        "task_concurrency",
        "do_xcom_push",
        "multiple_outputs",
        "on_execute_callback",
        "on_failure_callback",
        "on_success_callback",
        "on_retry_callback",
        "on_skipped_callback",
    }
)
"""BaseOperator's arguments the scheduler needs before a task expands: they go in ``partial()``."""


def _is_xcom(value: Any) -> bool:
    from dockyard.decorators import XComArg

    return isinstance(value, XComArg)


class ZipXComArg:
    """``first.zip(*others)``: the i-th element is the tuple of each input's i-th element; it is as long
    as the shortest input, or the longest when ``fillvalue`` is given (which fills the gaps)."""

    _NOTSET: Any = object()

    def __init__(self, args: Sequence[Any], fillvalue: Any = _NOTSET) -> None:
        for arg in args:
            if not (_is_xcom(arg) or isinstance(arg, (list, tuple, dict))):
                raise DagDefinitionError(
                    f"zip() takes task results (XComArg) or lists, got {type(arg).__name__} {arg!r}"
                )
        self.args = list(args)
        self.fillvalue = fillvalue

    @property
    def filled(self) -> bool:
        return self.fillvalue is not ZipXComArg._NOTSET

    def upstream(self) -> list[BaseOperator]:
        return [arg.operator for arg in self.args if _is_xcom(arg)]

    def resolve(self, resolver: XComResolver) -> list[tuple[Any, ...]]:
        columns = [_elements(_resolved(arg, resolver), "zip()") for arg in self.args]
        size = max(map(len, columns), default=0) if self.filled else min(map(len, columns), default=0)
        return [tuple(col[i] if i < len(col) else self.fillvalue for col in columns) for i in range(size)]


def _resolved(value: Any, resolver: XComResolver) -> Any:
    """A mapped input's value: literal as it is, an upstream result looked up, a zip resolved."""
    if isinstance(value, ZipXComArg):
        return value.resolve(resolver)
    if _is_xcom(value):
        return resolver(value.operator.task_id, value.key)
    return value


def _elements(value: Any, what: str) -> list[Any]:
    """The elements mapped over: a list's items, or a dict's ``(key, value)`` pairs (as Airflow maps)."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, (list, tuple)):
        return list(value)
    raise UnmappableResultError(
        f"{what} maps over a list or a dict, got a value of type {type(value).__name__!r}: {value!r:.200}"
    )


# -- the inputs of a mapped task ---------------------------------------------------------------------------
class ExpandInput:
    """What a mapped task maps over: ``expand(**fields)`` (their cross product) or ``expand_kwargs(value)``."""

    def __init__(self, *, fields: dict[str, Any] | None = None, kwargs_list: Any = None) -> None:
        self.fields = fields
        self.kwargs_list = kwargs_list

    def references(self) -> list[BaseOperator]:
        """The upstream tasks whose results are mapped over (they become dependencies)."""
        values = list(self.fields.values()) if self.fields is not None else [self.kwargs_list]
        found: list[BaseOperator] = []
        for value in values:
            if isinstance(value, ZipXComArg):
                found.extend(value.upstream())
            elif _is_xcom(value):
                found.append(value.operator)
        return found

    def names(self) -> list[str]:
        return list(self.fields) if self.fields is not None else []

    def values_at(self, map_index: int, resolver: XComResolver) -> dict[str, Any]:
        """The mapped arguments of instance ``map_index``."""
        if self.fields is None:
            items = _elements(_resolved(self.kwargs_list, resolver), "expand_kwargs()")
            item = items[map_index]
            if not isinstance(item, dict):
                raise UnmappableResultError(
                    f"expand_kwargs() maps over a list of dicts (argument name -> value); element {map_index} is "
                    f"a {type(item).__name__}: {item!r:.200}"
                )
            return dict(item)
        columns = {name: _elements(_resolved(v, resolver), f"expand({name}=...)") for name, v in self.fields.items()}
        chosen: dict[str, Any] = {}
        rest = map_index
        for name in reversed(list(columns)):  # the last argument varies fastest (Airflow's order)
            column = columns[name]
            chosen[name] = column[rest % len(column)]
            rest //= len(column)
        return {name: chosen[name] for name in columns}


def describe(expand_input: ExpandInput) -> dict[str, Any]:
    """The plain-JSON form the scheduler counts instances from (no values, only lengths and references)."""

    def source(value: Any) -> dict[str, Any]:
        if isinstance(value, ZipXComArg):
            return {"zip": [source(arg) for arg in value.args], "fill": value.filled}
        if _is_xcom(value):
            return {"xcom": [value.operator.task_id, value.key]}
        return {"literal": len(value)}

    if expand_input.fields is None:
        return {"kind": "kwargs", "source": source(expand_input.kwargs_list)}
    return {"kind": "product", "fields": [[name, source(value)] for name, value in expand_input.fields.items()]}


def count(mapping: Mapping[str, Any], resolver: XComResolver, *, limit: int) -> int:
    """How many instances a mapped task described by ``mapping`` (:func:`describe`) has in this run.

    Raises :class:`UnmappableResultError` when an upstream result is not a list or dict, or has more than
    ``limit`` elements (Airflow's ``max_map_length``)."""

    def length(src: Mapping[str, Any], what: str) -> int:
        if "literal" in src:
            return int(src["literal"])
        if "zip" in src:
            sizes = [length(s, what) for s in src["zip"]]
            return (max if src.get("fill") else min)(sizes, default=0)
        task_id, key = src["xcom"]
        size = len(_elements(resolver(task_id, key), f"{what} over the result of task {task_id!r}"))
        if size > limit:
            raise UnmappableResultError(
                f"task {task_id!r} returned {size} elements to map over; the most is {limit} "
                "(DOCKYARD_MAX_MAP_LENGTH, Airflow's max_map_length)"
            )
        return size

    if mapping["kind"] == "kwargs":
        return length(mapping["source"], "expand_kwargs()")
    return math.prod(length(src, f"expand({name}=...)") for name, src in mapping["fields"])


def mapped_sources(mapping: Mapping[str, Any] | None) -> set[str]:
    """The upstream task ids whose results ``mapping`` maps over."""
    found: set[str] = set()

    def walk(src: Mapping[str, Any]) -> None:
        if "xcom" in src:
            found.add(src["xcom"][0])
        for inner in src.get("zip", ()):
            walk(inner)

    if mapping:
        if mapping["kind"] == "kwargs":
            walk(mapping["source"])
        else:
            for _, src in mapping["fields"]:
                walk(src)
    return found


# -- authoring: partial() and expand() ---------------------------------------------------------------------
def _check_mappable(value: Any, what: str) -> None:
    if isinstance(value, (ZipXComArg, list, tuple, dict)) or _is_xcom(value):
        return
    raise DagDefinitionError(
        f"{what} got a {type(value).__name__} ({value!r:.100}); map over a list, a dict or an upstream task's "
        "result (an XComArg)"
    )


class OperatorPartial:
    """``Operator.partial(...)``: the arguments every instance shares; ``expand``/``expand_kwargs`` finish it."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> None:
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{operator_class.__name__}.partial() needs a task_id")
        accepted = operator_class.accepted_arguments() | {"map_index_template"}
        for name in kwargs:
            if name not in accepted:
                raise UnknownArgumentError(
                    f"{operator_class.__name__}.partial() (task_id {kwargs['task_id']!r}) got an unknown argument "
                    f"{name!r}{closest(name, sorted(accepted))}"
                )
        self.operator_class = operator_class
        self.given = set(kwargs)
        self.kwargs = _with_defaults(operator_class, kwargs)
        self.template = self.kwargs.pop("map_index_template", None)

    def expand(self, **mapped: Any) -> MappedOperator:
        return self._mapped(ExpandInput(fields=self._checked(mapped)))

    def expand_kwargs(self, value: Any, *, strict: bool = True) -> MappedOperator:
        _check_mappable(value, f"{self.operator_class.__name__}.expand_kwargs()")
        if isinstance(value, (list, tuple)):
            for item in value:
                if not isinstance(item, dict):
                    raise DagDefinitionError(
                        f"expand_kwargs() maps over a list of dicts (argument name -> value), got an element "
                        f"{item!r:.100}"
                    )
                self._checked(item, one_instance=True)
        return self._mapped(ExpandInput(kwargs_list=value))

    def _checked(self, mapped: dict[str, Any], *, one_instance: bool = False) -> dict[str, Any]:
        """``mapped`` checked: arguments the operator takes, not given twice; each value a list to map over, or
        (``one_instance``: an element of ``expand_kwargs()``) the plain value of one instance."""
        name = self.operator_class.__name__
        if not mapped:
            raise DagDefinitionError(f"{name}.expand() needs at least one argument to map over")
        accepted = self.operator_class.accepted_arguments()
        for key, value in mapped.items():
            if key not in accepted:
                raise UnknownArgumentError(
                    f"{name}.expand() got an unknown argument {key!r}{closest(key, sorted(accepted))}"
                )
            if key in _SCHEDULER_ARGUMENTS:
                raise DagDefinitionError(
                    f"{name}.expand() cannot map over {key!r}: it is a task setting the scheduler needs before the "
                    "task expands; pass it to partial()"
                )
            if key in self.given:
                raise DagDefinitionError(f"{name}: {key!r} is given to both partial() and expand(); give it once")
            if not one_instance:
                _check_mappable(value, f"{name}.expand() argument {key!r}")
        return mapped

    def _mapped(self, expand_input: ExpandInput) -> MappedOperator:
        return MappedOperator(
            operator_class=self.operator_class,
            partial_kwargs=self.kwargs,
            expand_input=expand_input,
            map_index_template=self.template,
        )


def _defaults_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    dag = kwargs.get("dag") or current_dag()
    merged: dict[str, Any] = dict(dag.default_args) if isinstance(dag, DAG) else {}
    group = kwargs.get("task_group") or current_group()
    if group is not None:
        merged.update(group.default_args)
    return merged


def _with_defaults(operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the DAG's and group's ``default_args`` filled in, as a plain operator would get them."""
    merged = {**_defaults_of(kwargs), **(kwargs.get("default_args") or {})}
    accepted = operator_class.accepted_arguments()
    result = dict(kwargs)
    for key, value in merged.items():
        if key in accepted and key not in result and key not in ("dag", "default_args", "task_id"):
            result[key] = value
    result.pop("default_args", None)
    return result


SENSOR_TIMING = frozenset(TIMING)
"""A sensor's arguments that decide when it pokes and how it ends (a mapped sensor's stored timing)."""


class MappedOperator(BaseOperator):
    """A task whose instances are made at run time, one per element of what it maps over."""

    def __init__(
        self,
        *,
        operator_class: type[BaseOperator],
        partial_kwargs: dict[str, Any],
        expand_input: ExpandInput,
        map_index_template: str | None = None,
        into: str | None = None,
    ) -> None:
        base = {k: v for k, v in partial_kwargs.items() if k in BaseOperator.accepted_arguments()}
        super().__init__(**base)
        self.operator_class = operator_class
        self.partial_kwargs = {k: v for k, v in partial_kwargs.items() if k not in ("dag", "task_group", "task_id")}
        self.expand_input = expand_input
        self.map_index_template = map_index_template
        self.into = into
        """``op_kwargs`` for ``@task`` functions (their arguments are mapped), else None (the operator's own)."""
        for upstream in expand_input.references():
            upstream >> self

    @classmethod
    def accepted_arguments(cls) -> frozenset[str]:
        """Only its own: ``default_args`` were merged into ``partial_kwargs`` when ``partial()`` was called."""
        return frozenset({"operator_class", "partial_kwargs", "expand_input", "map_index_template", "into"})

    def __repr__(self) -> str:
        return f"<Mapped({self.operator_class.__name__}): {self.task_id}>"

    @property
    def operator_name(self) -> str:
        return self.operator_class.__name__

    def unmap(self, map_index: int, resolver: XComResolver) -> BaseOperator:
        """The plain operator of instance ``map_index`` (resolving upstream results with ``resolver``)."""
        values = self.expand_input.values_at(map_index, resolver)
        kwargs = dict(self.partial_kwargs)
        if self.into is not None:
            kwargs[self.into] = {**dict(kwargs.get(self.into) or {}), **values}
        else:
            kwargs.update(values)
        name = kwargs.get("container_name")
        if isinstance(name, str) and name and "container_name" not in values:
            kwargs["container_name"] = f"{name}-{map_index}"  # every instance's container needs its own name
        operator = self.operator_class(task_id=self.task_id, **kwargs)
        operator.dag = self.dag
        operator.task_group = self.task_group
        operator.upstream_task_ids = set(self.upstream_task_ids)
        operator.downstream_task_ids = set(self.downstream_task_ids)
        return operator


def partial(operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> OperatorPartial:
    """``BaseOperator.partial``: see :class:`OperatorPartial`."""
    return OperatorPartial(operator_class, kwargs)


def is_mapped(task: Any) -> bool:
    return isinstance(task, MappedOperator)


def serialized_fields(task: BaseOperator) -> dict[str, Any]:
    """What the stored form of a mapped task says beyond BaseOperator's settings: which operator it runs,
    where, and how to count its instances (:func:`describe`)."""
    if not isinstance(task, MappedOperator):
        return {}
    from dockyard.serialized import ENGINE_FIELDS

    kwargs = task.partial_kwargs
    shown = {
        k: kwargs.get(k) if isinstance(kwargs.get(k), (str, list, type(None))) else repr(kwargs.get(k))
        for k in ("image", "command")
    }
    return {
        "operator": task.operator_name,
        "runs_container": task.operator_class.runs_in_container,
        "engine": {k: kwargs[k] for k in ENGINE_FIELDS if kwargs.get(k) is not None},
        "mapping": describe(task.expand_input),
        "sensor": mapped_sensor_spec(task),
        **shown,
    }


def mapped_sensor_spec(task: MappedOperator) -> dict[str, Any] | None:
    """A mapped sensor's stored timing, as its instances have it from ``partial()``; None for other mapped
    tasks. Each instance is a task instance of its own: in poke mode it pokes in its own container (or
    scheduler thread), in reschedule mode it is rescheduled on its own, with its own next poke time and timeout.
    Every verdict carries the timing its instance poked by (:func:`dockyard.sensor_program.with_timing`), so
    timing arguments given to ``expand()`` count too. A clock or store sensor's instance learns what it watches
    when its try is prepared (``prepare``), since ``expand()`` may give it (``target_time=[...]``)."""
    from dockyard.operators.sensors import BaseSensorOperator

    if not issubclass(task.operator_class, BaseSensorOperator):
        return None
    timing = {k: v for k, v in task.partial_kwargs.items() if k in SENSOR_TIMING | {"do_xcom_push"}}
    if task.partial_kwargs.get("deferrable", getattr(task.operator_class, "deferrable_by_default", False)):
        timing.setdefault("mode", "reschedule")  # no triggerer: a deferrable sensor waits in reschedule mode
    probe = object.__new__(task.operator_class)
    BaseSensorOperator.__init__(probe, task_id=task.task_id, **timing)  # only the timing arguments, checked
    dag_id = task.dag.dag_id if task.dag is not None else ""
    if task.operator_class.runs_in_container:
        return {**probe.sensor_spec(), "dag_id": dag_id}
    return {**probe.timing(), "dag_id": dag_id, "prepare": True}


# -- @task functions ---------------------------------------------------------------------------------------
def decorated_mapped(
    operator_class: type[BaseOperator],
    function: Callable[..., Any],
    options: dict[str, Any],
    fixed: dict[str, Any],
    expand_input: ExpandInput,
) -> MappedOperator:
    """The mapped task of a ``@task`` function: ``fixed`` (from ``.partial()``) and the mapped values become
    the function's keyword arguments (``op_kwargs``); ``options`` are the decorator's operator arguments."""
    options = dict(options)
    template = options.pop("map_index_template", None)
    parameters = inspect.signature(function).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    names = [*expand_input.names(), *fixed]
    if expand_input.fields is not None:
        for key, value in expand_input.fields.items():
            _check_mappable(value, f"{function.__name__}.expand() argument {key!r}")
            if key in fixed:
                raise DagDefinitionError(
                    f"{function.__name__}: {key!r} is given to both partial() and expand(); give it once"
                )
    else:
        _check_mappable(expand_input.kwargs_list, f"{function.__name__}.expand_kwargs()")
    for key in names:
        if not takes_any and key not in parameters:
            raise UnknownArgumentError(
                f"{function.__name__}() has no parameter {key!r}{closest(key, list(parameters))}; mapped and "
                "partial arguments are the function's keyword arguments"
            )
    return MappedOperator(
        operator_class=operator_class,
        partial_kwargs=_with_defaults(
            operator_class, {**options, "python_callable": function, "op_args": [], "op_kwargs": fixed}
        ),
        expand_input=expand_input,
        map_index_template=template,
        into="op_kwargs",
    )


def xcom_upstreams(values: Sequence[Any]) -> list[XComArg]:
    """The upstream results among ``values`` (partial arguments of a ``@task``: they become dependencies)."""
    return [v for v in values if _is_xcom(v)]


# -- the scheduler's side: instance states and results that cannot be mapped ------------------------------
def combined_state(states: Sequence[str | None]) -> str | None:
    """One state for all instances of a mapped task, for the run's end state: an unfinished instance's
    state while any is unfinished, else the worst (failed, upstream_failed, success, skipped)."""
    from dockyard.states import FINISHED_STATES, TaskState

    for state in states:
        if state not in FINISHED_STATES:
            return state
    for worst in (TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SUCCESS):
        if worst in states:
            return str(worst.value)
    return str(TaskState.SKIPPED.value)


def unmappable(mappings: Sequence[Mapping[str, Any] | None], task_id: str, value: Any, *, limit: int) -> str | None:
    """Why the result ``value`` of task ``task_id`` cannot be mapped over by the tasks whose mappings are
    ``mappings``, or None. Airflow fails the task that returned it, so its retries and callbacks apply."""
    for mapping in mappings:
        if not mapping or task_id not in mapped_sources(mapping):
            continue
        try:
            count(mapping, lambda t, key: value if key == "return_value" else _key_of(value, key), limit=limit)
        except UnmappableResultError as exc:
            return f"a downstream task maps over this result: {exc}"
    return None


def _key_of(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None

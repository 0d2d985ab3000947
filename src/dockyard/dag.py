"""The ``DAG``: a set of tasks, their dependencies and the defaults they share.

Written like Airflow's, so DAG files carry over::

    with DAG("etl", start_date=datetime(2024, 1, 1), schedule="@daily",
             default_args={"retries": 2}) as dag:
        extract = DockerOperator(task_id="extract", image="etl:1", command="extract {{ ds }}")
        load = DockerOperator(task_id="load", image="etl:1", command="load")
        extract >> load
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import jinja2

from dockyard.arguments import DAG_ARGUMENTS, warn_unhonoured
from dockyard.errors import DagDefinitionError, UnknownArgumentError

if TYPE_CHECKING:
    from dockyard.operators.base import BaseOperator

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
"""What a ``dag_id`` or ``task_id`` may be made of (Airflow's rule)."""

_dag_stack: ContextVar[tuple[DAG, ...]] = ContextVar("dockyard_dag_stack", default=())
"""The open ``with DAG(...)`` blocks, innermost last; a context variable, so threads never share one."""

_collected: ContextVar[list[DAG] | None] = ContextVar("dockyard_collected_dags", default=None)
"""While a DAG file is loaded, every DAG it creates is recorded here (see :mod:`dockyard.dagbag`)."""


def current_dag() -> DAG | None:
    """The DAG of the innermost ``with DAG(...)`` block, if any."""
    stack = _dag_stack.get()
    return stack[-1] if stack else None


@contextmanager
def collecting_dags() -> Iterator[list[DAG]]:
    """Record every DAG created inside the block (a DAG file's import), in creation order."""
    created: list[DAG] = []
    token = _collected.set(created)
    try:
        yield created
    finally:
        _collected.reset(token)


def validate_id(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid id, or raise an error saying what an id may contain."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise DagDefinitionError(f"{kind} {value!r} is not valid: use 1 to 250 letters, digits, '_', '-' or '.'")
    return value


def closest(name: str, choices: Sequence[str]) -> str:
    """A hint naming the accepted spelling closest to ``name``, or an empty string."""
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def as_utc(value: datetime | None) -> datetime | None:
    """Treat a naive datetime as UTC, as Airflow does with its default timezone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


class DAG:
    """A directed acyclic graph of tasks with a schedule and shared defaults.

    Accepts Airflow's ``DAG`` arguments; ``schedule_interval`` is the deprecated spelling of
    ``schedule``.
    """

    _ACCEPTED = (
        "dag_id",
        "description",
        "schedule",
        "schedule_interval",
        "timetable",
        "start_date",
        "end_date",
        "default_args",
        "params",
        "catchup",
        "tags",
        "max_active_runs",
        "max_active_tasks",
        "concurrency",
        "dagrun_timeout",
        "doc_md",
        "is_paused_upon_creation",
        "template_searchpath",
        "template_undefined",
        "user_defined_macros",
        "user_defined_filters",
        "render_template_as_native_obj",
        "on_success_callback",
        "on_failure_callback",
        "access_control",
        "owner_links",
        "fileloc",
        "jinja_environment_kwargs",
        "sla_miss_callback",
        "default_view",
        "orientation",
        "full_filepath",
        "auto_register",
        "fail_stop",
        "dag_display_name",
        "max_consecutive_failed_dag_runs",
    )

    def __init__(self, dag_id: str, *args: Any, **kwargs: Any) -> None:
        unknown = [k for k in kwargs if k not in self._ACCEPTED]
        if unknown:
            raise UnknownArgumentError(
                f"DAG {dag_id!r} got an unknown argument {unknown[0]!r}{closest(unknown[0], self._ACCEPTED)}"
            )
        warn_unhonoured(f"DAG {dag_id!r}", kwargs, DAG_ARGUMENTS)
        if args:
            # Airflow's second positional argument is the description.
            kwargs.setdefault("description", args[0])
        self.dag_id = validate_id("dag_id", dag_id)
        if "schedule_interval" in kwargs:
            warnings.warn(
                f"DAG {dag_id!r}: 'schedule_interval' is deprecated, use 'schedule'",
                DeprecationWarning,
                stacklevel=2,
            )
            if "schedule" in kwargs:
                raise DagDefinitionError(f"DAG {dag_id!r}: give 'schedule' or 'schedule_interval', not both")
            kwargs["schedule"] = kwargs.pop("schedule_interval")
        self.description: str | None = kwargs.get("description")
        if "timetable" in kwargs and "schedule" in kwargs:
            raise DagDefinitionError(f"DAG {dag_id!r}: give 'schedule' or 'timetable', not both")
        self.schedule: Any = kwargs.get("schedule", kwargs.get("timetable"))
        self.start_date = as_utc(kwargs.get("start_date"))
        self.end_date = as_utc(kwargs.get("end_date"))
        self.default_args: dict[str, Any] = dict(kwargs.get("default_args") or {})
        self.params: dict[str, Any] = dict(kwargs.get("params") or {})
        self.catchup: bool = bool(kwargs.get("catchup", True))
        self.tags: list[str] = list(kwargs.get("tags") or [])
        self.max_active_runs: int = int(kwargs.get("max_active_runs", 16))
        self.max_active_tasks: int = int(kwargs.get("max_active_tasks", kwargs.get("concurrency", 16)))
        self.dagrun_timeout: timedelta | None = kwargs.get("dagrun_timeout")
        self.doc_md: str | None = kwargs.get("doc_md")
        self.is_paused_upon_creation: bool | None = kwargs.get("is_paused_upon_creation")
        searchpath = kwargs.get("template_searchpath") or []
        self.template_searchpath: list[str] = [searchpath] if isinstance(searchpath, str) else list(searchpath)
        self.template_undefined: type[jinja2.Undefined] = kwargs.get("template_undefined", jinja2.StrictUndefined)
        self.user_defined_macros: dict[str, Any] = dict(kwargs.get("user_defined_macros") or {})
        self.user_defined_filters: dict[str, Callable[..., Any]] = dict(kwargs.get("user_defined_filters") or {})
        self.render_template_as_native_obj: bool = bool(kwargs.get("render_template_as_native_obj", False))
        self.jinja_environment_kwargs: dict[str, Any] = dict(kwargs.get("jinja_environment_kwargs") or {})
        self.on_success_callback = kwargs.get("on_success_callback")
        self.on_failure_callback = kwargs.get("on_failure_callback")
        self.fileloc: str | None = kwargs.get("fileloc")
        self.task_dict: dict[str, BaseOperator] = {}
        self.edge_info: dict[str, dict[str, dict[str, str]]] = {}
        """Upstream task id -> downstream task id -> what the edge carries (a ``Label``'s ``label``)."""
        collected = _collected.get()
        if collected is not None:
            collected.append(self)
        if "default_args" in kwargs and not isinstance(kwargs["default_args"], Mapping):
            raise DagDefinitionError(
                f"DAG {dag_id!r}: default_args must be a dict, got {type(kwargs['default_args']).__name__}"
            )
        if self.start_date is None and "start_date" in self.default_args:
            self.start_date = as_utc(self.default_args["start_date"])
        from dockyard.timetable import timetable_for

        try:  # a schedule dockyard cannot build fails where the DAG is created, naming the DAG
            limit = timetable_for(self.schedule, self.start_date).active_runs_limit
        except DagDefinitionError as exc:
            raise DagDefinitionError(f"DAG {dag_id!r}: {exc}") from None
        if limit is not None and self.max_active_runs > limit:
            self.max_active_runs = limit  # e.g. @continuous: one run at a time, as in Airflow

    def __repr__(self) -> str:
        return f"<DAG {self.dag_id}>"

    def __enter__(self) -> DAG:
        _dag_stack.set((*_dag_stack.get(), self))
        return self

    def __exit__(self, *exc: object) -> None:
        _dag_stack.set(_dag_stack.get()[:-1])

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def add_task(self, task: BaseOperator) -> None:
        """Register ``task``; a second task with the same ``task_id`` is an error."""
        if task.task_id in self.task_dict and self.task_dict[task.task_id] is not task:
            raise DagDefinitionError(
                f"DAG {self.dag_id!r} already has a task {task.task_id!r}; every task_id in a DAG must be unique"
            )
        self.task_dict[task.task_id] = task

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: dict[str, str]) -> None:
        """Record what the edge ``upstream >> downstream`` carries (Airflow's ``DAG.set_edge_info``)."""
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = dict(info)

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, str]:
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    def get_task(self, task_id: str) -> BaseOperator:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise DagDefinitionError(
                f"DAG {self.dag_id!r} has no task {task_id!r}{closest(task_id, self.task_ids)}; "
                f"its tasks are: {', '.join(self.task_ids) or '(none)'}"
            ) from None

    def topological_sort(self) -> list[BaseOperator]:
        """Tasks in an order where every task comes after its upstream tasks.

        Raises :class:`DagDefinitionError` naming the tasks of a cycle if there is one.
        """
        order: list[BaseOperator] = []
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        for root in self.task_dict:
            if state.get(root) == 2:
                continue
            stack: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(self.task_dict[root].upstream_task_ids)))]
            state[root] = 1
            while stack:
                node, ups = stack[-1]
                nxt = next(ups, None)
                if nxt is None:
                    stack.pop()
                    state[node] = 2
                    order.append(self.task_dict[node])
                elif state.get(nxt) == 1:
                    path = [n for n, _ in stack]
                    cycle = [*path[path.index(nxt) :], nxt]
                    raise DagDefinitionError(
                        f"DAG {self.dag_id!r} has a cycle: {' <- '.join(cycle)}; remove one of these dependencies"
                    )
                elif state.get(nxt) != 2:
                    if nxt not in self.task_dict:
                        raise DagDefinitionError(f"DAG {self.dag_id!r}: task {node!r} depends on unknown task {nxt!r}")
                    state[nxt] = 1
                    stack.append((nxt, iter(sorted(self.task_dict[nxt].upstream_task_ids))))
        return order

    def validate(self) -> None:
        """Check the whole DAG (cycles, unknown dependencies); raise on the first problem."""
        self.topological_sort()

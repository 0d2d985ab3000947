"""``TaskGroup``: a named group of tasks whose ids are prefixed with the group id, as in Airflow.

with TaskGroup("transform") as tg:            # tasks inside get ids like "transform.clean"
    clean = DockerOperator(task_id="clean", ...)
extract >> tg >> load                         # edges go to the group's first and from its last tasks
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from dockyard.dag import validate_id

if TYPE_CHECKING:
    from dockyard.operators.base import BaseOperator

_group_stack: ContextVar[tuple[TaskGroup, ...]] = ContextVar("dockyard_group_stack", default=())


def current_group() -> TaskGroup | None:
    stack = _group_stack.get()
    return stack[-1] if stack else None


class TaskGroup:
    def __init__(
        self,
        group_id: str,
        prefix_group_id: bool = True,
        tooltip: str = "",
        dag: Any = None,
        default_args: dict[str, Any] | None = None,
        parent_group: TaskGroup | None = None,
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
    ) -> None:
        validate_id("group_id", group_id)
        self.prefix_group_id = prefix_group_id
        self.parent: TaskGroup | None = parent_group or current_group()
        self.group_id = f"{self.parent.prefix}{group_id}" if self.parent is not None else group_id
        from dockyard.dag import current_dag

        owner = dag or current_dag()
        taken: set[str] = owner.__dict__.setdefault("_group_ids", set()) if owner is not None else set()
        if self.group_id in taken and add_suffix_on_collision:
            n = 1
            while f"{self.group_id}__{n}" in taken:
                n += 1
            self.group_id = f"{self.group_id}__{n}"
        taken.add(self.group_id)
        self.tooltip = tooltip
        self.default_args = dict(default_args or {})
        self.children: list[BaseOperator | TaskGroup] = []
        if self.parent is not None:
            self.parent.children.append(self)

    @property
    def prefix(self) -> str:
        return f"{self.group_id}." if self.prefix_group_id else (self.parent.prefix if self.parent else "")

    def child_id(self, task_id: str) -> str:
        return f"{self.prefix}{task_id}"

    def __enter__(self) -> TaskGroup:
        _group_stack.set((*_group_stack.get(), self))
        return self

    def __exit__(self, *exc: object) -> None:
        _group_stack.set(_group_stack.get()[:-1])

    def tasks(self) -> list[BaseOperator]:
        found: list[BaseOperator] = []
        for child in self.children:
            found.extend(child.tasks() if isinstance(child, TaskGroup) else [child])
        return found

    def roots(self) -> list[BaseOperator]:
        """Tasks of the group with no upstream task inside the group."""
        members = {t.task_id for t in self.tasks()}
        return [t for t in self.tasks() if not t.upstream_task_ids & members]

    def leaves(self) -> list[BaseOperator]:
        """Tasks of the group with no downstream task inside the group. A teardown does not count, as in
        Airflow: the work tasks before it stand in its place, so ``group >> next`` waits for the work, not
        for the clean-up."""
        tasks = self.tasks()
        by_id = {t.task_id: t for t in tasks}
        found: dict[str, BaseOperator] = {}

        def work_before(teardown: BaseOperator) -> None:
            for up_id in sorted(teardown.upstream_task_ids & set(by_id)):
                up = by_id[up_id]
                if up.is_teardown:
                    work_before(up)
                elif not up.is_setup and not any(
                    d in by_id and d != teardown.task_id and not by_id[d].is_teardown for d in up.downstream_task_ids
                ):
                    found[up_id] = up

        for task in tasks:
            if task.downstream_task_ids & set(by_id):
                continue
            if task.is_teardown:
                work_before(task)
            else:
                found[task.task_id] = task
        return list(found.values())

    def __rshift__(self, other: Any) -> Any:
        from dockyard.operators.edges import EdgeModifier

        if isinstance(other, EdgeModifier):
            return other.after([self])
        for leaf in self.leaves():
            leaf.set_downstream(_expand(other, upstream_side=False))
        return other

    def __lshift__(self, other: Any) -> Any:
        from dockyard.operators.edges import EdgeModifier

        if isinstance(other, EdgeModifier):
            return other.before([self])
        for root in self.roots():
            root.set_upstream(_expand(other, upstream_side=True))
        return other

    def __rrshift__(self, other: Any) -> TaskGroup:
        self.__lshift__(other)
        return self

    def __rlshift__(self, other: Any) -> TaskGroup:
        self.__rshift__(other)
        return self


def _expand(other: Any, *, upstream_side: bool) -> list[BaseOperator]:
    """Tasks to link to: a group stands for its leaves (when upstream) or its roots (when downstream)."""
    items: Sequence[Any] = other if isinstance(other, (list, tuple)) else [other]
    result: list[BaseOperator] = []
    for item in items:
        item = getattr(item, "operator", item)  # a TaskFlow result stands for its task
        if isinstance(item, TaskGroup):
            result.extend(item.leaves() if upstream_side else item.roots())
        else:
            result.append(item)
    return result


def task_group(python_callable: Callable[..., Any] | None = None, **group_kwargs: Any) -> Any:
    """``@task_group``: calling the decorated function creates a :class:`TaskGroup` (its id the function's
    name, ``__1``, ``__2`` ... when called again) and runs the function inside it. What the function returns
    (a task's result) is returned, so ``>>`` binds to it; a function that returns nothing gives the group.

    Example::

        @task_group
        def transform(raw):
            return enrich(clean(raw))

        publish(transform(extract()))
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def build(*args: Any, **kwargs: Any) -> Any:
            options = {"group_id": function.__name__, "add_suffix_on_collision": True, **group_kwargs}
            if function.__doc__ and not options.get("tooltip"):
                options["tooltip"] = function.__doc__
            with TaskGroup(**options) as group:
                returned = function(*args, **kwargs)
            return returned if returned is not None else group

        return build

    if python_callable is not None and not group_kwargs:
        return decorate(python_callable)
    return decorate

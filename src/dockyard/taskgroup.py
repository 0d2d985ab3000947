"""``TaskGroup``: a named group of tasks whose ids are prefixed with the group id, as in Airflow.

with TaskGroup("transform") as tg:            # tasks inside get ids like "transform.clean"
    clean = DockerOperator(task_id="clean", ...)
extract >> tg >> load                         # edges go to the group's first and from its last tasks
"""

from __future__ import annotations

from collections.abc import Sequence
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
        """Tasks of the group with no downstream task inside the group."""
        members = {t.task_id for t in self.tasks()}
        return [t for t in self.tasks() if not t.downstream_task_ids & members]

    def __rshift__(self, other: Any) -> Any:
        for leaf in self.leaves():
            leaf.set_downstream(_expand(other, upstream_side=False))
        return other

    def __lshift__(self, other: Any) -> Any:
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
        if isinstance(item, TaskGroup):
            result.extend(item.leaves() if upstream_side else item.roots())
        else:
            result.append(item)
    return result

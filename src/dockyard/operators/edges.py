"""``Label``: a name on a dependency edge (Airflow's ``EdgeModifier``), kept with the DAG.

``check >> Label("rows found") >> load`` links ``check`` to ``load`` as ``check >> load`` does, and records
the label in ``dag.edge_info`` (stored with the DAG; what a graph view may show). Lists and task groups work
on either side, as with ``>>`` itself::

    branch >> Label("weekday") >> weekday_report
    [a, b] >> Label("inputs") >> merge
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.operators.base import BaseOperator


class EdgeModifier:
    """What sits on an edge: ``a >> EdgeModifier(label) >> b``."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[BaseOperator] = []
        self._downstream: list[BaseOperator] = []

    def __repr__(self) -> str:
        return f"<Label {self.label!r}>"

    def after(self, tasks: Sequence[Any]) -> EdgeModifier:
        """``tasks >> self``: remember the tasks the edge starts from."""
        from dockyard.taskgroup import _expand

        self._upstream.extend(_expand(_tasks(tasks), upstream_side=True))
        return self

    def before(self, tasks: Sequence[Any]) -> EdgeModifier:
        """``tasks << self``: remember the tasks the edge ends at."""
        from dockyard.taskgroup import _expand

        self._downstream.extend(_expand(_tasks(tasks), upstream_side=False))
        return self

    def _link(self, ups: Sequence[BaseOperator], downs: Sequence[BaseOperator]) -> None:
        for up in ups:
            for down in downs:
                up.set_downstream(down)
                dag = up.dag or down.dag
                if dag is not None and self.label is not None:
                    dag.set_edge_info(up.task_id, down.task_id, {"label": self.label})

    def __rshift__(self, other: Any) -> Any:
        from dockyard.taskgroup import _expand

        self._link(self._upstream, _expand(_tasks(other), upstream_side=False))
        return other

    def __lshift__(self, other: Any) -> Any:
        from dockyard.taskgroup import _expand

        self._link(_expand(_tasks(other), upstream_side=True), self._downstream)
        return other

    def __rrshift__(self, other: Any) -> EdgeModifier:
        return self.after(other)

    def __rlshift__(self, other: Any) -> EdgeModifier:
        return self.before(other)


def Label(label: str) -> EdgeModifier:
    """A labelled edge (Airflow's ``Label``)."""
    return EdgeModifier(label)


def _tasks(value: Any) -> list[Any]:
    """Tasks, groups and TaskFlow results (which stand for their task), from one or a list of them."""
    items = value if isinstance(value, (list, tuple, set)) else [value]
    return [getattr(item, "operator", item) for item in items]

"""Branching: ``BranchPythonOperator`` / ``@task.branch`` and ``ShortCircuitOperator`` /
``@task.short_circuit``, Airflow's operators whose callable decides which tasks run next.

The callable runs in the task image like any Python task (its return value comes back as the XCom); the
scheduler then marks skipped what the result rules out (:mod:`dockyard.branching`): a branch follows the
task ids or task group ids it returns and skips its other direct downstream tasks, a short circuit whose
result is false skips everything downstream (or, with ``ignore_downstream_trigger_rules=False``, only its
direct downstream tasks and lets trigger rules decide the rest).

Example::

    def pick(ds=None):
        return "weekend" if datetime.date.fromisoformat(ds).weekday() >= 5 else ["weekday", "report"]

    BranchPythonOperator(task_id="pick", python_callable=pick) >> [weekend, weekday, report]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dockyard.errors import DagDefinitionError
from dockyard.operators.python import PythonOperator, plain_context, runner_options
from dockyard.operators.python_env import ExternalPythonOperator, PythonVirtualenvOperator
from dockyard.operators.sensors import _NOT_ATTRIBUTES as NOT_ATTRIBUTES
from dockyard.operators.task_image import TaskImageOperator

if TYPE_CHECKING:
    from dockyard.container.options import ContainerOptions
    from dockyard.dag import DAG
    from dockyard.settings import Settings
    from dockyard.taskgroup import TaskGroup


def group_roots(dag: DAG | None) -> dict[str, list[str]]:
    """Each task group id of ``dag`` -> its first tasks: what a branch that returns the group id follows."""
    groups: dict[str, TaskGroup] = {}
    for task in dag.tasks if dag is not None else []:
        group = task.task_group
        while group is not None:
            groups[group.group_id] = group
            group = group.parent
    return {group_id: sorted(t.task_id for t in group.roots()) for group_id, group in sorted(groups.items())}


class BranchMixin:
    """What makes a Python task a branch: the scheduler reads its result and skips what it did not choose."""

    needs_result = True
    dag: DAG | None

    def flow_facts(self) -> dict[str, Any]:
        return {"kind": "branch", "groups": group_roots(self.dag)}


class BranchPythonOperator(BranchMixin, PythonOperator):
    """Airflow's ``BranchPythonOperator``: the callable returns the task id(s) or group id(s) to follow."""


class ShortCircuitOperator(PythonOperator):
    """Airflow's ``ShortCircuitOperator``: a false result skips what comes after it."""

    ui_color = "#ffefeb"
    needs_result = True

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def flow_facts(self) -> dict[str, Any]:
        return {"kind": "short_circuit", "ignore_downstream_trigger_rules": bool(self.ignore_downstream_trigger_rules)}


class BranchPythonVirtualenvOperator(BranchMixin, PythonVirtualenvOperator):
    """Airflow's ``BranchPythonVirtualenvOperator``: a branch whose callable runs in a virtualenv."""


class BranchExternalPythonOperator(BranchMixin, ExternalPythonOperator):
    """Airflow's ``BranchExternalPythonOperator``: a branch whose callable runs with another interpreter."""


class BaseBranchOperator(BranchMixin, TaskImageOperator):
    """Airflow's ``BaseBranchOperator``: a subclass's ``choose_branch(self, context)`` returns the task id(s)
    or group id(s) to follow. It is the user's code, so it runs in the task image like a ``PythonOperator``:
    the container calls the class's method on an object that holds the task's attributes (plain data,
    templated fields rendered); the scheduler then skips what it did not choose.

    Example::

        class ByWeekday(BaseBranchOperator):
            def __init__(self, *, weekend_task, **kwargs):
                super().__init__(**kwargs)
                self.weekend_task = weekend_task

            def choose_branch(self, context):
                return self.weekend_task if context["logical_date"].weekday() >= 5 else "weekday"
    """

    ui_color = "#ffefeb"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if type(self).choose_branch is BaseBranchOperator.choose_branch:
            raise DagDefinitionError(
                f"task {self.task_id!r}: {type(self).__name__} subclasses BaseBranchOperator but does not define "
                "choose_branch(self, context), the method that returns the task id(s) to follow"
            )

    def choose_branch(self, context: Mapping[str, Any]) -> str | list[str] | None:
        """The task id(s) or task group id(s) to follow (a subclass's; it runs in the task image)."""
        raise NotImplementedError

    def container_options(
        self, context: Mapping[str, Any], rendered: Mapping[str, Any], settings: Settings
    ) -> ContainerOptions:
        attributes = plain_context({k: v for k, v in vars(self).items() if k not in NOT_ATTRIBUTES})
        attributes.update(plain_context(rendered))
        return runner_options(self, type(self).choose_branch, context, settings, method={"attributes": attributes})

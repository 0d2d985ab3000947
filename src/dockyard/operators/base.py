"""``BaseOperator``: what every task shares (ids, dependencies, retries, templates, defaults).

``default_args`` work as in Airflow: each key that the operator's constructor accepts (anywhere in
its class hierarchy) fills that argument unless the task sets it explicitly; other keys are ignored.
"""

from __future__ import annotations

import inspect
import itertools
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, ClassVar

from dockyard.arguments import TASK_ARGUMENTS, warn_unhonoured
from dockyard.dag import DAG, as_utc, closest, current_dag, validate_id
from dockyard.errors import DagDefinitionError, UnknownArgumentError
from dockyard.operators.edges import EdgeModifier
from dockyard.taskgroup import _expand, current_group


class TriggerRule(str, Enum):
    """When a task may run, given the states of its upstream tasks (Airflow's names)."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALL_SKIPPED = "all_skipped"
    ALWAYS = "always"
    NONE_FAILED_OR_SKIPPED = "none_failed_or_skipped"
    """Airflow's older name of ``none_failed_min_one_success`` (it decides the same)."""
    DUMMY = "dummy"
    """Airflow's older name of ``always``."""

    def __str__(self) -> str:
        return self.value


def _accepted_arguments(cls: type) -> frozenset[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD) and param.name != "self":
                names.add(param.name)
    return frozenset(names)


class _OperatorMeta(type):
    """Merges the DAG's and the task's ``default_args`` into the constructor's arguments."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        dag = kwargs.get("dag") or current_dag()
        merged: dict[str, Any] = {}
        if isinstance(dag, DAG):
            merged.update(dag.default_args)
        group = kwargs.get("task_group") or current_group()
        if group is not None:
            merged.update(group.default_args)
        merged.update(kwargs.get("default_args") or {})
        if merged:
            accepted = cls.accepted_arguments()  # type: ignore[attr-defined]
            for key, value in merged.items():
                if key in accepted and key not in kwargs and key not in ("dag", "default_args", "task_id"):
                    kwargs[key] = value
        return super().__call__(*args, **kwargs)


class BaseOperator(metaclass=_OperatorMeta):
    """A task: one unit of work in a DAG. Subclasses say what the work is.

    ``template_fields`` names the attributes rendered with Jinja before a try runs;
    ``template_ext`` the file endings whose files are read and rendered in place of the value.
    """

    template_fields: ClassVar[Sequence[str]] = ()
    template_ext: ClassVar[Sequence[str]] = ()
    ui_color: ClassVar[str] = "#fff"
    runs_in_container: ClassVar[bool] = False
    """Whether a try of this task runs a container (else it finishes in the scheduler: EmptyOperator)."""
    needs_result: ClassVar[bool] = False
    """The scheduler reads the try's result even with ``do_xcom_push=False`` (a branch's choice)."""
    _accepted_cache: ClassVar[dict[type, frozenset[str]]] = {}

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = "airflow",
        email: str | Iterable[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = 0,
        retry_delay: timedelta | float = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_past_depends_before_skipping: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = "default",
        pool: str | None = None,
        pool_slots: int = 1,
        sla: timedelta | None = None,
        execution_timeout: timedelta | float | None = None,
        on_execute_callback: Callable[..., Any] | None = None,
        on_failure_callback: Callable[..., Any] | None = None,
        on_success_callback: Callable[..., Any] | None = None,
        on_retry_callback: Callable[..., Any] | None = None,
        on_skipped_callback: Callable[..., Any] | None = None,
        pre_execute: Callable[..., Any] | None = None,
        post_execute: Callable[..., Any] | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        resources: dict[str, Any] | None = None,
        run_as_user: str | None = None,
        task_concurrency: int | None = None,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor: str | None = None,
        executor_config: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        inlets: Any | None = None,
        outlets: Any | None = None,
        task_group: Any | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        logger_name: str | None = None,
        allow_nested_operators: bool = True,
        provide_context: bool | None = None,
        xcom_push: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            name = next(iter(kwargs))
            raise UnknownArgumentError(
                f"{type(self).__name__} (task_id {task_id!r}) got an unknown argument {name!r}"
                f"{closest(name, sorted(self.accepted_arguments()))}"
            )
        if provide_context is not None:
            warnings.warn(
                f"task {task_id!r}: 'provide_context' is deprecated and has no effect; the context is always provided",
                DeprecationWarning,
                stacklevel=3,
            )
        if xcom_push is not None:  # Airflow 1.10's spelling, still in old DAG files
            warnings.warn(
                f"task {task_id!r}: 'xcom_push' is deprecated, use 'do_xcom_push'", DeprecationWarning, stacklevel=3
            )
            do_xcom_push = xcom_push
        given = locals()
        warn_unhonoured(f"task {task_id!r}", {name: given[name] for name in TASK_ARGUMENTS}, TASK_ARGUMENTS)
        group = task_group or current_group()
        self.task_group = group
        self.task_id = validate_id("task_id", group.child_id(task_id) if group is not None else task_id)
        if group is not None:
            group.children.append(self)
        self.owner = owner
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure
        self.retries = int(retries or 0)
        if self.retries < 0:
            raise DagDefinitionError(f"task {task_id!r}: retries must be 0 or more, got {retries}")
        self.retry_delay = _as_timedelta("retry_delay", task_id, retry_delay) or timedelta(0)
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = _as_timedelta("max_retry_delay", task_id, max_retry_delay)
        self.start_date = as_utc(start_date)
        self.end_date = as_utc(end_date)
        self.wait_for_downstream = wait_for_downstream
        self.depends_on_past = depends_on_past or wait_for_downstream  # Airflow: the one implies the other
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        if sla is not None:
            warnings.warn(
                f"task {task_id!r}: 'sla' is accepted but not enforced (Airflow 3 removed SLAs too); use "
                "execution_timeout to stop a slow try, or on_failure_callback to be told",
                UserWarning,
                stacklevel=3,
            )
        self.params: dict[str, Any] = dict(params or {})
        self.priority_weight = priority_weight
        self.weight_rule = weight_rule
        self.queue = queue
        self.pool = pool or "default_pool"
        self.pool_slots = pool_slots
        self.execution_timeout = _as_timedelta("execution_timeout", task_id, execution_timeout)
        self.on_execute_callback = on_execute_callback
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        try:
            self.trigger_rule = TriggerRule(str(trigger_rule))
        except ValueError:
            choices = [r.value for r in TriggerRule]
            raise DagDefinitionError(
                f"task {task_id!r}: trigger_rule {trigger_rule!r} is not one of {', '.join(choices)}"
                f"{closest(str(trigger_rule), choices)}"
            ) from None
        self.max_active_tis_per_dag = max_active_tis_per_dag or task_concurrency
        self.executor_config = executor_config or {}
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        # Datasets (assets) the task reads and updates: a success records an event for each outlet.
        self.inlets: list[Any] = (
            list(inlets) if isinstance(inlets, (list, tuple)) else [] if inlets is None else [inlets]
        )
        self.outlets: list[Any] = (
            list(outlets) if isinstance(outlets, (list, tuple)) else [] if outlets is None else [outlets]
        )
        self.doc_md = doc_md or doc or doc_rst or doc_yaml or doc_json  # the UI shows it as text
        self.is_setup = False
        self.is_teardown = False
        self.on_failure_fail_dagrun = False
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.dag: DAG | None = None
        target = dag or current_dag()
        if target is not None:
            if not isinstance(target, DAG):
                raise DagDefinitionError(f"task {task_id!r}: dag must be a DAG, got {type(target).__name__}")
            self.dag = target
            target.add_task(self)
            if self.start_date is None:
                self.start_date = target.start_date
            _warn_task_dates(self, target)

    @classmethod
    def accepted_arguments(cls) -> frozenset[str]:
        """Every keyword this operator's constructor takes, across its class hierarchy."""
        cached = BaseOperator._accepted_cache.get(cls)
        if cached is None:
            cached = BaseOperator._accepted_cache[cls] = _accepted_arguments(cls)
        return cached

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"

    @property
    def output(self) -> Any:
        """Airflow's ``task.output``: this task's XCom as a TaskFlow argument (``report(extract.output)``)."""
        from dockyard.decorators import XComArg

        return XComArg(self)

    def flow_facts(self) -> dict[str, Any]:
        """What the scheduler must know to act on this task's result or to run it itself (see
        :mod:`dockyard.branching`); plain tasks have none."""
        return {}

    # -- setup and teardown ----------------------------------------------------------------------
    def as_setup(self) -> BaseOperator:
        """Mark this task as a setup task (Airflow's ``as_setup``): the tasks it runs before need it."""
        self.is_setup = True
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> BaseOperator:
        """Mark this task as a teardown (Airflow's ``as_teardown``): it runs once its upstream tasks are done
        if one of its setups succeeded (``all_done_setup_success``), and its failure does not fail the run
        unless ``on_failure_fail_dagrun``. ``setups`` become setups upstream of it."""
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        listed: list[Any] = [] if setups is None else list(setups) if isinstance(setups, (list, tuple)) else [setups]
        for setup in listed:
            task: BaseOperator = getattr(setup, "operator", setup)  # a TaskFlow result stands for its task
            task.as_setup()
            task.set_downstream(self)
        return self

    def __enter__(self) -> BaseOperator:
        """``with teardown.as_teardown(setups=setup): work``: the tasks made inside run between the setups
        and the teardowns, as in Airflow."""
        if not (self.is_setup or self.is_teardown) or self.dag is None:
            raise DagDefinitionError(
                f"task {self.task_id!r}: only a setup or teardown task can be used in a `with` block "
                "(call as_setup() or as_teardown() on it first)"
            )
        self.__dict__.setdefault("_scopes", []).append(set(self.dag.task_dict))
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.dag is not None
        before = self.__dict__["_scopes"].pop()
        tasks = self.dag.task_dict
        if self.is_teardown:
            teardowns, setups = [self], [tasks[t] for t in sorted(self.upstream_task_ids) if tasks[t].is_setup]
        else:
            setups = [self]
            teardowns = [tasks[t] for t in sorted(self.downstream_task_ids) if tasks[t].is_teardown]
        inside = {t: task for t, task in tasks.items() if t not in before and not (task.is_setup or task.is_teardown)}
        for task in inside.values():
            if not task.upstream_task_ids & set(inside):
                for setup in setups:
                    setup.set_downstream(task)
            if not task.downstream_task_ids & set(inside):
                for teardown in teardowns:
                    task.set_downstream(teardown)

    # -- dependencies --------------------------------------------------------------------------
    def _relate(self, others: BaseOperator | Sequence[BaseOperator], *, upstream: bool) -> None:
        items = _expand(others, upstream_side=upstream)
        for other in items:
            if not isinstance(other, BaseOperator):
                raise DagDefinitionError(
                    f"task {self.task_id!r}: dependencies are between tasks, got {type(other).__name__} {other!r}"
                )
            dag = self.dag or other.dag
            if self.dag is not None and other.dag is not None and self.dag is not other.dag:
                raise DagDefinitionError(
                    f"tasks {self.task_id!r} (DAG {self.dag.dag_id!r}) and {other.task_id!r} "
                    f"(DAG {other.dag.dag_id!r}) are in different DAGs; dependencies stay inside one DAG"
                )
            for task in (self, other):
                if task.dag is None and dag is not None:
                    task.dag = dag
                    dag.add_task(task)
            if upstream:
                self.upstream_task_ids.add(other.task_id)
                other.downstream_task_ids.add(self.task_id)
            else:
                self.downstream_task_ids.add(other.task_id)
                other.upstream_task_ids.add(self.task_id)

    def set_upstream(self, others: BaseOperator | Sequence[BaseOperator]) -> None:
        self._relate(others, upstream=True)

    def set_downstream(self, others: BaseOperator | Sequence[BaseOperator]) -> None:
        self._relate(others, upstream=False)

    def __rshift__(self, other: Any) -> Any:
        if isinstance(other, EdgeModifier):
            return other.after([self])
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        if isinstance(other, EdgeModifier):
            return other.before([self])
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> BaseOperator:
        # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> BaseOperator:
        # [a, b] << self
        self.set_downstream(other)
        return self

    # -- dynamic task mapping and results ------------------------------------------------------
    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Airflow's ``Operator.partial(task_id=..., **shared).expand(arg=[...])``: one task instance per
        element (see :mod:`dockyard.mapping`)."""
        from dockyard.mapping import partial

        return partial(cls, kwargs)

    @property
    def upstream_list(self) -> list[BaseOperator]:
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)] if self.dag else []

    @property
    def downstream_list(self) -> list[BaseOperator]:
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)] if self.dag else []


class EmptyOperator(BaseOperator):
    """A task that does nothing: a join point or a placeholder. Runs no container."""

    ui_color = "#e8f7e4"


def chain(*tasks: Any) -> None:
    """Set ``tasks[0] >> tasks[1] >> ...``; lists of equal length are linked pairwise, as in Airflow. Tasks,
    TaskFlow results, task groups and labels (``chain(check, Label("ok"), load)``) all work."""
    for up, down in itertools.pairwise(tasks):
        up_many, down_many = isinstance(up, (list, tuple)), isinstance(down, (list, tuple))
        if not up_many or not down_many:
            for a in up if up_many else [up]:
                for b in down if down_many else [down]:
                    a >> b
            continue
        if len(up) != len(down):
            raise DagDefinitionError(
                f"chain: cannot link lists of different lengths ({len(up)} and {len(down)}); "
                "use cross_downstream to link every task of one list to every task of the other"
            )
        for a, b in zip(up, down, strict=True):
            a >> b


def cross_downstream(from_tasks: Sequence[BaseOperator], to_tasks: Sequence[BaseOperator]) -> None:
    """Make every task of ``to_tasks`` downstream of every task of ``from_tasks``."""
    for task in from_tasks:
        task.set_downstream(list(to_tasks))


def _warn_task_dates(task: BaseOperator, dag: DAG) -> None:
    """A task's own start_date (later than its DAG's) and end_date are not acted on: say so at load."""
    later = task.start_date is not None and dag.start_date is not None and task.start_date > dag.start_date
    for name, value in (("start_date", task.start_date if later else None), ("end_date", task.end_date)):
        if value is not None and value != getattr(dag, name):
            warnings.warn(
                f"task {task.task_id!r}: {name}={value.isoformat()} is not honoured: the task runs in every run of "
                f"its DAG; give the DAG this {name}, or move the task into a DAG of its own",
                UserWarning,
                stacklevel=4,
            )


def _as_timedelta(name: str, task_id: str, value: timedelta | float | None) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise DagDefinitionError(f"task {task_id!r}: {name} must be a timedelta or a number of seconds, got {value!r}")

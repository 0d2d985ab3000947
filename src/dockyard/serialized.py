"""The stored form of a DAG: what the scheduler, the web server and the CLI know of a DAG without
importing its file.

The DAG processor imports a DAG file in a child process, turns each DAG into a :class:`SerializedDag`
(plain JSON: structure, schedule, params, task settings) and the store keeps it. Everything that decides
(readiness, run creation, retries, pools) reads this form; only the preparation of a task try and the
user's callbacks import the file again, in a child process of their own.

Example::

    stored = serialize_dag(dag)                 # in the DAG processor's child
    record = stored.to_record()                 # what the store keeps
    again = SerializedDag.from_row(store.get_dag("etl"))
    again.task("load").upstream                 # ('extract',)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dockyard.container.pool import requested, wanted_labels
from dockyard.dag import closest
from dockyard.datasets import outlet_uris
from dockyard.errors import DagDefinitionError, DockyardError
from dockyard.mail import recipients
from dockyard.params import Param
from dockyard.timetable import Timetable, deserialize_timetable, serialize_timetable, timetable_for

if TYPE_CHECKING:
    from dockyard.dag import DAG
    from dockyard.operators.base import BaseOperator
    from dockyard.store.api import DagRecord
    from dockyard.store.models import DagModel

FORMAT_VERSION = 2
"""Bumped when the stored form changes; a stored DAG of another version is parsed again."""

CALLBACKS = (
    "on_execute_callback",
    "on_success_callback",
    "on_failure_callback",
    "on_retry_callback",
    "on_skipped_callback",
)
ENGINE_FIELDS = (
    "docker_url",
    "api_version",
    "tls_ca_cert",
    "tls_client_cert",
    "tls_client_key",
    "tls_verify",
    "tls_hostname",
    "tls_ssl_version",
)
"""The options that say which engine a task's container runs on (none of them is templated)."""


def _seconds(value: dt.timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _date(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_date(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _resources(values: dict[str, Any]) -> dict[str, Any]:
    """A container task's request (empty for other tasks; a bad value fails its try, where it is reported)."""
    if not values:
        return {}
    try:
        return requested(values).to_dict()
    except DockyardError:
        return {}


def _shown(value: Any) -> Any:
    return value if isinstance(value, (str, list, type(None))) else repr(value)


@dataclass(frozen=True, slots=True)
class SerializedTask:
    """One task as the scheduler sees it: dependencies, rules, retries, pools and where it runs."""

    task_id: str
    operator: str
    upstream: tuple[str, ...] = ()
    downstream: tuple[str, ...] = ()
    trigger_rule: str = "all_success"
    retries: int = 0
    retry_delay: float = 300.0
    retry_exponential_backoff: bool = False
    max_retry_delay: float | None = None
    execution_timeout: float | None = None
    depends_on_past: bool = False
    wait_for_downstream: bool = False
    max_active_tis_per_dag: int | None = None
    max_active_tis_per_dagrun: int | None = None
    pool: str = "default_pool"
    pool_slots: int = 1
    priority_weight: int = 1
    weight_rule: str = "downstream"
    do_xcom_push: bool = True
    runs_container: bool = False
    """The task's tries run a container (Docker, Bash and Python tasks); the rest finish in the scheduler."""
    engine: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    """What the task's container asks for (CPUs, memory, GPUs), admitted against the engine pool."""
    wanted: tuple[str, ...] = ()
    """The engine labels the task needs: its ``queue`` and ``executor_config["engine_labels"]``."""
    callbacks: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    """The URIs of the datasets a success of the task updates."""
    email: tuple[str, ...] = ()
    """Where alert mails go (``email_on_failure``, ``email_on_retry``)."""
    email_on_failure: bool = True
    email_on_retry: bool = True
    image: Any = None
    command: Any = None
    doc_md: str | None = None
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    flow: dict[str, Any] = field(default_factory=dict)
    """What the scheduler does with the task's result or runs itself (branching, short-circuiting,
    orchestration-only operators): the operator's ``flow_facts()``; empty for plain tasks."""
    sensor: dict[str, Any] | None = None
    """A sensor's timing and what it watches (:meth:`~dockyard.operators.sensors.BaseSensorOperator.sensor_spec`)."""
    mapping: dict[str, Any] | None = None
    """How a mapped task's instances are counted (:func:`dockyard.mapping.describe`); None for a plain task."""

    def retry_delay_for(self, try_number: int) -> dt.timedelta:
        """Airflow's delay before the next try: ``retry_delay``, doubled per try with exponential backoff,
        capped by ``max_retry_delay``."""
        delay = dt.timedelta(seconds=self.retry_delay)
        if self.retry_exponential_backoff:
            delay = delay * (2 ** max(try_number - 1, 0))
        if self.max_retry_delay is not None and delay > dt.timedelta(seconds=self.max_retry_delay):
            delay = dt.timedelta(seconds=self.max_retry_delay)
        return delay

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["upstream"] = list(self.upstream)
        data["downstream"] = list(self.downstream)
        data["callbacks"] = list(self.callbacks)
        data["outlets"] = list(self.outlets)
        data["email"] = list(self.email)
        data["wanted"] = list(self.wanted)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SerializedTask:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("upstream", "downstream", "callbacks", "outlets", "email", "wanted"):
            known[name] = tuple(known.get(name) or ())
        return cls(**known)

    @property
    def is_mapped(self) -> bool:
        return self.mapping is not None

    @classmethod
    def of(cls, task: BaseOperator) -> SerializedTask:
        from dockyard.mapping import serialized_fields

        values = task.spec_values() if hasattr(task, "spec_values") else {}
        plain = cls(
            task_id=task.task_id,
            operator=type(task).__name__,
            upstream=tuple(sorted(task.upstream_task_ids)),
            downstream=tuple(sorted(task.downstream_task_ids)),
            trigger_rule=task.trigger_rule.value,
            retries=task.retries,
            retry_delay=task.retry_delay.total_seconds(),
            retry_exponential_backoff=bool(task.retry_exponential_backoff),
            max_retry_delay=_seconds(task.max_retry_delay),
            execution_timeout=_seconds(task.execution_timeout),
            depends_on_past=bool(task.depends_on_past),
            wait_for_downstream=bool(task.wait_for_downstream),
            max_active_tis_per_dag=task.max_active_tis_per_dag,
            max_active_tis_per_dagrun=task.max_active_tis_per_dagrun,
            pool=task.pool,
            pool_slots=int(task.pool_slots),
            priority_weight=int(task.priority_weight),
            weight_rule=str(task.weight_rule),
            do_xcom_push=bool(task.do_xcom_push),
            runs_container=task.runs_in_container,
            engine={k: values[k] for k in ENGINE_FIELDS if values.get(k) is not None},
            resources=_resources(values),
            wanted=tuple(sorted(wanted_labels(getattr(task, "queue", None), getattr(task, "executor_config", None)))),
            callbacks=tuple(name for name in CALLBACKS if getattr(task, name, None)),
            outlets=outlet_uris(getattr(task, "outlets", None), task.task_id),
            email=tuple(recipients(task.email)),
            email_on_failure=bool(task.email_on_failure),
            email_on_retry=bool(task.email_on_retry),
            image=_shown(getattr(task, "image", None)),
            command=_shown(getattr(task, "command", None)),
            doc_md=task.doc_md,
            is_setup=task.is_setup,
            is_teardown=task.is_teardown,
            on_failure_fail_dagrun=task.on_failure_fail_dagrun,
            flow=task.flow_facts(),
            sensor=task.sensor_spec() if hasattr(task, "sensor_spec") else None,
        )
        return replace(plain, **serialized_fields(task))  # a mapped task: its operator's facts and mapping


@dataclass(frozen=True, slots=True)
class SerializedDag:
    """A DAG as stored: everything but the code. Tasks are kept in dependency order."""

    dag_id: str
    fileloc: str
    tasks: tuple[SerializedTask, ...]
    timetable_data: dict[str, Any] = field(default_factory=lambda: {"type": "null"})
    schedule: str | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    catchup: bool = True
    max_active_runs: int = 16
    max_active_tasks: int = 16
    dagrun_timeout: float | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    doc_md: str | None = None
    is_paused_upon_creation: bool | None = None
    callbacks: tuple[str, ...] = ()
    edge_info: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    """Labels on edges (``a >> Label("x") >> b``): upstream id -> downstream id -> ``{"label": ...}``."""
    task_dict: dict[str, SerializedTask] = field(init=False, repr=False, compare=False)
    """The tasks by id (built once)."""
    has_setups: bool = field(init=False, repr=False, compare=False)
    """Whether any task is a setup task (only then do setup scopes need working out)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_dict", {t.task_id: t for t in self.tasks})
        object.__setattr__(self, "has_setups", any(t.is_setup for t in self.tasks))

    # -- reading -------------------------------------------------------------------------------
    @property
    def task_ids(self) -> list[str]:
        return [t.task_id for t in self.tasks]

    def task(self, task_id: str) -> SerializedTask:
        if task_id in self.task_dict:
            return self.task_dict[task_id]
        raise DagDefinitionError(
            f"DAG {self.dag_id!r} has no task {task_id!r}{closest(task_id, self.task_ids)}; "
            f"its tasks are: {', '.join(self.task_ids) or '(none)'}"
        )

    @property
    def leaves(self) -> list[str]:
        """The tasks whose states make the run's state (teardowns left out, as in Airflow)."""
        from dockyard.readiness import effective_leaves

        return effective_leaves(self.tasks)

    def timetable(self) -> Timetable:
        return deserialize_timetable(self.timetable_data)

    def param_objects(self) -> dict[str, Any]:
        """The DAG's params as :class:`Param` objects again (plain values stay plain), for validation."""
        result: dict[str, Any] = {}
        for name, described in self.params.items():
            if described.get("plain"):
                result[name] = described.get("value")
            else:
                kwargs = dict(described.get("schema") or {})
                if described.get("has_default", True):
                    kwargs["default"] = described.get("value")
                result[name] = Param(description=described.get("description"), **kwargs)
        return result

    # -- storing -------------------------------------------------------------------------------
    def structure(self) -> dict[str, Any]:
        """The JSON the store keeps beside the DAG's columns."""
        return {
            "version": FORMAT_VERSION,
            "tasks": [t.to_json() for t in self.tasks],
            "timetable": self.timetable_data,
            "start_date": _date(self.start_date),
            "end_date": _date(self.end_date),
            "catchup": self.catchup,
            "dagrun_timeout": self.dagrun_timeout,
            "params": self.params,
            "doc_md": self.doc_md,
            "callbacks": list(self.callbacks),
            "edge_info": self.edge_info,
        }

    def to_record(self) -> DagRecord:
        from dockyard.store.api import DagRecord

        return DagRecord(
            dag_id=self.dag_id,
            fileloc=self.fileloc,
            schedule=self.schedule,
            description=self.description,
            tags=list(self.tags),
            max_active_runs=self.max_active_runs,
            max_active_tasks=self.max_active_tasks,
            is_paused_upon_creation=self.is_paused_upon_creation,
            structure=self.structure(),
        )

    def to_json(self) -> dict[str, Any]:
        """The whole DAG as JSON (the record's columns and its structure), as a child process sends it."""
        return {
            "dag_id": self.dag_id,
            "fileloc": self.fileloc,
            "schedule": self.schedule,
            "description": self.description,
            "tags": list(self.tags),
            "max_active_runs": self.max_active_runs,
            "max_active_tasks": self.max_active_tasks,
            "is_paused_upon_creation": self.is_paused_upon_creation,
            "structure": self.structure(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SerializedDag:
        s = data.get("structure") or {}
        return cls(
            dag_id=data["dag_id"],
            fileloc=data.get("fileloc") or "",
            tasks=tuple(SerializedTask.from_json(t) for t in s.get("tasks", [])),
            timetable_data=s.get("timetable") or {"type": "null"},
            schedule=data.get("schedule"),
            start_date=_parse_date(s.get("start_date")),
            end_date=_parse_date(s.get("end_date")),
            catchup=bool(s.get("catchup", True)),
            max_active_runs=int(data.get("max_active_runs") or 16),
            max_active_tasks=int(data.get("max_active_tasks") or 16),
            dagrun_timeout=s.get("dagrun_timeout"),
            description=data.get("description"),
            tags=tuple(data.get("tags") or ()),
            params=dict(s.get("params") or {}),
            doc_md=s.get("doc_md"),
            is_paused_upon_creation=data.get("is_paused_upon_creation"),
            callbacks=tuple(s.get("callbacks") or ()),
            edge_info=dict(s.get("edge_info") or {}),
        )

    @classmethod
    def from_row(cls, row: DagModel) -> SerializedDag:
        return cls.from_json(
            {
                "dag_id": row.dag_id,
                "fileloc": row.fileloc,
                "schedule": row.schedule,
                "description": row.description,
                "tags": row.tags,
                "max_active_runs": row.max_active_runs,
                "max_active_tasks": row.max_active_tasks,
                "structure": row.structure,
            }
        )


def _describe_param(value: Any) -> dict[str, Any]:
    if isinstance(value, Param):
        return {**value.describe(), "has_default": value.has_default}
    return {"value": value, "description": None, "schema": {}, "plain": True}


def serialize_dag(dag: DAG) -> SerializedDag:
    """The stored form of a loaded DAG. Raises :class:`DagDefinitionError` for what cannot be scheduled
    (an unknown schedule, a timetable that cannot be stored)."""
    table = timetable_for(dag.schedule, dag.start_date)
    return SerializedDag(
        dag_id=dag.dag_id,
        fileloc=dag.fileloc or "",
        tasks=tuple(SerializedTask.of(t) for t in dag.topological_sort()),
        timetable_data=serialize_timetable(table),
        schedule=(table.description or table.summary) if dag.schedule is not None else None,
        start_date=dag.start_date,
        end_date=dag.end_date,
        catchup=dag.catchup,
        max_active_runs=dag.max_active_runs,
        max_active_tasks=dag.max_active_tasks,
        dagrun_timeout=_seconds(dag.dagrun_timeout),
        description=dag.description,
        tags=tuple(dag.tags),
        params={name: _describe_param(value) for name, value in dag.params.items()},
        doc_md=dag.doc_md,
        is_paused_upon_creation=dag.is_paused_upon_creation,
        callbacks=tuple(name for name in ("on_success_callback", "on_failure_callback") if getattr(dag, name, None)),
        edge_info=dag.edge_info,
    )

"""Preparing a task try: the part of a try that runs the DAG file's code.

Rendering a task's templates needs its operator object (user macros and filters, template files, the
task's own attributes), and callbacks are the user's functions: both import the DAG file. The scheduler
does both in a child process (:mod:`dockyard.isolation`) through :func:`prepare_in_child` and
:func:`callback_in_child`; what comes back is plain JSON (:class:`PreparedTry`), from which the scheduler's
thread runs the container. ``tasks test`` and tests that build a DAG in memory call :func:`prepare` directly.

Example::

    prepared = prepare_in_child(settings, TryContext(dag_id="etl", task_id="load", fileloc="/dags/etl.py", ...))
    prepared.values["command"]     # 'load --rows 42' (rendered)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dockyard.errors import DagDefinitionError, DockyardError
from dockyard.masking import SecretsMasker, is_sensitive_name, masker_for_try, registered_secrets
from dockyard.settings import Settings

if TYPE_CHECKING:
    from dockyard.dag import DAG
    from dockyard.operators.base import BaseOperator
    from dockyard.store import Store

XComLookup = Callable[[str, str, str], Any]
"""``(dag_id, task_id, key) -> value`` for ``ti.xcom_pull`` within the same run."""


@dataclass
class TaskTry:
    """The ``ti`` of the template context: which try this is, and its access to upstream XComs."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    logical_date: dt.datetime
    map_index: int = -1
    xcom_lookup: XComLookup | None = None

    def xcom_pull(
        self,
        task_ids: str | list[str] | None = None,
        key: str = "return_value",
        dag_id: str | None = None,
        **_: Any,
    ) -> Any:
        """The XCom of ``task_ids`` in this run (a list for a list of ids), as Airflow's ``ti.xcom_pull``."""
        if self.xcom_lookup is None or task_ids is None:
            return None
        if isinstance(task_ids, str):
            return self.xcom_lookup(dag_id or self.dag_id, task_ids, key)
        return [self.xcom_lookup(dag_id or self.dag_id, t, key) for t in task_ids]


@dataclass
class TryContext:
    """Plain values that identify one try and feed its template context (they cross to a child process)."""

    dag_id: str
    task_id: str
    run_id: str
    logical_date: dt.datetime
    try_number: int = 1
    fileloc: str = ""
    params: dict[str, Any] | None = None
    conf: dict[str, Any] | None = None
    data_interval: tuple[dt.datetime, dt.datetime] | None = None
    run: dict[str, Any] = field(default_factory=dict)
    """The run's facts for ``{{ dag_run.* }}`` (:class:`~dockyard.templating.RunFacts`' fields)."""
    attempt: dict[str, Any] = field(default_factory=dict)
    """The try's facts for ``{{ ti.* }}`` (:class:`~dockyard.templating.TryFacts`' fields)."""
    previous_success: dict[str, Any] | None = None
    """The latest successful earlier run (:class:`~dockyard.templating.PreviousRun`' fields)."""
    test_mode: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(_encode(asdict(self)))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TryContext:
        values = _decode(data)
        if values.get("data_interval"):
            values["data_interval"] = tuple(values["data_interval"])
        if values.get("previous_success") and values["previous_success"].get("data_interval"):
            values["previous_success"]["data_interval"] = tuple(values["previous_success"]["data_interval"])
        return cls(**values)


def _encode(value: Any) -> Any:
    """Dates as ``{"$date": iso}``, so they come back as dates (the rest is plain JSON)."""
    if isinstance(value, dt.datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$date"}:
            return dt.datetime.fromisoformat(value["$date"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


@dataclass
class PreparedTry:
    """What the scheduler needs to run a try's container, all plain JSON."""

    kind: str
    """``container`` (run ``values`` as a container) or ``empty`` (nothing to run: success)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The task's container options with the templated fields rendered (``ContainerOptions.to_json()``;
    it holds ``private_environment``, so it only travels between dockyard's own processes)."""
    rendered: dict[str, Any] = field(default_factory=dict)
    """The rendered templated fields, masked: what a person may be shown."""
    secrets: list[str] = field(default_factory=list)
    """Values to mask in this try's log (private_environment, secrets read by templates)."""
    do_xcom_push: bool = True
    xcom_all: bool = False
    retrieve_output: bool = False
    multiple_outputs: bool = False
    """Each key of the returned dict is an XCom of its own too (Airflow's ``multiple_outputs``)."""
    docker_conn_id: str | None = None
    execution_timeout: float | None = None
    notes: list[str] = field(default_factory=list)
    """Messages for the try's log (an on_execute_callback that failed)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreparedTry:
        return cls(**data)


class _CollectingMasker(SecretsMasker):
    """A masker that also remembers what it was given, so the secrets can travel to the parent."""

    def __init__(self, base: SecretsMasker) -> None:
        super().__init__()
        self.base = base
        self.collected: list[str] = []

    def add(self, secret: object) -> None:
        self.base.add(secret)
        if isinstance(secret, str) and secret:
            self.collected.append(secret)

    def mask(self, text: str) -> str:
        return self.base.mask(text)

    def mask_value(self, value: Any) -> Any:
        return self.base.mask_value(value)


def prepare(
    dag: DAG,
    task: BaseOperator,
    context: TryContext,
    *,
    xcom_lookup: XComLookup | None = None,
    variables: Callable[[str], str | None] | None = None,
    connections: Any = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Settings | None = None,
) -> PreparedTry:
    """Render ``task``'s templates for this try and return its container options (or ``empty``).

    ``settings`` give Bash and Python tasks their task image and DAG folder (default: from the environment)."""
    from dockyard.connections import ConnectionAccessor
    from dockyard.operators.base import EmptyOperator
    from dockyard.operators.docker import DockerOperator
    from dockyard.operators.task_image import TaskImageOperator
    from dockyard.templating import (
        PreviousRun,
        RunFacts,
        TryFacts,
        build_context,
        make_environment,
        render_fields,
        variables_namespace,
    )

    if isinstance(task, EmptyOperator):
        return PreparedTry(kind="empty")
    pokes_in_scheduler = not task.runs_in_container and hasattr(task, "sensor_values")
    if not task.runs_in_container and not pokes_in_scheduler:
        raise DagDefinitionError(
            f"task {task.task_id!r} is a {type(task).__name__}; dockyard runs Docker, Bash, Python and "
            "EmptyOperator tasks: move the work into an image and use DockerOperator"
        )
    private = dict(getattr(task, "private_environment", None) or {})
    masker = _CollectingMasker(masker_for_try(private.values()))
    for secret in private.values():
        masker.add(str(secret))

    def variable(key: str) -> str | None:
        value = variables(key) if variables is not None else None
        if value and is_sensitive_name(key):
            masker.add(value)
        return value

    extra: dict[str, Any] = {"var": variables_namespace(variable)}
    if connections is not None:
        extra["conn"] = ConnectionAccessor(connections, masker.add)
    extra["dag_run_conf"] = context.conf
    ti = TaskTry(
        dag.dag_id, task.task_id, context.run_id, context.try_number, context.logical_date, xcom_lookup=xcom_lookup
    )
    template_context = build_context(
        dag=dag,
        task=task,
        logical_date=context.logical_date,
        run_id=context.run_id,
        ti=ti,
        data_interval=context.data_interval,
        params=context.params,
        conf=context.conf,
        extra=extra,
        run=RunFacts(**context.run),
        attempt=TryFacts(**context.attempt),
        previous_success=PreviousRun(**context.previous_success) if context.previous_success else None,
        config=config,
        test_mode=context.test_mode,
    )
    notes = []
    callbacks = task.on_execute_callback
    for function in callbacks if isinstance(callbacks, list) else [callbacks]:
        if function is None:
            continue
        try:  # Airflow calls it before the task runs, and a failure of it does not fail the task
            function(template_context)
        except Exception as exc:  # noqa: BLE001 - the user's callback; its failure goes to the task log
            notes.append(f"on_execute_callback {getattr(function, '__name__', function)!r} failed: {exc!r}")
    searchpath = [str(Path(dag.fileloc).parent)] if dag.fileloc else []
    rendered = render_fields(task, template_context, make_environment(dag, searchpath))
    if pokes_in_scheduler:  # a clock or store sensor: its rendered values; it pokes in the scheduler
        values = cast(Any, task).sensor_values(template_context, rendered)
        return PreparedTry(kind="sensor", options=values, rendered=masker.mask_value(rendered), notes=notes)
    if isinstance(task, TaskImageOperator):  # Bash and Python tasks: a container of the task image
        options = task.container_options(template_context, rendered, settings or Settings.from_env())
        for secret in options.secrets:
            masker.add(secret)
    else:
        options = cast(DockerOperator, task).options.render(rendered)
    timeout = task.execution_timeout.total_seconds() if task.execution_timeout else None
    return PreparedTry(
        kind="container",
        options=options.to_json(),
        rendered=masker.mask_value(rendered),
        secrets=sorted({*masker.collected, *registered_secrets()}),
        do_xcom_push=bool(task.do_xcom_push),
        xcom_all=options.xcom_all,
        retrieve_output=options.retrieve_output,
        docker_conn_id=options.docker_conn_id,
        multiple_outputs=bool(task.multiple_outputs),
        execution_timeout=timeout,
        notes=notes,
    )


def template_config(settings: Settings) -> dict[str, dict[str, Any]]:
    """What ``{{ conf.get(section, key) }}`` reads in templates: the few settings Airflow users ask for."""
    return {
        "core": {"dags_folder": str(settings.dags_folder), "parallelism": settings.parallelism},
        "webserver": {"base_url": f"http://{settings.web_host}:{settings.web_port}"},
    }


class _LazyStore:
    """Opens the store only when a DAG file or template asks for a variable, connection or XCom."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    def get(self) -> Store:
        if self._store is None:
            from dockyard.store import Store

            self._store = Store.open(self.settings, migrate_schema=False)
        return self._store


def configure_lookups(settings: Settings) -> _LazyStore:
    """Point ``Variable.get`` and ``BaseHook.get_connection`` of DAG files at this installation (in a child)."""
    from dockyard.compat import airflow as airflow_compat
    from dockyard.connections import Connections
    from dockyard.variables import Variables, variable_source

    lazy = _LazyStore(settings)

    def find_variable(key: str) -> str | None:
        from_env = variable_source(settings, None)(key)
        return from_env if from_env is not None else Variables(settings, lazy.get()).find(key)  # decrypted

    airflow_compat.configure(
        variables=find_variable, connections=lambda conn_id: Connections(settings, lazy.get()).get(conn_id)
    )
    return lazy


def _load(fileloc: str, dag_id: str) -> DAG:
    from dockyard.dagbag import load_dag_file

    for dag in load_dag_file(Path(fileloc)):
        if dag.dag_id == dag_id:
            return dag
    raise DagDefinitionError(f"{fileloc} no longer defines the DAG {dag_id!r}")


def _prepare_child(settings: Settings, context_json: dict[str, Any]) -> dict[str, Any]:
    """Runs in the child: load the DAG file, prepare the try, return it as JSON."""
    from dockyard.connections import Connections

    context = TryContext.from_json(context_json)
    lazy = configure_lookups(settings)
    dag = _load(context.fileloc, context.dag_id)
    task = dag.get_task(context.task_id)

    def xcom(dag_id: str, task_id: str, key: str) -> Any:
        return lazy.get().get_xcom(dag_id, context.run_id, task_id, key)

    def variables(key: str) -> str | None:
        from dockyard.variables import variable_source

        return variable_source(settings, lazy.get())(key)

    class _Connections:
        def get(self, conn_id: str) -> Any:
            return Connections(settings, lazy.get()).get(conn_id)

    return prepare(
        dag,
        task,
        context,
        xcom_lookup=xcom,
        variables=variables,
        connections=_Connections(),
        config=template_config(settings),
        settings=settings,
    ).to_json()


def prepare_in_child(settings: Settings, context: TryContext) -> PreparedTry:
    """Prepare a try in a child process that imports the DAG file (time and memory limited)."""
    from dockyard.isolation import ChildFailed, run_in_child

    try:
        data = run_in_child(
            _prepare_child,
            (settings, context.to_json()),
            timeout=settings.dag_file_processor_timeout,
            memory_mb=settings.dag_file_memory_mb,
            what=f"preparing task {context.task_id!r} from {context.fileloc}",
        )
    except ChildFailed as exc:
        raise DagDefinitionError(f"task {context.task_id!r} could not be prepared: {exc}") from exc
    return PreparedTry.from_json(data)


def _callback_child(
    settings: Settings, fileloc: str, dag_id: str, task_id: str | None, name: str, info: dict[str, Any]
) -> None:
    """Runs in the child: call the DAG's or the task's callback ``name`` with Airflow's context keys."""
    configure_lookups(settings)
    dag = _load(fileloc, dag_id)
    owner: Any = dag.get_task(task_id) if task_id else dag
    callback = getattr(owner, name, None)
    context = {"dag": dag, "task": owner if task_id else None, **info}
    if info.get("exception"):
        context["exception"] = DockyardError(info["exception"])
    for function in callback if isinstance(callback, list) else [callback]:
        if function is not None:
            function(context)


def callback_in_child(
    settings: Settings, fileloc: str, dag_id: str, task_id: str | None, name: str, info: dict[str, Any]
) -> None:
    """Run a user's callback in a child process; its failure is logged by the caller, never raised through."""
    from dockyard.isolation import run_in_child

    run_in_child(
        _callback_child,
        (settings, fileloc, dag_id, task_id, name, info),
        timeout=settings.dag_file_processor_timeout,
        memory_mb=settings.dag_file_memory_mb,
        what=f"running {name} of {task_id or dag_id}",
    )

"""Preparing a task try: the part of a try that runs the DAG file's code.

Rendering a task's templates needs its operator object (user macros and filters, template files, the
task's own attributes), and callbacks are the user's functions: both import the DAG file. The scheduler
does both in a child process through :func:`prepare_in_child` and :func:`callback_in_child`, forked from a
worker that holds the DAG file imported (:mod:`dockyard.dag_worker`); what comes back is plain JSON
(:class:`PreparedTry`), from which the scheduler's thread runs the container. ``tasks test`` and tests that
build a DAG in memory call :func:`prepare` directly.

Example::

    prepared = prepare_in_child(settings, TryContext(dag_id="etl", task_id="load", fileloc="/dags/etl.py", ...))
    prepared.values["command"]     # 'load --rows 42' (rendered)
"""

from __future__ import annotations

import datetime as dt
import logging
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

log = logging.getLogger(__name__)

XComLookup = Callable[[str, str, str], Any]
"""``(dag_id, task_id, key) -> value`` for ``ti.xcom_pull`` within the same run."""

XComSearch = Callable[[str, "list[str] | None", str, str, "dt.datetime | None"], tuple[bool, Any]]
"""``(dag_id, task_ids or None, key, run_id, up_to) -> (found, value)``: the latest XCom of any of ``task_ids``
(of any task when None) in run ``run_id``, or in any run up to ``up_to`` (``include_prior_dates``)."""

XComListing = Callable[[str, str], "list[tuple[str, str, Any]]"]
"""``(dag_id, run_id) -> [(task_id, key, value), ...]``: the run's XComs under keys other than ``return_value``."""


def store_xcom_listing(store: Callable[[], Store]) -> XComListing:
    """An :data:`XComListing` over the store, oldest push first."""

    def listing(dag_id: str, run_id: str) -> list[tuple[str, str, Any]]:
        rows = [row for row in store().list_xcoms(dag_id, run_id) if row.key != "return_value"]
        return [(row.task_id, row.key, row.value) for row in sorted(rows, key=lambda row: row.timestamp)]

    return listing


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
    xcom_search: XComSearch | None = None
    xcom_listing: XComListing | None = None

    def keyed_xcoms(self) -> list[tuple[str, str, Any]]:
        """The run's XComs pushed under keys other than ``return_value`` (oldest first): what a Python task's
        container can pull by key (``ti.xcom_pull(key=...)``)."""
        return self.xcom_listing(self.dag_id, self.run_id) if self.xcom_listing is not None else []

    def xcom_pull(
        self,
        task_ids: str | list[str] | None = None,
        dag_id: str | None = None,
        key: str = "return_value",
        include_prior_dates: bool = False,
        *,
        map_indexes: int | list[int] | None = None,
        default: Any = None,
        run_id: str | None = None,
        **_: Any,
    ) -> Any:
        """Airflow's ``ti.xcom_pull``: the XCom of ``task_ids`` (a list for a list of ids) in this run; of any task
        of the run when ``task_ids`` is None; the latest one up to this run's logical date with
        ``include_prior_dates``; ``default`` where nothing was pushed. Tasks here are not mapped, so a map index
        other than -1 finds nothing."""
        if isinstance(map_indexes, int) and map_indexes != -1:
            return default
        if isinstance(map_indexes, (list, tuple)):
            found = self.xcom_pull(task_ids, dag_id, key, include_prior_dates, default=default, run_id=run_id)
            return [found for index in map_indexes if index == -1]
        owner, run = dag_id or self.dag_id, run_id or self.run_id
        if isinstance(task_ids, str):
            return self._one(owner, [task_ids], key, run, include_prior_dates, default)
        if task_ids is None:
            return self._one(owner, None, key, run, include_prior_dates, default)
        return [self._one(owner, [t], key, run, include_prior_dates, default) for t in task_ids]

    def _one(self, dag_id: str, task_ids: list[str] | None, key: str, run_id: str, prior: bool, default: Any) -> Any:
        if self.xcom_search is not None:
            found, value = self.xcom_search(dag_id, task_ids, key, run_id, self.logical_date if prior else None)
            return value if found else default
        if self.xcom_lookup is None or task_ids is None:
            return default
        value = self.xcom_lookup(dag_id, task_ids[0], key)
        return default if value is None else value


def store_xcom_search(store: Callable[[], Store]) -> XComSearch:
    """An :data:`XComSearch` over the store (``store`` opens it on first use)."""

    def search(
        dag_id: str, task_ids: list[str] | None, key: str, run_id: str, up_to: dt.datetime | None
    ) -> tuple[bool, Any]:
        if up_to is None and task_ids is not None and len(task_ids) == 1:
            # a mapped task's result is the list of its instances' results (Airflow's lazy sequence)
            if store().list_mapped(dag_id, run_id, task_ids[0], limit=1)[1]:
                return True, store().mapped_xcoms(dag_id, run_id, task_ids[0], key)
        row = store().latest_xcom(dag_id, key, run_id=run_id, task_ids=task_ids, up_to=up_to)
        return (False, None) if row is None else (True, row.value)

    return search


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
    map_index: int = -1
    """Which instance of a mapped task this try is (-1: the task is not mapped)."""
    triggering_events: list[dict[str, Any]] = field(default_factory=list)
    """The dataset events that triggered the run (:class:`~dockyard.datasets.DatasetEventView`'s fields)."""

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
    result: Any = None
    """``scheduler`` tries (orchestration-only operators): what the operator decided, plain JSON."""
    rendered_map_index: str | None = None
    """A mapped instance's name, from its task's ``map_index_template``."""

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
    xcom_search: XComSearch | None = None,
    xcom_listing: XComListing | None = None,
    variables: Callable[[str], str | None] | None = None,
    connections: Any = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Settings | None = None,
) -> PreparedTry:
    """Render ``task``'s templates for this try and return its container options (or ``empty``).

    ``settings`` give Bash and Python tasks their task image and DAG folder (default: from the environment)."""
    from dockyard.connections import ConnectionAccessor
    from dockyard.datasets import triggering_events
    from dockyard.operators.base import EmptyOperator
    from dockyard.operators.docker import DockerOperator
    from dockyard.operators.orchestration import SchedulerOperator
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

    task, map_index_template = _instance_of(dag, task, context.map_index, xcom_lookup)
    if isinstance(task, EmptyOperator):
        return PreparedTry(kind="empty")
    pokes_in_scheduler = not task.runs_in_container and hasattr(task, "sensor_values")
    if not task.runs_in_container and not pokes_in_scheduler and not isinstance(task, SchedulerOperator):
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
        dag.dag_id,
        task.task_id,
        context.run_id,
        context.try_number,
        context.logical_date,
        map_index=context.map_index,
        xcom_lookup=xcom_lookup,
        xcom_search=xcom_search,
        xcom_listing=xcom_listing,
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
        triggering_events=triggering_events(context.triggering_events),
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
    if isinstance(task, SchedulerOperator):  # no container: the scheduler acts on what the operator decides
        return PreparedTry(
            kind="scheduler",
            rendered=masker.mask_value(rendered),
            secrets=sorted({*masker.collected, *registered_secrets()}),
            do_xcom_push=bool(task.do_xcom_push),
            notes=notes,
            result=task.run_in_scheduler(template_context, rendered),
        )
    if pokes_in_scheduler:  # a clock or store sensor: its rendered values; it pokes in the scheduler
        values = cast(Any, task).sensor_values(template_context, rendered)
        return PreparedTry(kind="sensor", options=values, rendered=masker.mask_value(rendered), notes=notes)
    name = _map_index_name(map_index_template, task, template_context, rendered, make_environment(dag, searchpath))
    if isinstance(task, TaskImageOperator):  # Bash and Python tasks: a container of the task image
        options = task.container_options(template_context, rendered, settings or Settings.from_env())
        for secret in options.secrets:
            masker.add(secret)
    else:
        options = cast(DockerOperator, task).options.render(rendered)
    timeout = task.execution_timeout.total_seconds() if task.execution_timeout else None
    service = getattr(task, "service_options", None)  # a DockerSwarmOperator's service around the container
    return PreparedTry(
        kind="container",
        options={**options.to_json(), **({"service": service.to_json()} if service is not None else {})},
        rendered=masker.mask_value(rendered),
        secrets=sorted({*masker.collected, *registered_secrets()}),
        do_xcom_push=bool(task.do_xcom_push or task.needs_result),
        xcom_all=options.xcom_all,
        retrieve_output=options.retrieve_output,
        docker_conn_id=options.docker_conn_id,
        multiple_outputs=bool(task.multiple_outputs),
        execution_timeout=timeout,
        notes=notes,
        rendered_map_index=masker.mask(name) if name is not None else None,
    )


# -- dynamic task mapping: the instance a try runs, and its name ------------------------------------------
def _instance_of(
    dag: DAG, task: BaseOperator, map_index: int, xcom_lookup: XComLookup | None
) -> tuple[BaseOperator, str | None]:
    """The plain operator a try of ``task`` runs: a mapped task's instance ``map_index``, with the upstream
    results it maps over looked up; and the mapped task's ``map_index_template``."""
    from dockyard.mapping import MappedOperator

    if not isinstance(task, MappedOperator):
        if map_index >= 0:
            raise DagDefinitionError(f"task {task.task_id!r} is not mapped; it has no map_index {map_index}")
        return task, None
    if map_index < 0:
        raise DagDefinitionError(
            f"task {task.task_id!r} is mapped: name one of its instances with a map_index (0, 1, ...)"
        )

    def resolve(task_id: str, key: str) -> Any:
        return xcom_lookup(dag.dag_id, task_id, key) if xcom_lookup is not None else None

    try:
        return task.unmap(map_index, resolve), task.map_index_template
    except IndexError:
        raise DagDefinitionError(
            f"task {task.task_id!r} has no map_index {map_index}: what it maps over has fewer elements"
        ) from None


class _RenderedTask:
    """``task`` as ``map_index_template`` sees it: its templated fields rendered, as in Airflow."""

    def __init__(self, task: BaseOperator, rendered: Mapping[str, Any]) -> None:
        self._task = task
        self._rendered = rendered

    def __getattr__(self, name: str) -> Any:
        return self._rendered[name] if name in self._rendered else getattr(self._task, name)


def _map_index_name(
    template: str | None, task: BaseOperator, context: Mapping[str, Any], rendered: Mapping[str, Any], env: Any
) -> str | None:
    """The instance's name from ``map_index_template``; None (the UI shows the map index) when the template
    is empty or does not render, as in Airflow."""
    import jinja2

    if not template:
        return None
    try:
        name = str(env.from_string(template).render({**context, "task": _RenderedTask(task, rendered)})).strip()
    except (jinja2.TemplateError, LookupError, AttributeError, TypeError, ValueError):
        return None
    return name[:250] or None


def template_config(settings: Settings) -> dict[str, dict[str, Any]]:
    """What ``{{ conf.get(section, key) }}`` reads in templates: the few settings Airflow users ask for."""
    return {
        "core": {"dags_folder": str(settings.dags_folder), "parallelism": settings.parallelism},
        "webserver": {"base_url": f"http://{settings.web_host}:{settings.web_port}"},
    }


_worker_store: Store | None = None
"""A preparation worker's store (:func:`warm_up`): the children it forks start with its ORM configured and its
SQL compiled, and open connections of their own."""


class _LazyStore:
    """Opens the store only when a DAG file or template asks for a variable, connection or XCom."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    def get(self) -> Store:
        if self._store is None:
            from dockyard.store import Store

            self._store = _worker_store or Store.open(self.settings, migrate_schema=False)
        return self._store


_RENDERING_MODULES = (
    "dockyard.connections",
    "dockyard.datasets",
    "dockyard.mapping",
    "dockyard.operators.orchestration",
    "dockyard.operators.task_image",
    "dockyard.templating",
    "encodings.idna",
    "encodings.unicode_escape",
    "jinja2.ext",
)
"""Modules a try's rendering imports on first use (not yet imported by a DAG file that only builds the DAG)."""


def warm_up(settings: Settings) -> None:
    """In a preparation worker, once its DAG file is imported: do what every try would otherwise do in a cold
    process (open the store, compile the lookups templates make, import what rendering uses), so that the
    children it forks for the tries start warm. Runs dockyard's code only, never the DAG file's."""
    global _worker_store
    import importlib

    from dockyard.store import Store
    from dockyard.variables import variable_source

    for name in _RENDERING_MODULES:
        importlib.import_module(name)
    try:
        store = Store.open(settings, migrate_schema=False)
    except DockyardError:  # a database URL that is wrong: the tries that need the store say so
        return
    try:  # keys that match nothing: only the statements' compilation is wanted
        store.get_xcom("", "", "")
        store.latest_xcom("", "return_value", run_id="", task_ids=[""])
        store.list_mapped("", "", "", limit=1)
        store.list_xcoms("", "")
        variable_source(settings, store)("")
    except Exception:  # a database that is away now is an error of the tries that need it, not of the worker
        log.debug("warming up the store failed", exc_info=True)
    finally:
        store.engine.dispose()  # no connection crosses a fork: each child opens its own
    _worker_store = store


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


def _load(fileloc: str, dag_id: str, task_id: str | None = None) -> DAG:
    """The DAG ``dag_id`` of ``fileloc``: as this child's worker imported it, else imported now. A worker's import
    that lacks the DAG or ``task_id`` (the file reads a Variable at its top, say, and the DAG processor parsed it
    again since) gives way to a fresh import, so a try never fails on what the scheduler already knows."""
    from dockyard.dag_worker import held_dags
    from dockyard.dagbag import load_dag_file

    found = held_dags(fileloc)
    held = found is not None and dag_id in found and (task_id is None or task_id in found[dag_id].task_dict)
    if found is None or not held:
        found = {dag.dag_id: dag for dag in load_dag_file(Path(fileloc))}
    if dag_id in found:
        return found[dag_id]
    raise DagDefinitionError(f"{fileloc} no longer defines the DAG {dag_id!r}")


def _prepare_child(settings: Settings, context_json: dict[str, Any]) -> dict[str, Any]:
    """Runs in the child: load the DAG file (unless its worker did), prepare the try, return it as JSON."""
    from dockyard.connections import Connections

    context = TryContext.from_json(context_json)
    lazy = configure_lookups(settings)
    dag = _load(context.fileloc, context.dag_id, context.task_id)
    task = dag.get_task(context.task_id)

    def xcom(dag_id: str, task_id: str, key: str) -> Any:
        from dockyard.mapping import is_mapped

        if dag_id == dag.dag_id and is_mapped(dag.task_dict.get(task_id)):  # every instance's result, as a list
            return lazy.get().mapped_xcoms(dag_id, context.run_id, task_id, key)
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
        xcom_search=store_xcom_search(lazy.get),
        xcom_listing=store_xcom_listing(lazy.get),
        variables=variables,
        connections=_Connections(),
        config=template_config(settings),
        settings=settings,
    ).to_json()


def prepare_in_child(settings: Settings, context: TryContext) -> PreparedTry:
    """Prepare a try in a child process (time and memory limited): one forked from a worker that has the DAG
    file imported already (:mod:`dockyard.dag_worker`), or with ``preparation_workers=0`` one that imports it."""
    from dockyard.dag_worker import call_in_worker
    from dockyard.isolation import ChildFailed, run_in_child

    what = f"preparing task {context.task_id!r} from {context.fileloc}"
    try:
        if settings.preparation_workers > 0:
            data = call_in_worker(settings, context.fileloc, _prepare_child, (settings, context.to_json()), what=what)
        else:
            data = run_in_child(
                _prepare_child,
                (settings, context.to_json()),
                timeout=settings.dag_file_processor_timeout,
                memory_mb=settings.dag_file_memory_mb,
                what=what,
            )
    except ChildFailed as exc:
        raise DagDefinitionError(f"task {context.task_id!r} could not be prepared: {exc}") from exc
    return PreparedTry.from_json(data)


def _callback_child(
    settings: Settings,
    fileloc: str,
    dag_id: str,
    task_id: str | None,
    name: str,
    info: dict[str, Any],
) -> None:
    """Runs in the child: call the DAG's or the task's callback ``name`` with Airflow's context: the template
    context of the task instance (for a DAG's callback, its last failed one, else its last one), with
    ``exception`` and, for a DAG, ``reason`` (``success``, ``task_failure``, ``timed_out``)."""
    lazy = configure_lookups(settings)
    dag = _load(fileloc, dag_id)
    owner: Any = dag.get_task(task_id) if task_id else dag
    callback = getattr(owner, name, None)
    try:
        context = _callback_context(settings, lazy, dag, task_id, info)
    except DockyardError:  # the run is gone (deleted meanwhile): the callback still gets the plain facts
        context = {"dag": dag, "task": owner if task_id else None, "run_id": info.get("run_id")}
    context.update({k: v for k, v in info.items() if k not in ("exception", "reason")})
    if info.get("exception"):
        context["exception"] = DockyardError(info["exception"])
    if task_id is None:
        context["reason"] = {"failed": "task_failure"}.get(info.get("reason") or "", info.get("reason"))
    for function in callback if isinstance(callback, list) else [callback]:
        if function is not None:
            function(context)


def _callback_context(
    settings: Settings, lazy: _LazyStore, dag: DAG, task_id: str | None, info: dict[str, Any]
) -> dict[str, Any]:
    """The template context a callback gets, built from what the store knows of the run and the try."""
    from dockyard.states import TaskState
    from dockyard.templating import RunFacts, TryFacts, build_context, variables_namespace
    from dockyard.variables import variable_source

    store = lazy.get()
    run = store.get_run(dag.dag_id, info["run_id"])
    tis = [ti for ti in store.list_task_instances(dag.dag_id, run.run_id) if ti.task_id in dag.task_dict]
    if task_id is not None:
        chosen = next((ti for ti in tis if ti.task_id == task_id), None)
    else:
        failed = [ti for ti in tis if ti.state in (TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value)]
        ordered = sorted(failed or tis, key=lambda ti: (ti.end_date is not None, ti.end_date or run.logical_date))
        chosen = ordered[-1] if ordered else None
    task = dag.get_task(chosen.task_id if chosen else task_id or next(iter(dag.task_dict)))
    try_number = int(info.get("try_number") or (chosen.try_number if chosen else 1) or 1)
    interval = (run.data_interval_start or run.logical_date, run.data_interval_end or run.logical_date)
    ti = TaskTry(
        dag.dag_id, task.task_id, run.run_id, try_number, run.logical_date, xcom_search=store_xcom_search(lazy.get)
    )
    return build_context(
        dag=dag,
        task=task,
        logical_date=run.logical_date,
        run_id=run.run_id,
        ti=ti,
        data_interval=interval,
        params=dict(run.conf or {}),
        conf=dict(run.conf or {}),
        extra={"var": variables_namespace(variable_source(settings, store))},
        run=RunFacts(
            run_type=run.run_type,
            state=str(run.state),
            start_date=run.start_date,
            end_date=run.end_date,
            queued_at=run.queued_at,
            external_trigger=run.external_trigger,
        ),
        attempt=TryFacts(
            start_date=chosen.start_date if chosen else None,
            end_date=chosen.end_date if chosen else None,
            state=str(chosen.state or "none") if chosen else "none",
            hostname=chosen.hostname if chosen else None,
            max_tries=chosen.max_tries if chosen else None,
            base_url=template_config(settings)["webserver"]["base_url"],
        ),
        config=template_config(settings),
    )


def callback_in_child(
    settings: Settings, fileloc: str, dag_id: str, task_id: str | None, name: str, info: dict[str, Any]
) -> None:
    """Run a user's callback in a child process (one a worker forks, as for :func:`prepare_in_child`); its failure
    is logged by the caller, never raised through."""
    from dockyard.dag_worker import call_in_worker
    from dockyard.isolation import run_in_child

    what = f"running {name} of {task_id or dag_id}"
    if settings.preparation_workers > 0:
        call_in_worker(settings, fileloc, _callback_child, (settings, fileloc, dag_id, task_id, name, info), what=what)
        return
    run_in_child(
        _callback_child,
        (settings, fileloc, dag_id, task_id, name, info),
        timeout=settings.dag_file_processor_timeout,
        memory_mb=settings.dag_file_memory_mb,
        what=what,
    )

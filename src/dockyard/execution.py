"""One task try, from template to result: render -> spec -> container -> state, XCom and log.

Used by ``dockyard tasks test`` and, through the same :class:`TaskRunner`, by the scheduler's
executor threads. The scheduler hands in ``on_finished``, which commits the outcome: the container is
removed (per ``auto_remove``) only after that returns, so a result that was never recorded can always be
read again from its container after a restart, and a finished try never runs twice.

Every line a person can read (the log file, the terminal, error messages) passes through the try's
:class:`~dockyard.masking.SecretsMasker` first.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import faults
from dockyard.connections import Connections, parse_bool
from dockyard.container import ContainerResult, DockerRuntime, RunControl, build_spec, labels_for
from dockyard.container.control import StopReason
from dockyard.container.dispatch import EngineRuntime, engine_mode
from dockyard.container.options import ContainerOptions
from dockyard.container.policy import Policy
from dockyard.container.runtime import Abandoned
from dockyard.container.spec import EngineConfig, RegistryAuth
from dockyard.container.usage import ContainerUsage
from dockyard.dag import DAG
from dockyard.errors import (
    ContainerFailedError,
    DagDefinitionError,
    DockyardError,
    InvalidConnectionError,
    TaskError,
    TaskSkipped,
)
from dockyard.masking import SecretsMasker, masker_for_try
from dockyard.operators.base import BaseOperator
from dockyard.preparation import PreparedTry, TryContext, XComLookup, prepare
from dockyard.serialization import json_default
from dockyard.settings import Settings
from dockyard.states import TaskState
from dockyard.store.api import KeyedXCom
from dockyard.tasklog import TaskLog, count_output_lines, log_path_for
from dockyard.xcom_envelope import open_envelope, runs_task_runner


@dataclass
class TryOutcome:
    state: TaskState
    xcom: Any = None
    error: DockyardError | None = None
    message: str = ""
    """The error, masked: what a person may be shown."""
    container_id: str | None = None
    exit_code: int | None = None
    log_path: Path | None = None
    duration: float = 0.0
    rendered: dict[str, Any] = field(default_factory=dict)
    stop_reason: StopReason | None = None
    """Why dockyard stopped the container (a person, a timeout, a shutdown), if it did."""
    rendered_map_index: str | None = None
    """A mapped instance's name from ``map_index_template``."""
    pushed: dict[str, Any] | None = None
    """XComs the task's callable pushed under keys of its own (``ti.xcom_push`` in its container)."""
    usage: ContainerUsage | None = None
    """What the try's container used (image digest, peak memory, CPU time); None without a container."""

    def fail(self, exc: DockyardError) -> str:
        """The try failed with ``exc``; returns the line its log says so with."""
        self.state, self.xcom, self.message, self.error = TaskState.FAILED, None, str(exc), exc
        return f"ERROR: {exc}"

    def say(self, text: str) -> None:
        """Add dockyard's line ``text`` to the try's log (for work done after the container, in the scheduler)."""
        if self.log_path is not None:
            log = TaskLog(self.log_path, masker_for_try())
            log.say(text)
            log.close()


def xcom_value(task: PreparedTry, result: ContainerResult) -> Any:
    """Airflow's rules: nothing without do_xcom_push; the result file; every line; or the last line."""
    if not task.do_xcom_push:
        return None
    if task.retrieve_output:
        return result.output_value
    if task.xcom_all:
        return [line.strip() for line in result.all_lines or []]
    last = result.last_line
    return last.strip() if last is not None else None


def keyed_outputs(task_id: str, value: Any) -> KeyedXCom:
    """``multiple_outputs=True``: the returned dict, each of whose keys the store pushes as an XCom too."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise TaskError(
            f"task {task_id!r}: multiple_outputs=True needs a dict with string keys as the result, "
            f"got a value of type {type(value).__name__!r}"
        )
    return KeyedXCom(value)


def describe(value: Any) -> str:
    """A value as a person reads it: JSON where it can be."""
    return json.dumps(value, default=json_default)


@dataclass
class TryRequest:
    """One try: who it is, and how its container options are prepared (in a child, or from a loaded DAG)."""

    context: TryContext
    prepare: Callable[[], PreparedTry]
    timeout: float | None = None
    """Seconds left of ``execution_timeout`` (default: all of it)."""
    sense: Callable[[PreparedTry, Callable[[str], None], RunControl | None], Any] | None = None
    """Pokes a sensor that pokes in the scheduler (a ``sensor`` preparation) and returns its verdict."""
    engine: EngineConfig | None = None
    """The engine of the pool the scheduler admitted the try to (None: the task's own or the default)."""


class TaskRunner:
    """Runs task tries. Thread-safe; one instance serves every executor thread."""

    def __init__(
        self,
        settings: Settings,
        runtime: DockerRuntime | EngineRuntime | None = None,
        *,
        instance: str | None = None,
        variables: Callable[[str], str | None] | None = None,
        connections: Connections | None = None,
    ) -> None:
        self.settings = settings
        self.instance = instance
        self.variables = variables
        self.connections = connections
        runtime = runtime or DockerRuntime(
            docker_host=settings.docker_host,
            stop_grace_seconds=settings.stop_grace_seconds,
            policy=Policy.from_settings(settings),
            host_tmp_dir=settings.host_tmp_dir,
        )
        self.runtime = runtime if isinstance(runtime, EngineRuntime) else EngineRuntime(runtime)
        """Runs each try as a container or a Swarm service, by its engine's mode."""

    def log_path(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> Path:
        return log_path_for(self.settings.logs_folder, dag_id, run_id, task_id, try_number, map_index)

    def _docker_connection(
        self,
        conn_id: str | None,
        task_id: str,
        options: ContainerOptions,
        values: dict[str, Any],
        masker: SecretsMasker,
    ) -> RegistryAuth | None:
        """The registry login of ``docker_conn_id``; an engine the connection names fills the task's unset
        ``docker_url`` and TLS options (into ``values``, overrides of ``options``)."""
        if not conn_id:
            return None
        if self.connections is None:
            raise DagDefinitionError(f"task {task_id!r} uses docker_conn_id but no connections are available here")
        conn = self.connections.get(conn_id)
        for secret in conn.secrets():
            masker.add(secret)
        extra = conn.extra_dejson
        for key in (
            "docker_url",
            "tls_ca_cert",
            "tls_client_cert",
            "tls_client_key",
            "tls_hostname",
            "tls_ssl_version",
        ):
            if extra.get(key) and not getattr(options, key):
                values[key] = extra[key]
        if "tls_verify" in extra and options.tls_verify is True:
            values["tls_verify"] = parse_bool(
                f"connection {conn.conn_id!r} extra tls_verify", extra["tls_verify"], True
            )
        if not conn.host:
            if extra.get("docker_url"):
                return None  # an engine-only connection: no registry login
            raise InvalidConnectionError(
                f"connection {conn.conn_id!r} has no host: set it to the registry (e.g. registry.example.com:5000)"
            )
        if not conn.login:
            raise InvalidConnectionError(f"connection {conn.conn_id!r} has no login for registry {conn.host}")
        registry = f"{conn.host}:{conn.port}" if conn.port else conn.host
        return RegistryAuth(
            registry=registry,
            username=conn.login,
            password=conn.password or "",
            email=extra.get("email"),
            reauth=parse_bool(f"connection {conn.conn_id!r} extra reauth", extra.get("reauth"), True),
            source=conn.conn_id,
        )

    def run(
        self,
        dag: DAG,
        task: BaseOperator,
        *,
        logical_date: dt.datetime,
        run_id: str,
        try_number: int = 1,
        params: Mapping[str, Any] | None = None,
        data_interval: tuple[dt.datetime, dt.datetime] | None = None,
        xcom_lookup: XComLookup | None = None,
        echo: Callable[[str], None] | None = None,
        control: RunControl | None = None,
        map_index: int = -1,
    ) -> TryOutcome:
        """Run one try of a loaded DAG's ``task`` in this process; it raises only on Ctrl-C."""
        context = TryContext(
            dag_id=dag.dag_id,
            task_id=task.task_id,
            run_id=run_id,
            logical_date=logical_date,
            try_number=try_number,
            fileloc=dag.fileloc or "",
            params=dict(params or {}),
            conf=dict(params or {}),
            data_interval=data_interval,
            map_index=map_index,
        )
        request = TryRequest(
            context=context,
            prepare=lambda: prepare(
                dag,
                task,
                context,
                xcom_lookup=xcom_lookup,
                variables=self.variables,
                connections=self.connections,
                settings=self.settings,
            ),
        )
        return self.execute(request, echo=echo, control=control)

    def execute(
        self,
        request: TryRequest,
        *,
        echo: Callable[[str], None] | None = None,
        control: RunControl | None = None,
        on_created: Callable[[str], None] | None = None,
        on_rendered: Callable[[dict[str, Any]], None] | None = None,
        resume_container: str | None = None,
        on_finished: Callable[[TryOutcome], bool] | None = None,
    ) -> TryOutcome:
        """Run a try (or, with ``resume_container``, finish one whose container is already there).

        ``on_finished`` records the outcome before the container is removed; it returns False when the try no
        longer exists (its run was deleted), and the container is then removed whatever ``auto_remove`` says.
        Whatever it raises propagates with the container left in place, for the next scheduler to finish.

        Raises only :class:`KeyboardInterrupt`, :class:`~dockyard.container.runtime.Abandoned` and what
        ``on_finished`` raises.
        """
        control = control or RunControl()
        kill_at = self.settings.fault_kill_at
        ctx = request.context
        masker = masker_for_try()
        path = self.log_path(ctx.dag_id, ctx.run_id, ctx.task_id, ctx.try_number, ctx.map_index)
        skip = count_output_lines(path) if resume_container else 0
        log = TaskLog(path, masker, echo)
        started = time.monotonic()
        outcome = TryOutcome(state=TaskState.FAILED, log_path=path)
        try:
            prepared = request.prepare()
            for secret in prepared.secrets:
                masker.add(secret)
            for note in prepared.notes:
                log.say(note)
            outcome.rendered_map_index = prepared.rendered_map_index
            if prepared.kind == "empty":
                outcome.state = TaskState.SUCCESS
                return outcome
            if prepared.kind == "scheduler":  # an orchestration-only operator: decided without a container
                outcome.rendered = prepared.rendered
                if on_rendered is not None:
                    on_rendered(outcome.rendered)
                outcome.xcom, outcome.state = prepared.result, TaskState.SUCCESS
                log.say(f"Decided in the scheduler: {masker.mask(describe(prepared.result))}")
                return outcome
            if prepared.kind == "sensor":  # a clock or store sensor: no container; the scheduler settles the verdict
                if request.sense is None:
                    raise DagDefinitionError(
                        f"task {ctx.task_id!r} is a sensor that pokes in the scheduler; run it with `dags test` or "
                        "under the scheduler"
                    )
                outcome.rendered = prepared.rendered
                outcome.xcom = request.sense(prepared, log.say, control)
                outcome.state = TaskState.SUCCESS
                return outcome
            outcome.rendered = prepared.rendered
            if on_rendered is not None:
                on_rendered(outcome.rendered)
            options = ContainerOptions.from_json(prepared.options)
            overrides: dict[str, Any] = {}
            registry_auth = self._docker_connection(prepared.docker_conn_id, ctx.task_id, options, overrides, masker)
            modes = engine_mode(prepared.options, overrides, self.settings.engine_mode)
            if request.engine is not None and "service" not in modes and "docker_url" not in overrides:
                modes["mode"] = request.engine.mode  # the pool's engine runs containers or services
            spec = build_spec(
                options.render(overrides) if overrides else options,
                labels=labels_for(ctx.dag_id, ctx.task_id, ctx.run_id, ctx.try_number, self.instance, ctx.map_index),
                default_docker_url=self.settings.default_docker_url,
                registry_auth=registry_auth,
                docker_config=str(self.settings.docker_config) if self.settings.docker_config else None,
                placed_on=request.engine,
                **modes,
            )
            for secret in spec.secrets:
                masker.add(secret)
            timeout = request.timeout if request.timeout is not None else prepared.execution_timeout
            if resume_container is None:
                instance = f", map_index {ctx.map_index}" if ctx.map_index >= 0 else ""
                log.say(f"Running task {ctx.dag_id}.{ctx.task_id} (run {ctx.run_id}{instance}, try {ctx.try_number})")
                faults.reached(kill_at, "claimed")

                def created(container_id: str) -> None:
                    if on_created is not None:
                        on_created(container_id)
                    faults.reached(kill_at, "created")

                result = self.runtime.run(
                    spec,
                    log.lines,
                    say=log.say,
                    timeout=timeout,
                    control=control,
                    on_created=created,
                    on_started=lambda _: faults.reached(kill_at, "started"),
                    defer_removal=on_finished is not None,
                )
            else:
                result = self.runtime.resume(
                    spec,
                    resume_container,
                    log.lines,
                    skip_lines=skip,
                    say=log.say,
                    timeout=timeout,
                    control=control,
                    defer_removal=on_finished is not None,
                )
            outcome.container_id = result.container_id
            outcome.exit_code = result.exit_code
            if result.skipped:
                raise TaskSkipped(f"exit code {result.exit_code} is in skip_on_exit_code: the task is skipped")
            if result.exit_code != 0:
                raise ContainerFailedError(
                    exit_code=result.exit_code,
                    image=spec.image,
                    command=masker.mask(spec.command_text()),
                    last_lines=masker.mask_lines(result.last_lines),
                    task_id=ctx.task_id,
                )
            if runs_task_runner(prepared.options):  # ti.xcom_push in the container: its values beside the result
                result.output_value, pushed = open_envelope(result.output_value)
                outcome.pushed = masker.mask_value(pushed) if pushed else None
            outcome.xcom = masker.mask_value(xcom_value(prepared, result))
            if prepared.multiple_outputs and outcome.xcom is not None:
                outcome.xcom = keyed_outputs(ctx.task_id, outcome.xcom)
            outcome.state = TaskState.SUCCESS
            log.say(f"Container exited with code 0; XCom: {masker.mask(describe(outcome.xcom))}")
        except TaskSkipped as exc:
            outcome.state = TaskState.SKIPPED
            log.say(f"Skipped: {exc}")
        except DockyardError as exc:
            outcome.error = exc
            outcome.stop_reason = getattr(exc, "stop_reason", None)
            outcome.message = masker.mask(str(exc))
            log.say(f"ERROR: {outcome.message}")
        except Abandoned:
            log.say("The scheduler stopped watching this container; it keeps running and will be re-attached")
            raise
        except KeyboardInterrupt:
            log.say("Interrupted: the container was stopped")
            raise
        finally:
            outcome.duration = time.monotonic() - started
            log.close()
        outcome.container_id = outcome.container_id or control.container_id
        outcome.usage = control.usage
        if on_finished is not None:
            if outcome.container_id is not None:
                faults.reached(kill_at, "exited")
            exists = on_finished(outcome)
            faults.reached(kill_at, "written")
            control.remove_container(always=not exists)
        return outcome

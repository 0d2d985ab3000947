"""One task try, from template to result: render -> spec -> container -> state, XCom and log.

Used by ``dockyard tasks test`` and, through the same :class:`TaskRunner`, by the scheduler's
executor threads. Every line a person can read (the log file, the terminal, error messages) passes
through the try's :class:`~dockyard.masking.SecretsMasker` first.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from dockyard import defaults
from dockyard.connections import ConnectionAccessor, Connections, parse_bool
from dockyard.container import ContainerResult, DockerRuntime, RunControl, build_spec, labels_for
from dockyard.container.runtime import Abandoned
from dockyard.container.spec import RegistryAuth
from dockyard.dag import DAG
from dockyard.errors import (
    ContainerFailedError,
    DagDefinitionError,
    DockyardError,
    InvalidConnectionError,
    TaskSkipped,
)
from dockyard.masking import SecretsMasker, is_sensitive_name, masker_for_try
from dockyard.operators.base import BaseOperator, EmptyOperator
from dockyard.operators.docker import DockerOperator
from dockyard.serialization import json_default
from dockyard.settings import Settings
from dockyard.templating import build_context, make_environment, render_fields, variables_namespace

XComLookup = Callable[[str, str, str], Any]
"""``(dag_id, task_id, key) -> value`` for ``ti.xcom_pull`` within the same run."""


class TryState(str, enum.Enum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


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
class TryOutcome:
    state: TryState
    xcom: Any = None
    error: DockyardError | None = None
    message: str = ""
    """The error, masked: what a person may be shown."""
    container_id: str | None = None
    exit_code: int | None = None
    log_path: Path | None = None
    duration: float = 0.0
    rendered: dict[str, Any] = field(default_factory=dict)


def log_path_for(logs_folder: Path, dag_id: str, run_id: str, task_id: str, try_number: int) -> Path:
    """Airflow's layout: ``dag_id=X/run_id=Y/task_id=Z/attempt=N.log`` (run ids made safe for paths)."""
    return (
        logs_folder
        / f"dag_id={dag_id}"
        / f"run_id={quote(run_id, safe='')}"
        / f"task_id={task_id}"
        / f"attempt={try_number}.log"
    )


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class TaskLog:
    """A try's log file: each line stamped with the time it arrived, masked, optionally echoed."""

    def __init__(self, path: Path, masker: SecretsMasker, echo: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.masker = masker
        self.echo = echo
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8", errors="replace")
        self._last_flush = time.monotonic()

    def lines(self, lines: list[str]) -> None:
        stamp = _stamp()
        text = "".join(f"{stamp} {line}\n" for line in self.masker.mask_lines(lines))
        self._file.write(text)
        if self.echo is not None:
            self.echo(text)
        now = time.monotonic()
        if now - self._last_flush >= defaults.DEFAULT_LOG_FLUSH_SECONDS:
            self._file.flush()
            self._last_flush = now

    def say(self, message: str) -> None:
        """dockyard's own messages, marked so they stand apart from the container's output."""
        stamp = _stamp()
        text = "".join(f"{stamp} [dockyard] {line}\n" for line in self.masker.mask(message).splitlines())
        self._file.write(text)
        self._file.flush()
        if self.echo is not None:
            self.echo(text)

    def close(self) -> None:
        self._file.close()


def xcom_value(task: DockerOperator, result: ContainerResult) -> Any:
    """Airflow's rules: nothing without do_xcom_push; the result file; every line; or the last line."""
    if not task.do_xcom_push:
        return None
    if task.retrieve_output:
        return result.output_value
    if task.xcom_all:
        return [line.strip() for line in result.all_lines or []]
    last = result.last_line
    return last.strip() if last is not None else None


def describe(value: Any) -> str:
    """A value as a person reads it: JSON where it can be."""
    return json.dumps(value, default=json_default)


@dataclass
class TryRequest:
    """Everything that identifies one try and feeds its template context."""

    dag: DAG
    task: BaseOperator
    logical_date: dt.datetime
    run_id: str
    try_number: int = 1
    params: Mapping[str, Any] | None = None
    conf: Mapping[str, Any] | None = None
    data_interval: tuple[dt.datetime, dt.datetime] | None = None
    xcom_lookup: XComLookup | None = None
    extra_context: Mapping[str, Any] | None = None
    timeout: float | None = None
    """Seconds left of ``execution_timeout`` (default: all of it)."""


def count_output_lines(path: Path) -> int:
    """How many container output lines a try's log already holds (dockyard's own lines not counted)."""
    if not path.exists():
        return 0
    count = 0
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.partition(" ")[2].startswith("[dockyard] "):
                count += 1
    return count


class TaskRunner:
    """Runs task tries. Thread-safe; one instance serves every executor thread."""

    def __init__(
        self,
        settings: Settings,
        runtime: DockerRuntime | None = None,
        *,
        instance: str | None = None,
        variables: Callable[[str], str | None] | None = None,
        connections: Connections | None = None,
    ) -> None:
        self.settings = settings
        self.instance = instance
        self.variables = variables
        self.connections = connections
        self.runtime = runtime or DockerRuntime(
            docker_host=settings.docker_host, stop_grace_seconds=settings.stop_grace_seconds
        )

    def log_path(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> Path:
        return log_path_for(self.settings.logs_folder, dag_id, run_id, task_id, try_number)

    def _lookups(self, masker: SecretsMasker) -> dict[str, Any]:
        """``var`` and ``conn`` for templates; secrets read through them are masked in this try."""

        def variable(key: str) -> str | None:
            value = self.variables(key) if self.variables is not None else None
            if value and is_sensitive_name(key):
                masker.add(value)
            return value

        extra: dict[str, Any] = {"var": variables_namespace(variable)}
        if self.connections is not None:
            extra["conn"] = ConnectionAccessor(self.connections, masker.add)
        return extra

    def _docker_connection(
        self, task: DockerOperator, values: dict[str, Any], masker: SecretsMasker
    ) -> RegistryAuth | None:
        """The registry login of ``docker_conn_id``; an engine the connection names fills the task's unset
        ``docker_url`` and TLS options."""
        if not task.docker_conn_id:
            return None
        if self.connections is None:
            raise DagDefinitionError(f"task {task.task_id!r} uses docker_conn_id but no connections are available here")
        conn = self.connections.get(task.docker_conn_id)
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
            if extra.get(key) and not values.get(key):
                values[key] = extra[key]
        if "tls_verify" in extra and values.get("tls_verify", True) is True:
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
    ) -> TryOutcome:
        """Run one try of ``task`` and return how it ended; it raises only on Ctrl-C."""
        request = TryRequest(
            dag=dag,
            task=task,
            logical_date=logical_date,
            run_id=run_id,
            try_number=try_number,
            params=params,
            conf=params,
            data_interval=data_interval,
            xcom_lookup=xcom_lookup,
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
    ) -> TryOutcome:
        """Run a try (or, with ``resume_container``, finish one whose container is already there).

        Raises only :class:`KeyboardInterrupt` and :class:`~dockyard.container.runtime.Abandoned`.
        """
        dag, task = request.dag, request.task
        masker = masker_for_try(getattr(task, "private_environment", {}).values())
        path = self.log_path(dag.dag_id, request.run_id, task.task_id, request.try_number)
        skip = count_output_lines(path) if resume_container else 0
        log = TaskLog(path, masker, echo)
        started = time.monotonic()
        outcome = TryOutcome(state=TryState.FAILED, log_path=path)
        try:
            if isinstance(task, EmptyOperator):
                outcome.state = TryState.SUCCESS
                return outcome
            if not isinstance(task, DockerOperator):
                raise DagDefinitionError(
                    f"task {task.task_id!r} is a {type(task).__name__}; dockyard runs DockerOperator and "
                    "EmptyOperator tasks: move the work into an image and use DockerOperator"
                )
            ti = TaskTry(
                dag.dag_id,
                task.task_id,
                request.run_id,
                request.try_number,
                request.logical_date,
                xcom_lookup=request.xcom_lookup,
            )
            context = build_context(
                dag=dag,
                task=task,
                logical_date=request.logical_date,
                run_id=request.run_id,
                ti=ti,
                data_interval=request.data_interval,
                params=request.params,
                conf=request.conf,
                extra={**self._lookups(masker), **(request.extra_context or {})},
            )
            searchpath = [str(Path(dag.fileloc).parent)] if dag.fileloc else []
            rendered = render_fields(task, context, make_environment(dag, searchpath))
            outcome.rendered = masker.mask_value(rendered)
            if on_rendered is not None:
                on_rendered(outcome.rendered)
            values = task.spec_values()
            values.update(rendered)
            registry_auth = self._docker_connection(task, values, masker)
            spec = build_spec(
                values,
                labels=labels_for(dag.dag_id, task.task_id, request.run_id, request.try_number, self.instance),
                default_docker_url=self.settings.default_docker_url,
                registry_auth=registry_auth,
                docker_config=str(self.settings.docker_config) if self.settings.docker_config else None,
            )
            for secret in spec.secrets:
                masker.add(secret)
            timeout = request.timeout
            if timeout is None and task.execution_timeout:
                timeout = task.execution_timeout.total_seconds()
            if resume_container is None:
                log.say(f"Running task {dag.dag_id}.{task.task_id} (run {request.run_id}, try {request.try_number})")
                result = self.runtime.run(
                    spec, log.lines, say=log.say, timeout=timeout, control=control, on_created=on_created
                )
            else:
                result = self.runtime.resume(
                    spec, resume_container, log.lines, skip_lines=skip, say=log.say, timeout=timeout, control=control
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
                    task_id=task.task_id,
                )
            outcome.xcom = masker.mask_value(xcom_value(task, result))
            outcome.state = TryState.SUCCESS
            log.say(f"Container exited with code 0; XCom: {masker.mask(describe(outcome.xcom))}")
        except TaskSkipped as exc:
            outcome.state = TryState.SKIPPED
            log.say(f"Skipped: {exc}")
        except DockyardError as exc:
            outcome.error = exc
            outcome.message = masker.mask(str(exc))
            log.say(f"ERROR: {exc}")
        except Abandoned:
            log.say("The scheduler stopped watching this container; it keeps running and will be re-attached")
            raise
        except KeyboardInterrupt:
            log.say("Interrupted: the container was stopped")
            raise
        finally:
            outcome.duration = time.monotonic() - started
            log.close()
        return outcome

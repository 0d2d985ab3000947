"""The exceptions dockyard raises. Every one names what was wrong and what would be right.

::

    DockyardError
    ├── ConfigError                  a setting or environment variable has a bad value
    ├── DagDefinitionError           a DAG or operator is defined wrongly
    │   ├── UnknownArgumentError     an operator got an argument it does not take
    │   └── DagFileError             a DAG file cannot be loaded (file, line, reason)
    ├── TemplateError                a templated field does not render
    ├── ContainerSpecError           an option cannot become a valid container (a bad mount, size, ...)
    │   └── ContainerPolicyError     the installation's policy refuses an option (privileged, a host path, ...)
    ├── EngineError                  the Docker engine refused or failed a call (``status``: its HTTP status)
    │   ├── EngineUnreachableError   no engine answers at the URL(s) tried, or it stopped answering
    │   ├── EngineTimeoutError       the engine did not answer within the API timeout
    │   ├── EngineNotFoundError      the engine has no such container (or volume, network)
    │   └── ImageError               the image is missing and cannot be pulled
    │       └── ImageNotFoundError   the image is not on the engine (yet): pull it
    ├── TaskError                    a task try did not succeed
    │   ├── ContainerFailedError     the container exited non-zero (code, image, command, last lines)
    │   ├── UnmappableResultError    a result a mapped task maps over is not a list or dict, or too long
    │   └── TaskStoppedError         dockyard stopped the container (``stop_reason`` says why)
    │       ├── TaskTimeoutError     execution_timeout passed
    │       └── TaskCancelledError   the try was stopped from outside (Ctrl-C, SIGTERM, a request)
    ├── OutputError                  the result file could not be read back or decoded safely
    ├── InvalidConnectionError       a connection is malformed, or cannot be decrypted with the Fernet key
    ├── StoreError                   the metadata database cannot be reached or used
    │   └── NotFoundError            a DAG, run, task instance or variable that does not exist
    ├── ConflictError                the thing exists already, or its state forbids the change
    ├── InvalidParamsError           a run's conf does not validate against the DAG's params
    ├── InvalidInputError            a request, form or command-line value is malformed
    │   └── InvalidRunIdError        a dag_run_id has characters or a length that is not allowed
    ├── TooManyAttemptsError         logins failed too often; wait before trying again
    ├── BackfillDeadlockError        no task of a backfill can run (Airflow's BackfillUnfinished: deadlocked)
    └── TaskSkipped                  not a failure: the task ends as ``skipped`` (skip_on_exit_code)

Errors from docker-py and requests are translated in one place,
:func:`dockyard.container.engine_errors.engine_errors`, always with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.container.control import StopReason


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose."""


class ConfigError(DockyardError):
    """A setting has a value dockyard cannot use."""


class DagDefinitionError(DockyardError):
    """A DAG, task or operator argument is defined wrongly."""


class UnknownArgumentError(DagDefinitionError, TypeError):
    """An operator was given a keyword argument it does not accept."""


class DagFileError(DagDefinitionError):
    """A DAG file could not be loaded; ``path`` and ``lineno`` point at the cause."""

    def __init__(self, path: str, reason: str, lineno: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.lineno = lineno
        where = f"{path}:{lineno}" if lineno else path
        super().__init__(f"{where}: {reason}")


class TemplateError(DockyardError):
    """A templated field failed to render."""


class ContainerSpecError(DockyardError):
    """An operator option cannot be turned into a valid container configuration.

    ``option`` names the option and ``task_id`` the task, where known; the message says both, with the
    value and what would be right.
    """

    def __init__(self, message: str, *, option: str | None = None, task_id: str | None = None) -> None:
        super().__init__(message)
        self.option = option
        self.task_id = task_id

    def for_task(self, task_id: str) -> ContainerSpecError:
        """The same error, its message starting with the task it belongs to (once)."""
        if not task_id or self.task_id:
            return self
        return type(self)(f"task {task_id!r}: {self}", option=self.option, task_id=task_id)


class ContainerPolicyError(ContainerSpecError):
    """The installation does not allow what a task asks for (see :mod:`dockyard.container.policy`).

    Raised before the container is created; the message names the task, the option and the setting
    that would allow it.
    """


class EngineError(DockyardError):
    """The Docker engine refused or failed a request; ``status`` is the HTTP status it answered with."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EngineUnreachableError(EngineError):
    """No Docker engine answered at any of the URLs tried, or the engine stopped answering."""


class EngineTimeoutError(EngineError):
    """The engine did not answer a call within the API ``timeout``."""


class EngineNotFoundError(EngineError):
    """The engine has no such container, volume or network (it may have been removed meanwhile)."""


class ImageError(EngineError):
    """The image is not on the engine and could not be pulled."""


class ImageNotFoundError(ImageError):
    """The image is not on the engine; pulling it may help."""


class TaskError(DockyardError):
    """A task try ended without success."""


class UnmappableResultError(TaskError):
    """What a mapped task maps over is not a list or a dict, or has more elements than allowed."""


class ContainerFailedError(TaskError):
    """The container exited with a non-zero code.

    Carries what a person needs to act on it: the exit code, the image, the command and the
    last lines of output (secrets already masked).
    """

    def __init__(
        self,
        *,
        exit_code: int,
        image: str,
        command: Sequence[str] | str | None,
        last_lines: Sequence[str],
        task_id: str = "",
    ) -> None:
        self.exit_code = exit_code
        self.image = image
        self.command = command
        self.last_lines = list(last_lines)
        self.task_id = task_id
        shown = " ".join(command) if isinstance(command, (list, tuple)) else command
        tail = "\n".join(f"    {line}" for line in self.last_lines) or "    (no output)"
        who = f"task {task_id!r}: " if task_id else ""
        super().__init__(
            f"{who}container exited with code {exit_code} (image {image!r}, "
            f"command {shown!r}); last lines of output:\n{tail}"
        )


class TaskStoppedError(TaskError):
    """Base of the stops below. ``stop_reason`` (a :class:`~dockyard.container.control.StopReason`) says
    why, for callers to compare; ``result`` is the stopped container's result, when there was one."""

    def __init__(self, message: str, *, stop_reason: StopReason | None = None, result: Any = None) -> None:
        super().__init__(message)
        self.stop_reason = stop_reason
        self.result = result


class TaskTimeoutError(TaskStoppedError):
    """The task ran longer than its ``execution_timeout``; its container was stopped."""


class TaskCancelledError(TaskStoppedError):
    """The task try was stopped from outside; its container was stopped."""


class OutputError(DockyardError):
    """The output file could not be read back from the container or decoded safely."""


class InvalidConnectionError(DockyardError):
    """A connection's URI or JSON is malformed, or its secrets cannot be decrypted."""


class StoreError(DockyardError):
    """The metadata database cannot be reached or refused a change."""


class NotFoundError(StoreError, LookupError):
    """A DAG, run, task instance, variable or connection that does not exist."""


class ConflictError(DockyardError):
    """Something with that id exists already, or its current state forbids the change."""


class InvalidParamsError(DockyardError):
    """A trigger's conf does not validate against the DAG's ``params``."""


class TaskSkipped(DockyardError):
    """Raised to end a task as ``skipped``, e.g. when its exit code is in ``skip_on_exit_code``."""


class InvalidInputError(DockyardError):
    """A value from a request, a form or the command line is malformed (too deep, too long, bad characters)."""


class InvalidRunIdError(InvalidInputError):
    """A ``dag_run_id`` that could break a path, a header or a page: see :mod:`dockyard.runids`."""


class BackfillDeadlockError(DockyardError):
    """A backfill stopped because none of its remaining task instances can ever run (``blocked``: one line
    each, naming the task instance and why); its unfinished runs were marked failed."""

    def __init__(self, message: str, blocked: Sequence[str]) -> None:
        super().__init__(message)
        self.blocked = tuple(blocked)


class TooManyAttemptsError(DockyardError):
    """Too many failed logins for an account or from an address; ``retry_after`` seconds to wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

"""How a try's container is stopped from outside, and how it ended: docker-free, for every caller.

:class:`RunControl` lets another thread stop a running try (a timeout, a person, a shutdown) or let go
of it; :class:`StopReason` says which, so that callers decide by identity and never by the text of a
message. :class:`ContainerResult` is what :meth:`~dockyard.container.runtime.DockerRuntime.run` reports.
"""

from __future__ import annotations

import enum
import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.container.usage import ContainerUsage

logger = logging.getLogger(__name__)


class StopReason(str, enum.Enum):
    """Why dockyard stopped a container before it ended by itself."""

    TIMEOUT = "timeout"
    """The task's ``execution_timeout`` passed."""
    REQUESTED = "requested"
    """A person asked (UI, CLI, API), or a caller cancelled the try."""
    SHUTDOWN = "shutdown"
    """dockyard is shutting down and was told to stop its tasks (Ctrl-C, ``--stop-running``)."""

    def __str__(self) -> str:
        return self.value


@dataclass
class ContainerResult:
    """How a container ended and what it left behind.

    ``stop_reason`` is set when dockyard stopped the container (the run then raises
    :class:`~dockyard.errors.TaskTimeoutError` or :class:`~dockyard.errors.TaskCancelledError`, which
    carry this result); ``None`` when the container ended by itself.
    """

    container_id: str
    exit_code: int
    last_lines: list[str]
    all_lines: list[str] | None
    output_value: Any = None
    removed: bool = False
    skipped: bool = False
    duration: float = 0.0
    stop_reason: StopReason | None = None

    @property
    def last_line(self) -> str | None:
        return self.last_lines[-1] if self.last_lines else None


class Abandoned(Exception):
    """The supervisor let go of a running container on purpose (a scheduler shutting down without
    stopping its tasks); the container keeps running and a later scheduler re-attaches to it."""


class RunControl:
    """Lets another thread stop a running try (a timeout, a UI request, shutdown) or let go of it.

    ``cancel()`` before the container exists is remembered, and the container is stopped as soon as it
    is created, so there is no window in which a cancelled try can start a container that keeps running.
    The first cancel wins: a timeout that fires after a person's stop does not turn it into a timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopper: Callable[[], None] | None = None
        self._closer: Callable[[], None] | None = None
        self.reason: str | None = None
        """Why the try was stopped, in words for the task log."""
        self.kind: StopReason | None = None
        """Why the try was stopped, for callers to compare."""
        self.abandoned = False
        self.container_id: str | None = None
        """The try's container, once it is created."""
        self.removal_due = False
        """``auto_remove`` asks for the finished container to go (set when its removal was deferred)."""
        self._remover: Callable[[], None] | None = None
        self.usage: ContainerUsage | None = None
        """What the container used (image digest, peak memory, CPU time), set when the runtime lets go of it."""

    @property
    def cancelled(self) -> bool:
        return self.kind is not None

    def cancel(self, reason: str = "cancelled", kind: StopReason = StopReason.REQUESTED) -> None:
        """Stop the try's container (now, or as soon as it exists); ``reason`` is shown in its log."""
        with self._lock:
            if self.kind is None:
                self.reason, self.kind = reason, kind
            stopper = self._stopper
        if stopper is not None:
            stopper()

    def abandon(self) -> None:
        """Stop watching the container without stopping it (its output stream is closed)."""
        with self._lock:
            self.abandoned = True
            closer = self._closer
        if closer is not None:
            closer()

    def remove_container(self, *, always: bool = False) -> None:
        """Remove a finished container whose removal the runtime deferred (``defer_removal``): when
        ``auto_remove`` asks for it, or ``always`` (its try no longer exists, so nothing may inspect it)."""
        remover, self._remover = self._remover, None
        if remover is not None and (always or self.removal_due):
            remover()

    def _attach(self, stopper: Callable[[], None], closer: Callable[[], None]) -> None:
        with self._lock:
            self._stopper = stopper
            self._closer = closer
            cancelled, abandoned = self.kind is not None, self.abandoned
        if abandoned:
            closer()
        elif cancelled:
            stopper()

    def _detach(self) -> None:
        with self._lock:
            self._stopper = None
            self._closer = None


class Watchdog:
    """One thread that fires deadlines for every running try (a timeout costs no thread of its own)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._cond = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None

    def schedule(self, delay: float, action: Callable[[], None]) -> int:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._seq, action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="dockyard-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return self._seq

    def unschedule(self, token: int) -> None:
        with self._cond:
            self._cancelled.add(token)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                _, token, action = heapq.heappop(self._heap)
                if token in self._cancelled:
                    self._cancelled.discard(token)
                    continue
            try:
                action()
            except Exception:  # the watchdog must outlive a failing action
                logger.exception("watchdog action failed")

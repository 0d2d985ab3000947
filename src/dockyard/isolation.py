"""Running a user's code in a child process with a time and memory limit.

A DAG file is untrusted code: it may loop, call ``os._exit``, crash the interpreter or eat memory. Every
import of a DAG file by the scheduler, the web server's CLI siblings or the CLI happens in a child started
here, so whatever the file does becomes an error naming the file, never a stopped orchestrator.

Children are forked from a small fork server (``multiprocessing``'s ``forkserver``), which has dockyard
imported already but no DAG file: a child starts in milliseconds, and the helper modules next to the DAG
files are imported fresh in every child, so a change to them is seen at the next parse.

Example::

    call = start_child(parse_file, ("/dags/etl.py", settings), memory_mb=1024)
    value = finish_child(call, timeout=30)   # the function's JSON result, or ChildFailed naming the reason
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from dockyard.errors import DockyardError

PRELOAD = [
    "__main__",  # the parent's main module, imported once here instead of in every child
    "dockyard.isolation",
    "dockyard.processor",
    "dockyard.preparation",
    "dockyard.dag_worker",
    "dockyard.dagbag",
    "dockyard.execution",
    "dockyard.compat.airflow",
    "dockyard.store",
    "dockyard.templating",
    "dockyard.connections",
    "dockyard.variables",
]
"""Modules the fork server imports once, so that no child pays for them."""

_context_lock = threading.Lock()
_context: ForkServerContext | None = None


class ChildFailed(DockyardError):
    """A child process ended without a result: it timed out, exited, crashed or ran out of memory."""


def _fork_server() -> ForkServerContext:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            # The fork server imports these once; every child starts with them loaded (and no DAG file).
            context.set_forkserver_preload(PRELOAD)
            forkserver.ensure_running()
            _context = context
            # One child at once, so the server's imports are done before any child's time limit starts.
            process = context.Process(target=_nothing, name="dockyard: warm-up")
            process.start()
            process.join()
        return _context


def fork_context() -> ForkServerContext:
    """The fork server's context (started on first use), for children that serve many calls
    (:mod:`dockyard.dag_worker`)."""
    return _fork_server()


def _nothing() -> None:
    """The warm-up child: starting it waits until the fork server is ready."""


def _child_main(
    function: Callable[..., Any], args: tuple[Any, ...], send: Connection, memory_mb: int, streams: bool
) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches the parent, which stops us
    if streams:  # the function reports as it goes: emit(message) sends one JSON message to the parent
        args = (*args, lambda message: send.send_bytes(json.dumps(message).encode()))
    send.send_bytes(outcome(function, args, memory_mb))
    send.close()


def outcome(function: Callable[..., Any], args: tuple[Any, ...], memory_mb: int) -> bytes:
    """``function(*args)`` as the JSON a child sends back: ``{"ok": result}`` or ``{"error": reason}``."""
    try:
        payload = {"ok": function(*args)}
    except MemoryError:
        payload = {"error": f"killed: used more than {memory_mb} MB"}
    except BaseException as exc:  # noqa: BLE001 - whatever the user's code raises is the result, not a crash
        payload = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        return json.dumps(payload).encode()
    except (TypeError, ValueError) as exc:
        return json.dumps({"error": f"the result could not be sent: {exc}"}).encode()


@dataclass
class ChildCall:
    """A function running in a child process."""

    process: BaseProcess
    receive: Connection
    started: float
    memory_mb: int
    what: str


def start_child(
    function: Callable[..., Any], args: tuple[Any, ...], *, memory_mb: int, what: str, streams: bool = False
) -> ChildCall:
    """Start ``function(*args)`` in a new child; ``what`` names the work in error messages.

    With ``streams``, the function gets one more argument, ``emit(message)``, to send JSON messages before its
    result (read them with :func:`next_message`)."""
    context = _fork_server()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_child_main, args=(function, args, send, memory_mb, streams), name=f"dockyard: {what}"
    )
    process.start()
    send.close()
    return ChildCall(process, receive, time.monotonic(), memory_mb, what)


def next_message(call: ChildCall) -> dict[str, Any] | None:
    """The next message of a streaming child whose pipe is readable: an emitted message, or its final
    ``{"ok": ...}``/``{"error": ...}``; None once the child has ended without another word."""
    try:
        return dict(json.loads(call.receive.recv_bytes()))
    except (EOFError, OSError):
        return None


def ended(call: ChildCall) -> str:
    """Why a child ended without a result, in words (after its pipe reached its end)."""
    call.receive.close()
    call.process.join(timeout=5)
    if call.process.is_alive():
        call.process.kill()
        call.process.join()
    return describe_exit(call.process.exitcode, call.what, call.memory_mb)


def describe_exit(code: int | None, what: str, memory_mb: int) -> str:
    """Why a process ended without a result, in words: ``code`` is its exit status, or minus the signal that
    ended it (as ``Process.exitcode`` has it)."""
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return f"killed ({name}) while {what}: it may have used more than {memory_mb} MB"
        return f"crashed ({name}) while {what}"
    return f"exited with status {code} while {what}"


def collect(call: ChildCall) -> Any:
    """The result of a child whose pipe is readable (it sent its result or ended)."""
    try:
        data = call.receive.recv_bytes()
    except (EOFError, OSError):
        data = b""
    if not data:
        raise ChildFailed(ended(call))
    call.receive.close()
    # No join: the child exits on its own once it has sent its result, and multiprocessing reaps finished
    # children whenever the next one starts; waiting here would add the child's exit to every try.
    payload = json.loads(data)
    if "error" in payload:
        raise ChildFailed(payload["error"])
    return payload["ok"]


def stop(call: ChildCall) -> None:
    """Kill a child that is still running (timeout, shutdown)."""
    call.receive.close()
    if call.process.is_alive():
        call.process.kill()
    call.process.join()


def run_in_child(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    timeout: float,
    memory_mb: int,
    what: str,
    cancelled: threading.Event | None = None,
) -> Any:
    """Run ``function(*args)`` in a child and wait for it; raises :class:`ChildFailed` with the reason."""
    call = start_child(function, args, memory_mb=memory_mb, what=what)
    deadline = call.started + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            stop(call)
            raise ChildFailed(f"timed out after {timeout:g} s while {what}")
        if cancelled is not None and cancelled.is_set():
            stop(call)
            raise ChildFailed(f"stopped while {what}")
        if wait([call.receive], timeout=min(left, 0.5)):
            return collect(call)

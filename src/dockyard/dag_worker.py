"""Preparation workers: children that import a DAG file once and prepare many tries from it.

Preparing a try (rendering its templates, calling a callback) needs the DAG file's objects, and a DAG file is
untrusted code, so it is never imported in the scheduler itself (:mod:`dockyard.isolation`). A fresh child per
try imports the file every time, and warms up everything a cold process lacks (the ORM's mappers, SQL and
template compilation) every time too. A worker is a child of the fork server that imports one DAG file once and
then serves requests over a pipe. Each request still runs in a process of its own: the worker forks a child
for it, so a try sees the module as it was just imported (nothing one try's templates or callbacks change
reaches the next), its time and memory limits hold, and a crash of it ends only that child.

A worker is replaced when its DAG file (or a module next to it that the file imported) changes, when it dies,
when its import fails, and after ``preparation_worker_idle_seconds`` unused; at most ``preparation_workers``
idle ones are kept (the least recently used go first). A request that passes ``dag_file_processor_timeout``
is killed (and its worker with it when the worker itself is stuck, e.g. in the file's import).

Example::

    result = call_in_worker(settings, "/dags/etl.py", render, (settings, context_json), what="preparing 'load'")
    # render runs in a child of the worker for /dags/etl.py; held_dags("/dags/etl.py") gives it the DAGs
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import json
import os
import pickle
import resource
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.isolation import ChildFailed, describe_exit, fork_context, outcome
from dockyard.settings import Settings

if TYPE_CHECKING:
    from dockyard.dag import DAG

WorkerFunction = Callable[..., Any]
"""Runs in a request's child as ``function(*args)``; it finds the file's DAGs with :func:`held_dags`."""

_GRACE_SECONDS = 2.0
"""How long past a request's time limit the parent waits for the worker to report the timeout itself (it kills
the request's child) before it kills the worker (stuck in the file's own import)."""

_IDLE_EXIT_MARGIN_SECONDS = 60.0
"""A worker left idle this much longer than the parent would use it ends by itself (a parent that was
killed closes the pipe, which ends the worker at once)."""

Signature = tuple[int, int, str]

_held: tuple[str, dict[str, DAG]] | None = None
"""In a worker (and the children it forks): the DAG file it imported, and its DAGs by dag_id."""


def held_dags(fileloc: str) -> dict[str, DAG] | None:
    """The DAGs of ``fileloc`` by dag_id when this process is a worker's request child for that file, else None
    (the caller imports the file itself)."""
    return _held[1] if _held is not None and _held[0] == fileloc else None


def _signature(path: str) -> Signature | None:
    """What tells an edited file from the one a worker imported: its time of change, size and digest."""
    try:
        stat = os.stat(path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, digest)


def _stamp(path: str) -> list[int] | None:
    """A helper module's time of change and size (cheap enough to look at before every try)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_mtime_ns, stat.st_size]


# -- the worker (a child of the fork server) ---------------------------------------------------------------
def _import(settings: Settings, fileloc: str) -> tuple[dict[str, DAG], dict[str, list[int] | None]]:
    """Import the DAG file as a try's child would; also the modules beside it that the import brought in, with
    their stamps, so that the parent replaces the worker when one of them changes."""
    from dockyard.dagbag import load_dag_file
    from dockyard.preparation import configure_lookups, warm_up

    configure_lookups(settings)  # Variable.get and BaseHook at the file's top level
    before = set(sys.modules)
    dags = {dag.dag_id: dag for dag in load_dag_file(Path(fileloc))}
    warm_up(settings)
    folders = tuple(str(folder.resolve()) + os.sep for folder in {Path(fileloc).parent, settings.dags_folder})
    watch = {}
    for name in set(sys.modules) - before:
        origin = getattr(sys.modules.get(name), "__file__", None)
        if origin and os.path.abspath(origin).startswith(folders):
            watch[os.path.abspath(origin)] = _stamp(origin)
    return dags, watch


def _worker_main(conn: Connection, settings: Settings, fileloc: str, memory_mb: int, idle_seconds: float) -> None:
    """Serve requests until the parent closes the pipe, the file fails to import, or nobody asks for long."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches the parent, which stops us
    os.setpgid(0, 0)  # one group with the requests' children: the parent stops them all at once
    global _held
    while conn.poll(idle_seconds + _IDLE_EXIT_MARGIN_SECONDS):
        try:
            function, args, timeout, what = conn.recv()
        except EOFError:
            return
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] = {}
        if _held is None:
            try:
                dags, reply["watch"] = _import(settings, fileloc)
            except MemoryError:
                conn.send_bytes(
                    json.dumps({"error": f"killed: used more than {memory_mb} MB", "retire": True}).encode()
                )
                return
            except BaseException as exc:  # noqa: BLE001 - the file's error is the request's result
                conn.send_bytes(json.dumps({"error": f"{type(exc).__name__}: {exc}", "retire": True}).encode())
                return
            _held = (fileloc, dags)
            gc.freeze()  # the imported objects stay put: a request's child copies no page for their refcounts' sake
        reply.update(_serve(conn, function, args, deadline, timeout, what, memory_mb))
        try:
            conn.send_bytes(json.dumps(reply).encode())
        except OSError:  # the parent ended meanwhile: nobody is left to serve
            return


def _serve(
    conn: Connection,
    function: WorkerFunction,
    args: tuple[Any, ...],
    deadline: float,
    timeout: float,
    what: str,
    memory_mb: int,
) -> dict[str, Any]:
    """Run one request in a forked child and return its ``{"ok": ...}`` or ``{"error": ...}``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the request's child: it never returns into the worker's loop
        try:
            os.close(read_end)
            conn.close()  # only the worker answers the parent; a dead worker must read as a closed pipe
            data = outcome(function, args, memory_mb)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"error": f"timed out after {timeout:g} s while {what}"}
            if select.select([read_end], [], [], left)[0]:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if chunks:
        return dict(json.loads(b"".join(chunks)))
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return {"error": describe_exit(code, what, memory_mb)}


# -- the parent's side: a few workers, reused -------------------------------------------------------------
@dataclass
class _Worker:
    key: tuple[str, str, int]
    process: BaseProcess
    conn: Connection
    signature: Signature | None
    watch: dict[str, list[int] | None] = field(default_factory=dict)
    last_used: float = 0.0

    def current(self, signature: Signature | None) -> bool:
        """Whether this worker still holds what the file and its helper modules are now."""
        if signature is None or signature != self.signature or not self.process.is_alive():
            return False
        return all(_stamp(path) == stamp for path, stamp in self.watch.items())

    def stop(self) -> None:
        """Kill the worker and whatever request child it runs (both in the worker's process group)."""
        self.conn.close()
        if self.process.pid is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # it ended, or had not yet made its group
                self.process.kill()
        self.process.join()

    def retire(self) -> None:
        """Let an idle worker go: closing its pipe ends it (the fork server, its parent, reaps it)."""
        self.conn.close()


class WorkerPool:
    """The workers of one process: idle ones by DAG file (and settings), the least recently used first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def call(
        self, settings: Settings, fileloc: str, function: WorkerFunction, args: tuple[Any, ...], *, what: str
    ) -> Any:
        """``function(*args)`` in a child of a worker that holds ``fileloc`` imported; its JSON result, or
        :class:`ChildFailed` naming what went wrong."""
        key = (fileloc, hashlib.sha256(pickle.dumps(settings)).hexdigest(), settings.dag_file_memory_mb)
        signature = _signature(fileloc)
        request = (function, args, float(settings.dag_file_processor_timeout), what)
        worker = self._take(key, signature, settings.preparation_worker_idle_seconds)
        if worker is None:
            worker = self._start(key, signature, settings)
        try:
            worker.conn.send(request)
        except OSError:  # a reused worker that ended meanwhile never saw the request: a fresh one gets it
            worker.stop()
            worker = self._start(key, signature, settings)
            worker.conn.send(request)
        reply = self._answer(worker, settings, what)
        if "watch" in reply:
            worker.watch = reply["watch"]
        if reply.get("retire"):
            worker.stop()
        else:
            self._keep(worker, settings.preparation_workers)
        if "error" in reply:
            raise ChildFailed(reply["error"])
        return reply["ok"]

    def _take(self, key: tuple[str, str, int], signature: Signature | None, idle_seconds: float) -> _Worker | None:
        """An idle worker that holds the file as it is now (the ones gone stale or idle too long are let go)."""
        now = time.monotonic()
        with self._lock:
            for worker in list(self._idle):
                if now - worker.last_used > idle_seconds or (worker.key == key and not worker.current(signature)):
                    self._idle.remove(worker)
                    worker.retire()
            for worker in reversed(self._idle):  # the most recently used one is the likeliest warm
                if worker.key == key:
                    self._idle.remove(worker)
                    return worker
        return None

    def _start(self, key: tuple[str, str, int], signature: Signature | None, settings: Settings) -> _Worker:
        context = fork_context()
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(
            target=_worker_main,
            args=(child_end, settings, key[0], settings.dag_file_memory_mb, settings.preparation_worker_idle_seconds),
            name=f"dockyard: worker for {key[0]}",
        )
        process.start()
        child_end.close()
        return _Worker(key, process, parent_end, signature)

    def _answer(self, worker: _Worker, settings: Settings, what: str) -> dict[str, Any]:
        """The worker's reply; ChildFailed (and the worker stopped) when it dies or passes the time limit."""
        timeout = settings.dag_file_processor_timeout
        deadline = time.monotonic() + timeout + _GRACE_SECONDS
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                worker.stop()
                raise ChildFailed(f"timed out after {timeout:g} s while {what}")
            if wait([worker.conn], timeout=min(left, 0.5)):
                try:
                    return dict(json.loads(worker.conn.recv_bytes()))
                except (EOFError, OSError):
                    worker.stop()
                    raise ChildFailed(
                        describe_exit(worker.process.exitcode, what, settings.dag_file_memory_mb)
                    ) from None

    def _keep(self, worker: _Worker, limit: int) -> None:
        worker.last_used = time.monotonic()
        with self._lock:
            self._idle.append(worker)
            while len(self._idle) > limit:
                self._idle.pop(0).retire()

    def close(self) -> None:
        """Let every idle worker go (at exit: multiprocessing waits for children that are still running)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.retire()


_pool = WorkerPool()
atexit.register(_pool.close)


def call_in_worker(
    settings: Settings, fileloc: str, function: WorkerFunction, args: tuple[Any, ...], *, what: str
) -> Any:
    """``function(*args)`` in a child of this process's worker for ``fileloc`` (see :class:`WorkerPool`)."""
    return _pool.call(settings, fileloc, function, args, what=what)

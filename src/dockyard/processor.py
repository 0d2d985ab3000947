"""The DAG processor: parses DAG files in child processes and keeps the result in the store.

Each DAG file is imported in a child of its own (:mod:`dockyard.isolation`), a few at a time
(``DOCKYARD_DAG_PROCESSOR_PROCESSES``), with a time limit (``DOCKYARD_DAG_FILE_PROCESSOR_TIMEOUT``) and a
memory limit (``DOCKYARD_DAG_FILE_MEMORY_MB``). The child sends back each DAG's stored form
(:class:`~dockyard.serialized.SerializedDag`) and every problem of the file; a file that hangs, exits or
crashes becomes an import error of that file alone. The scheduler, the CLI and (through the store) the web
server all see DAGs through this one path.

Only changed files are parsed again. A changed file that defines no DAG is a helper module, which any DAG
file may import: then every file is parsed again.

Example::

    processor = DagProcessor(settings, store)
    report = processor.refresh()          # parses what changed since the last parse, records it
    report.dags, report.import_errors     # {'etl': SerializedDag(...)}, {'/dags/broken.py': '...'}
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from dockyard import defaults
from dockyard.errors import DockyardError
from dockyard.isolation import ChildCall, ended, next_message, start_child, stop
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.store.notes import take_parse_requests

log = logging.getLogger(__name__)

FILES_META_KEY = "dag_files"
"""The store's record of the files last parsed: ``{path: [mtime_ns, size, defines_dags]}``."""


@dataclass
class FileResult:
    """What one parse of one file found: its DAGs (stored form) and its problems."""

    path: str
    dags: list[SerializedDag] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the file's import warned about (deprecated or unenforced arguments): logged, and shown by the CLI."""
    seconds: float = 0.0


def dag_files(folder: Path) -> list[Path]:
    """The Python files of a DAG folder (files and folders whose names start with ``.`` or ``_`` are skipped)."""
    if not folder.is_dir():
        return []
    folder = folder.resolve()
    found = []
    for path in sorted(folder.rglob("*.py")):
        if not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts):
            found.append(path)
    return found


def _might_define_dags(path: str) -> bool:
    try:
        text = Path(path).read_bytes()
    except OSError:
        return True  # let the child report why it cannot be read
    return b"DAG" in text or b"dag" in text


def parse_file(path: str, settings: Settings) -> dict[str, Any]:
    """Import one file, serialize each valid DAG, collect every problem (runs in a child)."""
    from dockyard.dagbag import load_valid_dags
    from dockyard.errors import DagFileError
    from dockyard.masking import masker_for_try
    from dockyard.serialized import serialize_dag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dags, problems = load_valid_dags(Path(path))
    stored = []
    for dag in dags:
        try:
            stored.append(serialize_dag(dag).to_json())
        except DockyardError as exc:
            problems.append(str(DagFileError(path, str(exc))))
    masker = masker_for_try()  # secrets the file registered with mask_secret stay out of the store
    notes = sorted({f"{path}: {w.category.__name__}: {w.message}" for w in caught})
    return {"dags": masker.mask_value(stored), "problems": masker.mask_value(problems), "warnings": notes}


def _parse_batch(paths: list[str], settings: Settings, emit: Callable[[dict[str, Any]], None]) -> None:
    """The child of a batch: parse the files one after another, telling the parent where it is.

    Helper modules are imported once per batch (a child per parse, so fresh at every parse); a file that
    runs out of memory ends the child, and its parent starts the rest of the batch in a new one.
    """
    from dockyard.preparation import configure_lookups

    configure_lookups(settings)
    for path in paths:
        emit({"start": path})
        try:
            result = parse_file(path, settings)
        except MemoryError:
            reason = f"{path}: killed: used more than {settings.dag_file_memory_mb} MB while being imported"
            emit({"done": path, "result": {"dags": [], "problems": [reason]}})
            return
        emit({"done": path, "result": result})


@dataclass
class _Batch:
    call: ChildCall
    todo: list[str]
    current: str | None = None
    since: float = 0.0


def parse_files(
    paths: list[str], settings: Settings, *, stopping: threading.Event | None = None
) -> dict[str, FileResult]:
    """Parse ``paths`` in child processes (``dag_processor_processes`` at once, files in batches), each file
    with its own time limit. A file that hangs, exits or crashes is reported, and the rest of its batch is
    parsed in a new child."""
    timeout = settings.dag_file_processor_timeout
    pending = list(paths)
    size = max(1, min(defaults.DEFAULT_DAG_PROCESSOR_BATCH, -(-len(paths) // settings.dag_processor_processes)))
    running: dict[Any, _Batch] = {}
    results: dict[str, FileResult] = {}

    def failed(batch: _Batch, reason: str) -> None:
        if batch.current is not None:
            results[batch.current] = FileResult(batch.current, problems=[f"{batch.current}: {reason}"])
            batch.todo.remove(batch.current)
        pending[:0] = batch.todo  # the rest of the batch, in a new child

    try:
        while pending or running:
            if stopping is not None and stopping.is_set():
                break
            while pending and len(running) < settings.dag_processor_processes:
                todo, pending[:] = pending[:size], pending[size:]
                call = start_child(
                    _parse_batch,
                    (todo, settings),
                    memory_mb=settings.dag_file_memory_mb,
                    what="being imported",
                    streams=True,
                )
                running[call.receive] = _Batch(call, list(todo), since=time.monotonic())
            now = time.monotonic()
            for key, batch in list(running.items()):
                if batch.current is not None and now - batch.since >= timeout:
                    stop(batch.call)
                    del running[key]
                    failed(batch, f"timed out after {timeout} s while being imported")
            deadline = min((b.since + timeout for b in running.values()), default=now)
            for key in wait(list(running), timeout=max(0.0, min(deadline - now, 0.5))):
                batch = running[key]
                message = next_message(batch.call)
                if message is None:
                    del running[key]
                    failed(batch, ended(batch.call))
                elif "start" in message:
                    batch.current, batch.since = message["start"], time.monotonic()
                elif "done" in message:
                    path = message["done"]
                    payload = message["result"]
                    results[path] = FileResult(
                        path,
                        dags=[SerializedDag.from_json(d) for d in payload["dags"]],
                        problems=list(payload["problems"]),
                        warnings=list(payload.get("warnings", [])),
                        seconds=time.monotonic() - batch.since,
                    )
                    batch.todo.remove(path)
                    batch.current = None
                else:  # the batch's end: its result (or the error that stopped it)
                    del running[key]
                    stop(batch.call)
                    if batch.todo:
                        failed(batch, str(message.get("error") or "ended early"))
    finally:
        for batch in running.values():
            stop(batch.call)
    return results


@dataclass
class Report:
    """The DAGs and import errors of the folder after a refresh, and how many files were parsed."""

    dags: dict[str, SerializedDag]
    import_errors: dict[str, str]
    parsed: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    """Warnings of the files parsed by this refresh."""


class DagProcessor:
    """Keeps the store's DAGs in step with a DAG folder."""

    def __init__(self, settings: Settings, store: Any, *, stopping: threading.Event | None = None) -> None:
        self.settings = settings
        self.store = store
        self.stopping = stopping
        self._known: dict[str, list[Any]] | None = None
        self._last_scan = 0.0

    def _fingerprints(self, paths: list[Path]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for path in paths:
            try:
                info = path.stat()
            except OSError:
                continue
            found[str(path)] = [info.st_mtime_ns, info.st_size, None]
        return found

    def refresh(self, *, force: bool = False) -> Report | None:
        """Parse the files that changed (all with ``force``) and record the result; None if nothing changed."""
        started = time.monotonic()
        self._last_scan = started
        folder = self.settings.dags_folder
        current = self._fingerprints(dag_files(folder))
        if self._known is None:
            stored = self.store.get_meta(FILES_META_KEY)
            self._known = json.loads(stored) if stored and not force else {}
        known = self._known
        changed = [p for p, f in current.items() if p not in known or known[p][:2] != f[:2]]
        removed = [p for p in known if p not in current]
        helpers_changed = any(known.get(p, [0, 0, True])[2] is False for p in [*changed, *removed] if p in known)
        if force or helpers_changed:
            changed = list(current)
        changed += [p for p in take_parse_requests(self.store) if p in current and p not in changed]
        if not changed and not removed:
            return None
        to_parse = [p for p in changed if _might_define_dags(p)]
        results = parse_files(to_parse, self.settings, stopping=self.stopping)
        if self.stopping is not None and self.stopping.is_set():
            return None
        for path in changed:
            result = results.get(path)
            current[path][2] = bool(result and (result.dags or result.problems))
        for path in current:
            if path not in changed:
                current[path][2] = known[path][2]
        self.store.record_parse(
            {p: ([d.to_record() for d in r.dags], r.problems) for p, r in results.items()},
            parsed=[*changed],
            present=list(current),
        )
        self.store.set_meta(FILES_META_KEY, json.dumps(current))
        self._known = current
        seconds = time.monotonic() - started
        report = self.report(parsed=len(to_parse), seconds=seconds)
        report.warnings = [w for r in results.values() for w in r.warnings]
        for warning in report.warnings:
            log.warning("%s", warning)
        log.info(
            "parsed %d file(s) of %s in %.2f s: %d DAG(s), %d import error(s)",
            len(to_parse),
            folder,
            seconds,
            len(report.dags),
            len(report.import_errors),
        )
        return report

    def refresh_if_due(self) -> Report | None:
        """:meth:`refresh` at most every ``DEFAULT_DAG_FOLDER_SCAN_SECONDS``."""
        if time.monotonic() - self._last_scan < defaults.DEFAULT_DAG_FOLDER_SCAN_SECONDS:
            return None
        return self.refresh()

    def report(self, *, parsed: int = 0, seconds: float = 0.0) -> Report:
        """The folder's DAGs and import errors as the store holds them now."""
        dags = {row.dag_id: SerializedDag.from_row(row) for row in self.store.list_dags()}
        errors = {row.filename: row.message for row in self.store.list_import_errors()}
        return Report(dags=dags, import_errors=errors, parsed=parsed, seconds=seconds)


def parse_one(path: Path, settings: Settings) -> FileResult:
    """Parse a single file (the CLI's ``dags test FILE``) through the same child process path."""
    return parse_files([str(path.resolve())], settings)[str(path.resolve())]

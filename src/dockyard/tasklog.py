"""A task try's log file: where it lives (Airflow's layout) and how lines are written to it.

The web server reads these files and the executor writes them; neither needs the other's imports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import quote

from dockyard import defaults
from dockyard.masking import SecretsMasker


def log_path_for(
    logs_folder: Path, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
) -> Path:
    """Airflow's layout: ``dag_id=X/run_id=Y/task_id=Z/attempt=N.log`` (run ids made safe for paths), with
    a ``map_index=I`` folder before the attempt for an instance of a mapped task."""
    folder = logs_folder / f"dag_id={dag_id}" / f"run_id={quote(run_id, safe='')}" / f"task_id={task_id}"
    if map_index >= 0:
        folder = folder / f"map_index={map_index}"
    return folder / f"attempt={try_number}.log"


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

"""The test-only kill switch and the retry of writes that must not be lost.

The retry is driven here by a write that fails a given number of times, as the database does while its
disk is full: the real full disk and the real PostgreSQL outage are in tests/faults, which take minutes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dockyard.errors import ConfigError, NotFoundError, StoreError
from dockyard.faults import KILL_POINTS
from dockyard.settings import Settings
from dockyard.store.retry import WriteAbandoned, retry_write


class FailingWrite:
    """A write that fails ``failures`` times with the store's error, then succeeds."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or StoreError("the database sqlite:///x failed: database or disk is full")

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "written"


def test_a_failing_write_is_tried_again_until_it_succeeds() -> None:
    write = FailingWrite(3)
    value = retry_write(write, stopping=threading.Event(), what="w", first_wait=0.01, max_wait=0.02)
    assert (value, write.calls) == ("written", 4)


def test_a_stop_ends_the_retries_without_the_write() -> None:
    stopping = threading.Event()
    stopping.set()
    write = FailingWrite(100)
    with pytest.raises(WriteAbandoned, match="not written before the scheduler stopped"):
        retry_write(write, stopping=stopping, what="recording try 1 of d.t", first_wait=0.01)
    assert write.calls == 1


def test_a_missing_row_is_an_answer_not_a_fault() -> None:
    write = FailingWrite(100, NotFoundError("DAG 'd' has no run 'r'"))
    with pytest.raises(NotFoundError):
        retry_write(write, stopping=threading.Event(), what="w", first_wait=0.01)
    assert write.calls == 1


def test_the_fault_setting_names_a_step_of_a_try(tmp_path: Path) -> None:
    home = {"DOCKYARD_HOME": str(tmp_path)}
    assert Settings.from_env(home).fault_kill_at is None
    for point in KILL_POINTS:
        assert Settings.from_env({**home, "DOCKYARD_FAULT_KILL_AT": point}).fault_kill_at == point
    with pytest.raises(ConfigError, match="DOCKYARD_FAULT_KILL_AT='exit' is not a step of a try; use one of claimed"):
        Settings.from_env({**home, "DOCKYARD_FAULT_KILL_AT": "exit"})


def test_the_fault_kills_the_process_at_its_step_only() -> None:
    code = (
        "from dockyard.faults import reached; "
        "reached('exited', 'started'); print('alive', flush=True); reached('exited', 'exited'); print('survived')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "alive"
    assert done.returncode == -9

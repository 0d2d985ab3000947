"""Fixtures of the fault suite: an installation per test, and a small filesystem that can be filled up."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from tests.faults.harness import Installation


@pytest.fixture
def installation(tmp_path: Path, engine: docker.APIClient) -> Iterator[Callable[..., Installation]]:
    """Makes installations (``installation(body, **env)``); their schedulers and containers go in teardown."""
    made: list[Installation] = []

    def make(body: str, *, on: docker.APIClient | None = None, **kwargs: str) -> Installation:
        made.append(Installation.create(tmp_path / f"i{len(made)}", on or engine, body, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB filesystem (tmpfs), to be filled up: the disk a database runs out of."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: a fault test that waits out a long outage (30 s or more); deselect with -m 'not slow'"
    )

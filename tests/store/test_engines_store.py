"""Engine statuses in the store, on real SQLite and PostgreSQL: written as plain values, read as records."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from dockyard.errors import InvalidInputError
from dockyard.store import Store
from dockyard.store.engines import EngineRecord, list_statuses, write_statuses

GB = 1024**3
WHEN = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)


def status(name: str, *, healthy: bool = True, used_memory: int = 2 * GB, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "healthy": healthy,
        "error": None if healthy else "no Docker engine answered",
        "mode": "container",
        "labels": ["gpu", "default"],
        "capacity": {"cpus": 8.0, "memory": 64 * GB, "gpus": 2},
        "used": {"cpus": 1.5, "memory": used_memory, "gpus": 0},
        "running": 3,
        "checked_at": WHEN,
        **extra,
    }


class _Status:
    """An object with ``to_dict()``, as the container layer's ``EngineStatus`` is."""

    def to_dict(self) -> dict[str, Any]:
        return status("from-object", labels=[])


def test_statuses_are_written_and_read_back(store: Store) -> None:
    write_statuses(store, [status("b"), status("a", healthy=False), _Status()])
    found = list_statuses(store)
    assert [r.name for r in found] == ["a", "b", "from-object"]
    a, b, _ = found
    assert isinstance(b, EngineRecord)
    assert (b.healthy, b.labels, b.capacity_memory, b.used_memory, b.free_memory) == (
        True,
        ("default", "gpu"),
        64 * GB,
        2 * GB,
        62 * GB,
    )
    assert (b.free_cpus, b.free_gpus, b.running, b.checked_at) == (6.5, 2, 3, WHEN)
    assert (a.healthy, a.error) == (False, "no Docker engine answered")
    assert b.to_json()["memory"] == {"total": 64 * GB, "used": 2 * GB, "free": 62 * GB}
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.running = 4  # type: ignore[misc]


def test_a_new_write_replaces_the_pool(store: Store) -> None:
    write_statuses(store, [status("a"), status("b")])
    later = WHEN + dt.timedelta(seconds=5)
    write_statuses(store, [status("b", used_memory=70 * GB, checked_at=later)])
    (b,) = list_statuses(store)
    assert (b.name, b.used_memory, b.free_memory, b.checked_at) == ("b", 70 * GB, 0, later)
    write_statuses(store, [])
    assert list_statuses(store) == []


def test_a_malformed_status_is_refused_with_what_is_missing(store: Store) -> None:
    bad = status("a")
    del bad["capacity"]
    with pytest.raises(InvalidInputError, match="cannot be stored \\('capacity'\\); give name, healthy, capacity"):
        write_statuses(store, [bad])
    with pytest.raises(InvalidInputError, match="checked_at must be a timezone-aware datetime"):
        write_statuses(store, [status("a", checked_at=dt.datetime(2026, 1, 1))])

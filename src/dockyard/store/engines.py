"""The engine pool as the scheduler last read it: written after each read of the engines, read by the UI, the
API and the CLI, which never ask an engine themselves (they may run on a host that cannot reach one).

The scheduler hands in its engine statuses as plain values (a mapping, or any object with ``to_dict()`` giving
one), so the store needs nothing from the container layer::

    write_statuses(store, [status.to_dict() for status in statuses])
    list_statuses(store)   # [EngineRecord(name='local', healthy=True, ...)]

A write replaces the whole pool: an engine taken out of the engines file disappears from the list. Several
schedulers may write at once; each row is an upsert, so the last read of an engine wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.errors import InvalidInputError
from dockyard.store.api import Store
from dockyard.store.models import EngineStatusModel


@dataclass(frozen=True)
class EngineRecord:
    """One engine's last status. Memory is in bytes; ``free_*`` never go below zero."""

    name: str
    healthy: bool
    error: str | None
    mode: str
    labels: tuple[str, ...]
    capacity_cpus: float
    capacity_memory: int
    capacity_gpus: int
    used_cpus: float
    used_memory: int
    used_gpus: int
    running: int
    checked_at: dt.datetime

    @property
    def free_cpus(self) -> float:
        return max(self.capacity_cpus - self.used_cpus, 0.0)

    @property
    def free_memory(self) -> int:
        return max(self.capacity_memory - self.used_memory, 0)

    @property
    def free_gpus(self) -> int:
        return max(self.capacity_gpus - self.used_gpus, 0)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON endpoint and ``dockyard engines list --output json`` show it."""
        return {
            "name": self.name,
            "healthy": self.healthy,
            "error": self.error,
            "mode": self.mode,
            "labels": list(self.labels),
            "running": self.running,
            "cpus": {"total": self.capacity_cpus, "used": self.used_cpus, "free": self.free_cpus},
            "memory": {"total": self.capacity_memory, "used": self.used_memory, "free": self.free_memory},
            "gpus": {"total": self.capacity_gpus, "used": self.used_gpus, "free": self.free_gpus},
            "checked_at": self.checked_at.isoformat(),
        }


def _row(status: Any) -> dict[str, Any]:
    """A status (mapping or ``to_dict()``) as the table's columns; a malformed one is an error naming it."""
    data: Mapping[str, Any] = status.to_dict() if hasattr(status, "to_dict") else status
    try:
        capacity, used = data["capacity"], data["used"]
        checked_at = data["checked_at"]
        if not isinstance(checked_at, dt.datetime) or checked_at.tzinfo is None:
            raise TypeError("checked_at must be a timezone-aware datetime")
        return {
            "name": str(data["name"]),
            "healthy": bool(data["healthy"]),
            "error": data.get("error"),
            "mode": str(data.get("mode") or "container"),
            "labels": sorted(str(label) for label in data.get("labels") or ()),
            "capacity_cpus": float(capacity["cpus"]),
            "capacity_memory": int(capacity["memory"]),
            "capacity_gpus": int(capacity["gpus"]),
            "used_cpus": float(used["cpus"]),
            "used_memory": int(used["memory"]),
            "used_gpus": int(used["gpus"]),
            "running": int(data.get("running") or 0),
            "checked_at": checked_at,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"engine status {dict(data)!r} cannot be stored ({exc}); give name, healthy, capacity and used "
            "(cpus, memory, gpus), running and a timezone-aware checked_at"
        ) from exc


def record_of(status: Any) -> EngineRecord:
    """A status (mapping or ``to_dict()``) as a record, without the store (``engines list --live``)."""
    row = _row(status)
    return EngineRecord(**{**row, "labels": tuple(row["labels"])})


def write_statuses(store: Store, statuses: Iterable[Any]) -> None:
    """Record the pool's statuses in one transaction; engines not among them are removed."""
    rows = [_row(status) for status in statuses]
    with store.session() as s:
        dialect = s.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        for row in rows:
            statement = insert(EngineStatusModel).values(**row)
            changed = {key: statement.excluded[key] for key in row if key != "name"}
            s.execute(statement.on_conflict_do_update(index_elements=["name"], set_=changed))
        s.execute(sa.delete(EngineStatusModel).where(EngineStatusModel.name.not_in([row["name"] for row in rows])))


def list_statuses(store: Store) -> list[EngineRecord]:
    """Every engine's last status, by name."""
    with store.session() as s:
        found = s.scalars(sa.select(EngineStatusModel).order_by(EngineStatusModel.name))
        return [
            EngineRecord(
                **{**{f.name: getattr(row, f.name) for f in fields(EngineRecord)}, "labels": tuple(row.labels)}
            )
            for row in found
        ]

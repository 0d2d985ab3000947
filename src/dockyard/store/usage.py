"""What each try's container used, kept on its row of the try history (``task_try``).

The runtime samples a container's stats while it runs (:mod:`dockyard.container.usage`); the scheduler writes
the figures here when the try's result is recorded, so the task page and the API show them per try. The
store takes plain values: it knows nothing of containers.

Example::

    record_usage(store, ("etl", "manual__2024-01-31", "load", -1), 1,
                 TryUsage("sha256:4f...", peak_memory_bytes=71_000_000, cpu_time_seconds=2.4))
    store.list_tries("etl", "manual__2024-01-31", "load")[0].peak_memory_bytes   # 71000000
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dockyard.store.api import Store
from dockyard.store.models import TaskTryModel


@dataclass(frozen=True)
class TryUsage:
    """A try's figures; ``None`` where the engine gave none (a Swarm service, a container that ended at once)."""

    image_digest: str | None = None
    peak_memory_bytes: int | None = None
    cpu_time_seconds: float | None = None


def record_usage(store: Store, ti_key: tuple[str, str, str, int], try_number: int, usage: TryUsage) -> None:
    """Write ``usage`` on the try's row ``(dag_id, run_id, task_id, map_index)`` / ``try_number``. Figures a
    try already has are kept where the new ones are missing (a re-attached try sampled for less time)."""
    dag_id, run_id, task_id, map_index = ti_key
    key = (
        TaskTryModel.dag_id == dag_id,
        TaskTryModel.run_id == run_id,
        TaskTryModel.task_id == task_id,
        TaskTryModel.map_index == map_index,
        TaskTryModel.try_number == try_number,
    )
    values = {
        "image_digest": usage.image_digest,
        "peak_memory_bytes": usage.peak_memory_bytes,
        "cpu_time_seconds": usage.cpu_time_seconds,
    }
    values = {name: value for name, value in values.items() if value is not None}
    if not values:
        return
    with store.session() as s:
        s.execute(sa.update(TaskTryModel).where(*key).values(**values))

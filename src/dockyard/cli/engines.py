"""``dockyard engines list``: the engine pool with each engine's health, running tasks and free resources.

By default it prints what the scheduler last wrote to the store (as the web UI shows it); ``--live`` reads the
engines of ``DOCKYARD_ENGINES`` itself, for a machine where no scheduler runs yet or to check an engines file.
"""

from __future__ import annotations

from typing import Any

import click

from dockyard.cli.common import friendly, open_store
from dockyard.cli.output import emit, output_option
from dockyard.settings import Settings
from dockyard.store.engines import EngineRecord, list_statuses, record_of

_GIB = 1024**3


def _amount(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _row(record: EngineRecord) -> dict[str, Any]:
    """One line of the table: free of total for each resource, memory in GB."""
    return {
        "engine": record.name if record.mode == "container" else f"{record.name} ({record.mode})",
        "health": "healthy" if record.healthy else f"unhealthy: {record.error or 'not answering'}",
        "running": record.running,
        "cpus free": f"{_amount(record.free_cpus)}/{_amount(record.capacity_cpus)}",
        "memory free": f"{_amount(record.free_memory / _GIB)}/{_amount(record.capacity_memory / _GIB)} GB",
        "gpus free": f"{record.free_gpus}/{record.capacity_gpus}",
        "labels": list(record.labels),
        "checked at": record.checked_at,
    }


def _live(settings: Settings, instance: str) -> list[EngineRecord]:
    """Read every engine of the pool now (each within the status timeout) and return them as records."""
    from dockyard.container.engine import EngineClients  # the engine is asked only with --live
    from dockyard.container.pool import load_pool
    from dockyard.container.pool_status import read_statuses

    pool = load_pool(settings.engines_file, default_docker_url=settings.default_docker_url)
    clients = EngineClients(docker_host=settings.docker_host)
    try:
        statuses = read_statuses(clients, pool, instance)
    finally:
        clients.close()
    return [record_of(status) for status in statuses]


@click.group()
def engines() -> None:
    """Show the engine pool (DOCKYARD_ENGINES): health, running tasks and free CPUs, memory and GPUs."""


@engines.command("list")
@click.option("--live", is_flag=True, help="Ask the engines now instead of showing the scheduler's last read.")
@output_option
@click.pass_obj
@friendly
def engines_list(settings: Settings, live: bool, output: str) -> None:
    """List the engines with their health, running tasks, free of total resources, labels and last check."""
    store = open_store(settings)
    records = _live(settings, store.instance_id()) if live else list_statuses(store)
    if output in ("json", "yaml"):
        emit([record.to_json() for record in records], output)
        return
    emit(
        [_row(record) for record in records],
        output,
        empty="No engine statuses yet: the scheduler writes them as it reads the engines (or use --live).",
    )

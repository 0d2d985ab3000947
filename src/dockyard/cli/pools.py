"""``dockyard pools ...``: named slot limits that tasks share, with Airflow's commands and file format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dockyard.cli.common import fail, friendly, open_store
from dockyard.cli.output import emit, output_option
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.models import PoolModel
from dockyard.store.pools import PoolSpec, get_pool, set_pools


def _row(pool: PoolModel, running: dict[str, int]) -> dict[str, Any]:
    """Airflow's columns (``include_deferred`` is always False: dockyard has no deferred tasks), then slots in use."""
    return {
        "pool": pool.name,
        "slots": pool.slots,
        "description": pool.description,
        "include_deferred": False,
        "running": running.get(pool.name, 0),
    }


def _running(store: Store) -> dict[str, int]:
    return store.running_counts()[1]


@click.group()
def pools() -> None:
    """Manage pools: named slot limits that tasks share (a task takes pool_slots of its pool while it runs)."""


@pools.command("set")
@click.argument("name", metavar="POOL")
@click.argument("slots", type=click.IntRange(min=0))
@click.argument("description", required=False)
@click.option("--include-deferred", is_flag=True, help="Accepted: dockyard has no deferred tasks to count.")
@output_option
@click.pass_obj
@friendly
def pools_set(
    settings: Settings, name: str, slots: int, description: str | None, include_deferred: bool, output: str
) -> None:
    """Configure pool POOL with SLOTS slots (created if it does not exist)."""
    store = open_store(settings)
    set_pools(store, [PoolSpec(name, slots, description)])
    emit([_row(get_pool(store, name), _running(store))], output)


@pools.command("get")
@click.argument("name", metavar="POOL")
@output_option
@click.pass_obj
@friendly
def pools_get(settings: Settings, name: str, output: str) -> None:
    """Get pool size: POOL's slots, description and slots in use now."""
    store = open_store(settings)
    emit([_row(get_pool(store, name), _running(store))], output)


@pools.command("list")
@output_option
@click.pass_obj
@friendly
def pools_list(settings: Settings, output: str) -> None:
    """List pools with their slots and the slots in use now."""
    store = open_store(settings)
    running = _running(store)
    emit([_row(p, running) for p in store.list_pools()], output, empty="No pools.")


@pools.command("delete")
@click.argument("name", metavar="POOL")
@output_option
@click.pass_obj
@friendly
def pools_delete(settings: Settings, name: str, output: str) -> None:
    """Delete pool POOL (tasks that name it then wait until it exists again)."""
    store = open_store(settings)
    row = _row(get_pool(store, name), _running(store))
    store.delete_pool(name)
    emit([row], output)


@pools.command("import")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@friendly
def pools_import(settings: Settings, path: Path) -> None:
    """Import pools from a JSON file: {"name": {"slots": N, "description": "...", "include_deferred": false}}."""
    if not path.exists():
        fail(f"Missing pools file {path}")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        fail(f"Invalid json file {path}: {exc}")
    if not isinstance(data, dict):
        fail(f'{path} must hold a JSON object like {{"etl": {{"slots": 4, "description": "ETL jobs"}}}}')
    specs, failed = [], []
    for name, value in data.items():
        ok = isinstance(value, dict) and "slots" in value and "description" in value
        if ok and isinstance(value["slots"], int) and not isinstance(value["slots"], bool):
            specs.append(PoolSpec(name, value["slots"], value["description"]))
        else:
            failed.append(name)
    if failed:
        fail(
            f'Failed to update pool(s): {", ".join(failed)} (each needs an integer "slots" and a "description"); '
            "nothing was imported"
        )
    set_pools(open_store(settings), specs)
    click.echo(f"Uploaded {len(specs)} pool(s)")


@pools.command("export")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@friendly
def pools_export(settings: Settings, path: Path) -> None:
    """Export all pools to a JSON file in Airflow's format (`airflow pools import` reads it)."""
    rows = open_store(settings).list_pools()
    data = {p.name: {"slots": p.slots, "description": p.description, "include_deferred": False} for p in rows}
    path.write_text(json.dumps(data, sort_keys=True, indent=4))
    click.echo(f"Exported {len(rows)} pools to {path}")

"""``dockyard engines list``: the scheduler's last read of the pool from the store (SQLite and PostgreSQL), and
``--live`` reading the engines of an engines file itself (the real engine and one that is away)."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import docker
import pytest

from dockyard.store.engines import write_statuses
from tests.cli.conftest import Dockyard

GB = 1024**3
WHEN = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)


def status(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "healthy": True,
        "error": None,
        "mode": "container",
        "labels": ["default", "ssd"],
        "capacity": {"cpus": 4.0, "memory": 8 * GB, "gpus": 0},
        "used": {"cpus": 1.0, "memory": 6 * GB, "gpus": 0},
        "running": 2,
        "checked_at": WHEN,
        **extra,
    }


def test_engines_list_shows_the_scheduler_s_last_read(dockyard: Dockyard) -> None:
    empty = dockyard("engines", "list")
    assert "No engine statuses yet" in empty.stderr
    assert dockyard.json("engines", "list") == []
    store = dockyard.store()
    try:
        write_statuses(
            store, [status("engine-a"), status("engine-b", healthy=False, error="no Docker engine answered")]
        )
    finally:
        store.close()
    dockyard.env["COLUMNS"] = "200"  # one line per engine in the table
    table = dockyard("engines", "list").stdout
    assert "engine-a" in table and "2/8 GB" in table and "3/4" in table
    assert "unhealthy: no Docker engine answered" in table
    plain = [line.split("\t") for line in dockyard("engines", "list", "-o", "plain").stdout.splitlines()]
    assert plain[0][:6] == ["engine", "health", "running", "cpus free", "memory free", "gpus free"]
    assert plain[1][:6] == ["engine-a", "healthy", "2", "3/4", "2/8 GB", "0/0"]
    found = dockyard.json("engines", "list")
    assert [e["name"] for e in found] == ["engine-a", "engine-b"]
    assert found[0]["memory"] == {"total": 8 * GB, "used": 6 * GB, "free": 2 * GB}
    assert found[0]["labels"] == ["default", "ssd"] and found[0]["checked_at"] == WHEN.isoformat()
    assert (found[1]["healthy"], found[1]["error"]) == (False, "no Docker engine answered")


@pytest.mark.engine
def test_engines_list_live_reads_the_engines_file(
    sqlite_dockyard: Dockyard, tmp_path: Path, engine: docker.APIClient
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: the engine there is away
        engines = tmp_path / "engines.toml"
        engines.write_text(
            f"""
[[engine]]
name = "local"
url = "unix:///var/run/docker.sock"

[[engine]]
name = "away"
url = "tcp://127.0.0.1:{closed.getsockname()[1]}"
labels = ["gpu"]
gpus = 2
""",
            encoding="utf-8",
        )
        sqlite_dockyard.env["DOCKYARD_ENGINES"] = str(engines)
        local, away = sqlite_dockyard.json("engines", "list", "--live")
    assert local["name"] == "local" and local["healthy"] is True
    assert local["cpus"]["total"] == engine.info()["NCPU"] and local["memory"]["total"] == engine.info()["MemTotal"]
    assert away["name"] == "away" and away["healthy"] is False and "no Docker engine answered" in away["error"]
    assert away["labels"] == ["gpu"] and away["gpus"]["total"] == 2


def test_a_bad_engines_file_is_one_clear_error(sqlite_dockyard: Dockyard, tmp_path: Path) -> None:
    engines = tmp_path / "engines.toml"
    engines.write_text('[[engine]]\nname = "big"\nurl = "unix:///var/run/docker.sock"\nmemory = "lots"\n')
    sqlite_dockyard.env["DOCKYARD_ENGINES"] = str(engines)
    result = sqlite_dockyard("engines", "list", "--live", ok=False)
    assert result.exit_code == 1
    assert f"DOCKYARD_ENGINES file {engines}: engine 'big': key 'memory' is 'lots'" in result.stderr
    assert "Traceback" not in result.output

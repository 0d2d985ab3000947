"""The engines page and its JSON over HTTP on a real store (SQLite and PostgreSQL): what the scheduler wrote,
shown per engine (health, running tasks, free of total, labels, last checked), readable by viewers, linked from
every page, and closed to strangers."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from typing import Any

import requests

from dockyard.store.engines import write_statuses
from tests.web.conftest import ADMIN, VIEWER, SecureSite

GB = 1024**3
WHEN = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)


def status(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "healthy": True,
        "error": None,
        "mode": "container",
        "labels": [],
        "capacity": {"cpus": 8.0, "memory": 16 * GB, "gpus": 0},
        "used": {"cpus": 2.5, "memory": 13 * GB, "gpus": 0},
        "running": 4,
        "checked_at": WHEN,
        **extra,
    }


def cells(page: str, label: str) -> list[str]:
    return [
        html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(rf'<td data-label="{label}">(.*?)</td>', page)
    ]


def test_the_engines_page_shows_each_engine(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    viewer = site.login(VIEWER)
    empty = viewer.get(site.url + "/engines", timeout=30)
    assert empty.status_code == 200 and "No engine statuses yet" in empty.text
    assert '<a href="/engines">Engines</a>' in empty.text
    write_statuses(
        site.store,
        [
            status("engine-a"),
            status(
                "engine-b",
                healthy=False,
                error="no Docker engine answered <tcp://10.0.0.9:2376>",
                mode="swarm",
                labels=["gpu", "default"],
                capacity={"cpus": 32.0, "memory": 64 * GB, "gpus": 2},
                used={"cpus": 0.0, "memory": 0, "gpus": 1},
            ),
        ],
    )
    page = viewer.get(site.url + "/engines", timeout=30).text
    assert cells(page, "Engine") == ["engine-a", "engine-b (swarm)"]
    assert cells(page, "Health") == ["healthy", "unhealthy: no Docker engine answered <tcp://10.0.0.9:2376>"]
    assert "&lt;tcp://10.0.0.9:2376&gt;" in page  # the engine's words are text, never markup
    assert cells(page, "Running tasks") == ["4", "4"]
    assert cells(page, "CPUs free") == ["5.5 of 8", "32 of 32"]
    assert cells(page, "Memory free") == ["3 GB of 16 GB", "64 GB of 64 GB"]
    assert cells(page, "GPUs free") == ["0 of 0", "1 of 2"]
    assert cells(page, "Labels") == ["none (queue default)", "defaultgpu"]
    assert len(cells(page, "Last checked")) == 2


def test_the_engines_json_answers_api_clients(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    write_statuses(site.store, [status("engine-a", labels=["default"])])
    answer = requests.get(site.url + "/engines.json", auth=VIEWER, timeout=30)
    assert answer.status_code == 200
    assert answer.json() == {
        "engines": [
            {
                "name": "engine-a",
                "healthy": True,
                "error": None,
                "mode": "container",
                "labels": ["default"],
                "running": 4,
                "cpus": {"total": 8.0, "used": 2.5, "free": 5.5},
                "memory": {"total": 16 * GB, "used": 13 * GB, "free": 3 * GB},
                "gpus": {"total": 0, "used": 0, "free": 0},
                "checked_at": WHEN.isoformat(),
            }
        ],
        "total_entries": 1,
    }
    assert site.login(ADMIN).get(site.url + "/engines.json", timeout=30).json()["total_entries"] == 1


def test_the_engines_page_and_json_need_a_sign_in(make_site: Callable[..., SecureSite]) -> None:
    site = make_site()
    page = requests.get(site.url + "/engines", timeout=30, allow_redirects=False)
    assert page.status_code in (302, 303, 307) and "/login" in page.headers["location"]
    answer = requests.get(site.url + "/engines.json", timeout=30)
    assert answer.status_code == 401
    assert requests.get(site.url + "/engines.json", auth=("vic", "wrong-password"), timeout=30).status_code == 401

"""Which code loads docker-py: only the runtime, once it runs a container. A DAG file that imports
dockyard, and the web server, never do (each checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import dockyard.container


def loaded_after(statements: str) -> list[str]:
    """The docker-py modules loaded by ``statements`` in a new interpreter."""
    script = (
        f"{statements}\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'docker' or m.startswith('docker.'))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statements",
    [
        "import dockyard",
        "from dockyard import DAG, DockerOperator",
        "import dockyard.decorators, dockyard.taskgroup, dockyard.params",
        "import dockyard.container",
        "from dockyard.container import ContainerOptions, ContainerSpec, build_spec, engine_config, labels_for",
        "from dockyard.container.runtime import Abandoned, DockerRuntime, RunControl, StopReason",
        "import dockyard.web, dockyard.web.app, dockyard.web.api, dockyard.web.pages",
        "from dockyard.container.pool import admit, load_pool, requested",
        "import dockyard.web.engine_pages, dockyard.store.engines, dockyard.cli.engines",
    ],
)
def test_authoring_and_the_web_server_load_no_docker_module(statements: str) -> None:
    assert loaded_after(statements) == []


def test_a_dag_that_builds_operators_loads_no_docker_module() -> None:
    statements = """
import datetime as dt
from dockyard import DAG, DockerOperator
from dockyard.container import build_spec, labels_for
with DAG("d", start_date=dt.datetime(2024, 1, 1)) as dag:
    task = DockerOperator(task_id="t", image="i", mounts=["/a:/b:ro"], ulimits=[{"name": "nofile", "soft": 1}],
                          device_requests=[{"count": -1, "capabilities": [["gpu"]]}], log_opts_max_size="1m")
build_spec(task.options.render({}), labels=labels_for("d", "t", "r", 1), default_docker_url="unix:///s")
"""
    assert loaded_after(statements) == []


def test_running_a_container_is_what_loads_docker() -> None:
    # The check above can fail: the runtime itself loads docker-py as soon as it is built.
    assert "docker" in loaded_after("from dockyard.container import DockerRuntime\nDockerRuntime().close()")


def test_the_container_package_lists_what_it_offers() -> None:
    for name in dockyard.container.__all__:
        assert getattr(dockyard.container, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        dockyard.container.nothing  # noqa: B018

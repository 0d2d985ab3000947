"""`dockyard connections test` against the real engine and the real test registry."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from click.testing import CliRunner, Result

from dockyard.cli.main import cli
from tests.registry import LOGIN, PASSWORD, Registry

pytestmark = pytest.mark.engine


def _dockyard(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"DOCKYARD_HOME": str(home)}, catch_exceptions=False)


def test_a_docker_connection_is_tested_by_its_engine_and_registry(
    tmp_path: Path, engine: docker.APIClient, registry: Registry
) -> None:
    host, port = registry.address.rsplit(":", 1)
    _dockyard(tmp_path, "connections", "add", "good", "--conn-type", "docker", "--conn-host", host,
              "--conn-port", port, "--conn-login", LOGIN, "--conn-password", PASSWORD)  # fmt: skip
    _dockyard(tmp_path, "connections", "add", "wrong", "--conn-type", "docker", "--conn-host", host,
              "--conn-port", port, "--conn-login", LOGIN, "--conn-password", "not-the-pass-81d")  # fmt: skip
    _dockyard(tmp_path, "connections", "add", "engine_only", "--conn-type", "docker")
    _dockyard(tmp_path, "connections", "add", "nowhere", "--conn-type", "docker",
              "--conn-extra", '{"docker_url": "tcp://127.0.0.1:1"}')  # fmt: skip
    _dockyard(tmp_path, "connections", "add", "db", "--conn-uri", "postgres://u:p@db:5432/x")
    assert _dockyard(tmp_path, "connections", "test", "good").stdout.strip() == "Connection success!"
    assert _dockyard(tmp_path, "connections", "test", "engine_only").stdout.strip() == "Connection success!"
    wrong = _dockyard(tmp_path, "connections", "test", "wrong")
    assert (
        wrong.exit_code == 1
        and "Connection failed!" in wrong.stderr
        and f"login to registry {registry.address}" in wrong.stderr
    )
    assert "not-the-pass-81d" not in wrong.output
    nowhere = _dockyard(tmp_path, "connections", "test", "nowhere")
    assert nowhere.exit_code == 1 and "Connection failed!" in nowhere.stderr and "127.0.0.1:1" in nowhere.stderr
    other = _dockyard(tmp_path, "connections", "test", "db")
    assert other.exit_code == 1 and "dockyard tests docker connections only" in other.stderr
    missing = _dockyard(tmp_path, "connections", "test", "nope")
    assert missing.exit_code == 1 and "nope" in missing.stderr

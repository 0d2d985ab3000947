"""`dockyard users ...` and `dockyard standalone` with its web server, as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
import requests

pytestmark = pytest.mark.engine


def test_users_commands(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKYARD_HOME": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard", "users", *args], capture_output=True, text=True, env=env, timeout=60
        )

    created = cli(
        "create",
        "--username",
        "dora",
        "--password",
        "dora-pass-123",
        "--role",
        "admin",
        "--email",
        "dora@example.com",
        "--firstname",
        "Dora",
        "--lastname",
        "Ops",
    )
    assert created.returncode == 0 and "User dora created with role Admin." in created.stdout
    listed = cli("list", "-o", "json")
    assert (
        '"username": "dora"' in listed.stdout and "dora-pass-123" not in listed.stdout and "argon2" not in listed.stdout
    )
    short = cli("create", "--username", "x", "--password", "short", "--role", "viewer")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    bad_role = cli("create", "--username", "y", "--password", "long-enough-1", "--role", "root")
    assert bad_role.returncode == 2
    assert "'root' is not a role; use one of Admin, Op, User, Viewer, Public" in bad_role.stderr
    again = cli("create", "--username", "dora", "--password", "dora-pass-456", "--role", "viewer")
    assert again.returncode == 1 and "user 'dora' exists already" in again.stderr
    token = cli("token", "--username", "dora", "--description", "ci").stdout.strip()
    assert token.startswith("dky_") and len(token) > 40
    missing = cli("token", "--username", "nobody")
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr
    assert cli("delete", "--username", "dora").returncode == 0


def test_standalone_serves_the_ui_with_a_generated_admin(tmp_path: Path, engine: docker.APIClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dags = tmp_path / "dags"
    dags.mkdir()
    env = {
        **os.environ,
        "DOCKYARD_HOME": str(tmp_path / "home"),
        "DOCKYARD_DAGS_FOLDER": str(dags),
        "DOCKYARD_WEB_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "standalone"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        secret = tmp_path / "home" / "standalone_admin_password.txt"
        deadline = time.monotonic() + 60
        while True:
            try:
                if secret.exists() and requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "standalone did not start"
            time.sleep(0.2)
        assert secret.stat().st_mode & 0o777 == 0o600
        password = secret.read_text().strip()
        assert (
            requests.get(f"http://127.0.0.1:{port}/api/v1/dags", auth=("admin", password), timeout=10).status_code
            == 200
        )
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/dags", timeout=10).status_code == 401
        home = tmp_path / "home"
        private = {
            home: 0o700,
            home / "logs": 0o700,
            home / "dockyard.db": 0o600,
            home / "dockyard.db-wal": 0o600,
            home / "dockyard.db-shm": 0o600,
            home / "webserver_secret_key": 0o600,
        }
        assert {path: path.stat().st_mode & 0o777 for path in private} == private
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert f"Created user admin with password {password}" in stderr

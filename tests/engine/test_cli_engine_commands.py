"""`dockyard connections test` and `dockyard scheduler -n` against the real engine (and the test registry)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    _dockyard(tmp_path, "connections", "add", "engine_only", "--conn-type", "docker",
              "--conn-extra", '{"docker_url": "unix:///var/run/docker.sock"}')  # fmt: skip
    _dockyard(tmp_path, "connections", "add", "no_host", "--conn-type", "docker")
    _dockyard(tmp_path, "connections", "add", "nowhere", "--conn-type", "docker",
              "--conn-extra", '{"docker_url": "tcp://127.0.0.1:1"}')  # fmt: skip
    _dockyard(tmp_path, "connections", "add", "closed", "--conn-type", "docker", "--conn-host", "127.0.0.1",
              "--conn-port", "1", "--conn-login", LOGIN, "--conn-password", PASSWORD)  # fmt: skip
    _dockyard(tmp_path, "connections", "add", "db", "--conn-uri", "postgres://u:p@db:5432/x")
    good = _dockyard(tmp_path, "connections", "test", "good")
    assert good.exit_code == 0 and good.stdout.startswith("Connection success!\n")
    assert f"Logged in to registry {registry.address} as 'robot'" in good.stdout and PASSWORD not in good.output
    engine_only = _dockyard(tmp_path, "connections", "test", "engine_only")
    assert engine_only.exit_code == 0 and "names no registry to log in to" in engine_only.stdout
    no_host = _dockyard(tmp_path, "connections", "test", "no_host")
    assert no_host.exit_code == 1 and "connection 'no_host' has no host: set it to the registry" in no_host.stderr
    wrong = _dockyard(tmp_path, "connections", "test", "wrong")
    assert (
        wrong.exit_code == 1
        and "Connection failed!" in wrong.stderr
        and f"registry {registry.address} refused the login of 'robot'" in wrong.stderr
    )
    assert "not-the-pass-81d" not in wrong.output
    nowhere = _dockyard(tmp_path, "connections", "test", "nowhere")
    assert nowhere.exit_code == 1 and "Connection failed!" in nowhere.stderr and "127.0.0.1:1" in nowhere.stderr
    closed = _dockyard(tmp_path, "connections", "test", "closed")
    assert closed.exit_code == 1 and "could not reach registry 127.0.0.1:1" in closed.stderr
    assert PASSWORD not in closed.output
    other = _dockyard(tmp_path, "connections", "test", "db")
    assert other.exit_code == 1 and "dockyard tests docker connections only" in other.stderr
    missing = _dockyard(tmp_path, "connections", "test", "nope")
    assert missing.exit_code == 1 and "nope" in missing.stderr


def test_scheduler_runs_n_passes_over_another_folder_then_exits(tmp_path: Path, engine: docker.APIClient) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "once.py").write_text(
        "from datetime import datetime\nfrom dockyard import DAG, EmptyOperator\n"
        "with DAG('once', start_date=datetime(2024, 1, 1), schedule='@once'):\n    EmptyOperator(task_id='t')\n"
    )
    home = tmp_path / "home"
    # A child process: the scheduler takes SIGTERM and SIGINT over, which this test process must keep.
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "scheduler", "-n", "3", "-S", str(other), "--skip-serve-logs"],
        env={**os.environ, "DOCKYARD_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    runs = CliRunner().invoke(cli, ["dags", "list-runs", "-d", "once", "-o", "json"], env={"DOCKYARD_HOME": str(home)})
    assert '"run_type": "scheduled"' in runs.stdout


def test_webserver_serves_https_with_ssl_cert_and_key(tmp_path: Path) -> None:
    import socket
    import time

    import requests

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DOCKYARD_HOME": str(tmp_path / "home")}
    half = subprocess.run(
        [sys.executable, "-m", "dockyard", "webserver", "--ssl-cert", str(cert)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert half.returncode == 2 and "give both --ssl-cert and --ssl-key" in half.stderr
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dockyard",
            "webserver",
            "-p",
            str(port),
            "--ssl-cert",
            str(cert),
            "--ssl-key",
            str(key),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(f"https://127.0.0.1:{port}/api/v1/health", verify=str(cert), timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "the web server did not start"
                time.sleep(0.5)
        assert answer.status_code == 200 and answer.json()["metadatabase"]["status"] == "healthy"
    finally:
        server.send_signal(signal.SIGTERM)  # it stops within DEFAULT_WEB_SHUTDOWN_SECONDS
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise

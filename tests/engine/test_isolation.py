"""One bad DAG file never stops anything: `dockyard standalone` beside files that hang, exit and carry a
schedule dockyard does not build keeps scheduling, serving and triggering the good DAGs, reports each bad
file as an import error, and stops on SIGTERM within 10 s."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.helpers import wait_for, write_dag

pytestmark = pytest.mark.engine

BAD_FILES = {
    "hangs.py": (
        "import os, pathlib, time\nfrom dockyard import DAG\n"
        "pathlib.Path(__file__).with_suffix('.pids').open('a').write(f'{os.getpid()}\\n')\n"
        "while True:\n    time.sleep(0.5)\n"
    ),
    "exits.py": "import os\nfrom dockyard import DAG\nos._exit(0)\n",
    "fortnightly.py": (
        "import datetime as dt\nfrom dockyard import DAG, EmptyOperator\n"
        "with DAG('odd', start_date=dt.datetime(2024, 1, 1), schedule='@fortnightly'):\n"
        "    EmptyOperator(task_id='x')\n"
    ),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(port: int, path: str, password: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode(),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_bad_dag_files_never_stop_standalone(tmp_path: Path, engine: docker.APIClient) -> None:
    dags = tmp_path / "dags"
    write_dag(
        dags,
        "good_one",
        """
import os, pathlib
pathlib.Path(__file__).with_suffix(".importers").open("a").write(f"{os.getpid()}\\n")
with DAG("good_one", start_date=START, schedule=None, default_args=ARGS) as dag:
    DockerOperator(task_id="hello", command="echo hello {{ ds }}")
""",
    )
    for name, text in BAD_FILES.items():
        (dags / name).write_text(text)
    port = _free_port()
    env = {
        **os.environ,
        "DOCKYARD_HOME": str(tmp_path / "home"),
        "DOCKYARD_DAGS_FOLDER": str(dags),
        "DOCKYARD_WEB_PORT": str(port),
        "DOCKYARD_DAG_FILE_PROCESSOR_TIMEOUT": "3",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "standalone"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        password_file = tmp_path / "home" / "standalone_admin_password.txt"
        wait_for(password_file.exists, 60, "the admin password")
        password = password_file.read_text().strip()
        wait_for(lambda: _known(port, password), 60, "the good DAG to be stored")
        started = time.monotonic()
        status, run = _api(port, "/dags/good_one/dagRuns", password, {"conf": {}})
        assert status == 200 and time.monotonic() - started < 5
        wait_for(
            lambda: _api(port, f"/dags/good_one/dagRuns/{run['dag_run_id']}", password)[1]["state"] == "success", 90
        )
        listing = subprocess.run(
            [sys.executable, "-m", "dockyard", "dags", "list-import-errors", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listing.returncode == 1, listing.stderr
        found = {Path(row["filepath"]).name: row["error"] for row in json.loads(listing.stdout)}
        assert "timed out after 3 s" in found["hangs.py"]
        assert "exited with status 0 while being imported" in found["exits.py"]
        assert "@fortnightly" in found["fortnightly.py"]
        listed = subprocess.run(
            [sys.executable, "-m", "dockyard", "dags", "list", "-o", "json"], env=env, capture_output=True, timeout=60
        )
        assert listed.returncode == 0 and "good_one" in listed.stdout.decode()
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).read())
        assert health["scheduler"]["status"] == "healthy", health
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert time.monotonic() - stopping < 10
        assert process.returncode == 0
        importers = {int(p) for p in (dags / "good_one.importers").read_text().split()}
        assert process.pid not in importers, "the scheduler or web server process imported a DAG file itself"
    finally:
        process.kill()
        process.communicate()
    pids = [int(p) for p in (dags / "hangs.pids").read_text().split()]
    assert pids, "the hanging file was never imported"
    for pid in pids:  # the children that imported the hanging file were stopped with it
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _known(port: int, password: str) -> bool:
    try:
        return any(d["dag_id"] == "good_one" for d in _api(port, "/dags", password)[1]["dags"])
    except OSError:
        return False

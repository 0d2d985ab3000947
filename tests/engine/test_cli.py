"""`dockyard tasks test` as a person runs it: a subprocess, real engine, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from dockyard import __version__
from tests.helpers import IMAGE, TEST_LABEL, TOKEN, labelled

pytestmark = pytest.mark.engine

DAG_FILE = """
from datetime import datetime
from dockyard import DAG, DockerOperator

defaults = dict(image="{image}", network_mode="none", labels={{"{label}": "{token}"}})
with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule="@daily", default_args=defaults) as dag:
    hello = DockerOperator(
        task_id="hello",
        command="sh -c 'echo day {{{{ ds }}}}; echo key=$API_KEY; echo n={{{{ params.n | default(1) }}}}'",
        private_environment={{"API_KEY": "canary-8d1f3a"}},
    )
    broken = DockerOperator(task_id="broken", command=["sh", "-c", "echo about to fail; exit 7"])
    sleeper = DockerOperator(task_id="sleeper", command=["sh", "-c", "echo sleeping; exec sleep 120"])
    hello >> broken
"""


def dockyard(*args: str, home: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_for(home),
        **kwargs,  # type: ignore[call-overload]
    )


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "DOCKYARD_HOME": str(home), "DOCKYARD_STOP_GRACE_SECONDS": "1"}


@pytest.fixture
def dag_file(tmp_path: Path, engine: docker.APIClient) -> Path:
    """A DAG file whose containers carry this session's label (the engine fixture removes them)."""
    path = tmp_path / "dags" / "cli_dag.py"
    path.parent.mkdir()
    dag_id = f"cli_{tmp_path.name[-8:]}".replace("-", "_")
    path.write_text(DAG_FILE.format(image=IMAGE, label=TEST_LABEL, token=TOKEN, dag_id=dag_id))
    return path


def test_help_and_version(tmp_path: Path) -> None:
    result = dockyard("--help", home=tmp_path)
    assert result.returncode == 0 and "workflow orchestrator" in result.stdout and "tasks" in result.stdout
    assert dockyard("--version", home=tmp_path).stdout.strip() == f"dockyard, version {__version__}"
    help_text = dockyard("tasks", "test", "--help", home=tmp_path).stdout
    assert "DAG_FILE_OR_DAG_ID TASK_ID [LOGICAL_DATE]" in help_text and "--task-params" in help_text


def test_a_task_runs_streams_its_log_and_prints_its_xcom(dag_file: Path, tmp_path: Path) -> None:
    result = dockyard("tasks", "test", str(dag_file), "hello", "2024-03-05", "-t", '{"n": 4}', home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert " day 2024-03-05\n" in result.stdout
    assert " key=***\n" in result.stdout
    assert result.stdout.rstrip().endswith('XCom: "n=4"')
    assert "succeeded" in result.stderr
    everything = result.stdout + result.stderr + "".join(p.read_text() for p in (tmp_path / "logs").rglob("*.log"))
    assert "canary-8d1f3a" not in everything


def test_a_task_found_by_dag_id_in_the_dags_folder(dag_file: Path, tmp_path: Path) -> None:
    dag_id = dag_file.read_text().split('DAG("')[1].split('"')[0]
    env = {**env_for(tmp_path), "DOCKYARD_DAGS_FOLDER": str(dag_file.parent)}
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "tasks", "test", dag_id, "hello", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("XCom: ")  # --quiet: no log lines


def test_a_failing_task_exits_non_zero_with_the_reason(dag_file: Path, tmp_path: Path) -> None:
    result = dockyard("tasks", "test", str(dag_file), "broken", home=tmp_path)
    assert result.returncode == 1
    assert "Error: task 'broken': container exited with code 7" in result.stderr
    assert "about to fail" in result.stderr


def test_bad_input_gives_one_clear_error(dag_file: Path, tmp_path: Path) -> None:
    unknown = dockyard("tasks", "test", str(dag_file), "helo", home=tmp_path)
    assert unknown.returncode == 1 and "has no task 'helo' (did you mean 'hello'?)" in unknown.stderr
    bad_date = dockyard("tasks", "test", str(dag_file), "hello", "31/01/2024", home=tmp_path)
    assert bad_date.returncode == 2 and "'31/01/2024' is not a date; use 2024-01-31" in bad_date.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("from dockyard import DAG\n\nDAG('x', shedule='@daily')\n")
    result = dockyard("tasks", "test", str(broken), "t", home=tmp_path)
    assert result.returncode == 1
    assert f"{broken}:3:" in result.stderr and "did you mean 'schedule'" in result.stderr
    assert "Traceback" not in result.stderr
    params = dockyard("tasks", "test", str(dag_file), "hello", "-t", "{n: 1}", home=tmp_path)
    assert params.returncode == 2 and "not valid JSON" in params.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_running_container(
    dag_file: Path, tmp_path: Path, engine: docker.APIClient, signum: signal.Signals
) -> None:
    dag_id = dag_file.read_text().split('DAG("')[1].split('"')[0]
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "tasks", "test", str(dag_file), "sleeper"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(tmp_path),
    )
    try:
        deadline = time.monotonic() + 30
        while not [c for c in labelled(engine, dag_id=dag_id) if c["State"] == "running"]:
            assert time.monotonic() < deadline, "the container never started"
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "was stopped and its container with it" in stderr
    states = [c["State"] for c in labelled(engine, dag_id=dag_id)]
    assert "running" not in states

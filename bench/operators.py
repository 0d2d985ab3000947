"""Bash and Python tasks against bare containers, side by side in one run.

    .venv/bin/python bench/operators.py [--chain 50]

Prints, each with the figures it compares:

- python: a chain of N TaskFlow ``@task`` functions, each taking the one before's XCom, via ``dockyard dags
  test`` (a subprocess, start-up included) vs N containers of the same image run one after another with plain
  docker-py, each running ``python3 -c``. Target ratio <= 1.25.
- bash: a chain of N ``BashOperator`` tasks the same way vs N plain containers running ``bash -c``.
  Target ratio <= 1.25.

Both sides use the task image dockyard/python:latest (``scripts/build-images``); every task is a container.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
from orchestration import LABEL, environment

IMAGE = "dockyard/python:latest"

PYTHON_DAG = """
from datetime import datetime
from airflow.decorators import dag, task

@task
def step(value: int) -> int:
    return value + 1

@dag(dag_id="bench_python", start_date=datetime(2024, 1, 1), schedule=None)
def bench_python():
    value = 0
    for _ in range({n}):
        value = step(value)  # task ids step, step__1, step__2, ... as in Airflow

bench_python()
"""

BASH_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.bash import BashOperator

with DAG("bench_bash", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    chain(*[BashOperator(task_id=f"t{{i}}", bash_command="echo hello {{{{ ds }}}}") for i in range({n})])
"""

BARE = {
    "python": ["python3", "-c", "import json; print(json.dumps(1 + 1))"],
    "bash": ["bash", "-c", "echo hello 2024-01-01"],
}


def bare_one(client: docker.DockerClient, command: list[str]) -> None:
    container = client.containers.create(IMAGE, command, network_mode="none", labels=LABEL)
    container.start()
    container.wait()
    container.logs()
    container.remove()


def dags_test(dag_id: str, text: str) -> float:
    """Seconds that `dockyard dags test` takes over a DAG folder holding ``text`` (the run must succeed)."""
    with tempfile.TemporaryDirectory() as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / f"{dag_id}.py").write_text(text)
        env = {**environment(Path(tmp) / "home", dags, 16), "DOCKYARD_TASK_IMAGE": IMAGE}
        subprocess.run([sys.executable, "-m", "dockyard", "db", "migrate"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", "dags", "test", dag_id, "-q"], env=env, capture_output=True, text=True
        )
        took = time.perf_counter() - started
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return took


def compare(kind: str, n: int, text: str, client: docker.DockerClient) -> None:
    ours = dags_test(f"bench_{kind}", text.format(n=n))
    started = time.perf_counter()
    for _ in range(n):
        bare_one(client, BARE[kind])
    plain = time.perf_counter() - started
    print(
        f"{kind:<7} {n} tasks in a chain: dockyard dags test {ours:6.2f} s   bare containers {plain:6.2f} s   "
        f"ratio {ours / plain:.2f} (target <= 1.25)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", type=int, default=50)
    args = parser.parse_args()
    client = docker.from_env()
    bare_one(client, BARE["python"])  # warm the engine's caches for both sides
    compare("python", args.chain, PYTHON_DAG, client)
    compare("bash", args.chain, BASH_DAG, client)
    client.close()


if __name__ == "__main__":
    main()

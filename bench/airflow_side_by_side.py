"""The same chain DAG file under dockyard and under Apache Airflow, side by side (optional).

    .venv/bin/python bench/airflow_side_by_side.py --install [--tasks 50] [--venv /tmp/airflow-venv]

With ``--install`` it creates a separate virtual environment and installs Apache Airflow 2.x with its Docker
provider there (a few hundred MB from PyPI; nothing of it touches dockyard's environment). Then it writes
one DAG file, written against Airflow's API, and times ``dockyard dags test`` and ``airflow dags test`` on it
(each a fresh process, start-up included; Airflow's database is migrated before its clock starts).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAG = """
from datetime import datetime

from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.providers.docker.operators.docker import DockerOperator

with DAG("bench_side_by_side", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    chain(*[
        DockerOperator(task_id=f"t{{i}}", image="dockyard/busybox:latest", command=["echo", "hello"],
                       network_mode="none", auto_remove="success", mount_tmp_dir=False)
        for i in range({n})
    ])
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--venv", default="/tmp/airflow-venv")
    parser.add_argument("--install", action="store_true", help="Create the venv and install Airflow into it.")
    args = parser.parse_args()
    venv = Path(args.venv)
    airflow = venv / "bin" / "airflow"
    if args.install and not airflow.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "apache-airflow>=2.9,<3", "apache-airflow-providers-docker"],
            check=True,
        )
    if not airflow.exists():
        sys.exit(f"no Airflow in {venv}; run with --install to install it there")
    with tempfile.TemporaryDirectory() as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / "bench_side_by_side.py").write_text(DAG.format(n=args.tasks))
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DOCKYARD"))}
        ours_env = {**base, "DOCKYARD_HOME": f"{tmp}/dockyard", "DOCKYARD_DAGS_FOLDER": str(dags)}
        airflow_env = {
            **base,
            "AIRFLOW_HOME": f"{tmp}/airflow",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
        subprocess.run([str(airflow), "db", "migrate"], env=airflow_env, check=True, capture_output=True)
        subprocess.run(
            [sys.executable, "-m", "dockyard", "db", "migrate"], env=ours_env, check=True, capture_output=True
        )
        ours = timed(
            [sys.executable, "-m", "dockyard", "dags", "test", "bench_side_by_side", "2024-01-01", "-q"], ours_env
        )
        theirs = timed([str(airflow), "dags", "test", "bench_side_by_side", "2024-01-01"], airflow_env)
    version = subprocess.run([str(airflow), "version"], env=airflow_env, capture_output=True, text=True).stdout.strip()
    print(f"chain of {args.tasks} DockerOperator tasks, one DAG file, run once each:")
    print(f"  dockyard dags test          {ours:7.2f} s")
    print(f"  airflow dags test ({version}) {theirs:7.2f} s")
    print(f"  ratio airflow / dockyard    {theirs / ours:7.2f}")


if __name__ == "__main__":
    main()

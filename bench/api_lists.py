"""Requests per second and p50/p99 latency of the five most used list endpoints of ``/api/v1``, with 1,000 DAGs,
10,000 runs and 100,000 task instances in the store (PostgreSQL by default; the target is p99 < 100 ms there).

The store is filled with plain INSERTs into a new database on the server of ``--admin-url`` (dropped at the
end); the web server runs in a child process, and one client sends the requests one after another with a
bearer token (an HTTP Basic password would add an argon2 check, made slow on purpose, to every request).

    eval "$(scripts/start-postgres)"
    .venv/bin/python bench/api_lists.py                       # PostgreSQL from DOCKYARD_TEST_POSTGRES_URL
    .venv/bin/python bench/api_lists.py --sqlite --requests 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.store.models import DagModel, DagRunModel, TaskInstanceModel
from dockyard.users import create_token, create_user

SERVER = """
import sys, uvicorn
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.web import create_app
settings = Settings.from_env()
uvicorn.run(create_app(settings, Store.open(settings)), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
STATES = ("success", "success", "success", "failed", "running", "queued", "up_for_retry", "skipped")
ENDPOINTS = (
    ("GET /dags", "GET", "/dags?limit=100"),
    ("GET /dags/{id}/dagRuns", "GET", "/dags/dag_0500/dagRuns?order_by=-execution_date"),
    ("GET /dags/~/dagRuns?state=failed", "GET", "/dags/~/dagRuns?state=failed&limit=100"),
    ("GET .../dagRuns/{run}/taskInstances", "GET", "/dags/dag_0500/dagRuns/run_05/taskInstances"),
    ("POST /dags/~/dagRuns/~/taskInstances/list", "POST", "/dags/~/dagRuns/~/taskInstances/list"),
)


def fill(store: Store, dags: int, runs: int, tasks: int) -> None:
    """``dags`` DAGs with ``runs`` runs each and ``tasks`` task instances per run, in bulk INSERTs."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    dag_rows, run_rows, ti_rows = [], [], []
    for d in range(dags):
        dag_id = f"dag_{d:04d}"
        dag_rows.append(
            {"dag_id": dag_id, "fileloc": f"/dags/{dag_id}.py", "is_paused": d % 10 == 0, "is_active": True,
             "schedule": "@daily", "description": None, "tags": ["bench", f"team{d % 7}"], "max_active_runs": 16,
             "max_active_tasks": 16, "next_dagrun": None, "last_parsed_at": start, "structure": {}}
        )  # fmt: skip
        for r in range(runs):
            when = start + dt.timedelta(days=r)
            run_id = f"run_{r:02d}"
            state = "failed" if (d + r) % 9 == 0 else "success"
            run_rows.append(
                {"dag_id": dag_id, "run_id": run_id, "logical_date": when, "data_interval_start": when,
                 "data_interval_end": when, "run_type": "scheduled", "state": state, "conf": {}, "queued_at": when,
                 "start_date": when, "end_date": when + dt.timedelta(minutes=5), "external_trigger": False}
            )  # fmt: skip
            for t in range(tasks):
                ti_state = STATES[(d + r + t) % len(STATES)]
                ti_rows.append(
                    {"dag_id": dag_id, "run_id": run_id, "task_id": f"task_{t:02d}", "state": ti_state,
                     "try_number": 1, "max_tries": 1, "operator": "DockerOperator", "pool": "default_pool",
                     "pool_slots": 1, "priority_weight": 1, "start_date": when,
                     "end_date": when + dt.timedelta(seconds=30 + t), "duration": 30.0 + t}
                )  # fmt: skip
    with store.engine.begin() as connection:
        connection.execute(sa.insert(DagModel), dag_rows)
        connection.execute(sa.insert(DagRunModel), run_rows)
        for chunk in range(0, len(ti_rows), 10_000):
            connection.execute(sa.insert(TaskInstanceModel), ti_rows[chunk : chunk + 10_000])
        if store.engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(url: str, token: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    batch = {"state": ["failed"], "page_limit": 100}
    print(f"{'endpoint':44} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'entries':>8}")
    for name, method, path in ENDPOINTS:
        body = batch if method == "POST" else None
        latencies: list[float] = []
        total = None
        for _ in range(count):
            began = time.perf_counter()
            response = requests.request(method, url + "/api/v1" + path, headers=headers, json=body, timeout=60)
            latencies.append(time.perf_counter() - began)
            response.raise_for_status()
            total = response.json().get("total_entries")
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        print(f"{name:44} {len(latencies) / sum(latencies):7.1f} {p50:7.1f} {p99:7.1f} {total!s:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("DOCKYARD_TEST_POSTGRES_URL"))
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10, help="runs per DAG")
    parser.add_argument("--tasks", type=int, default=10, help="task instances per run")
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    admin = None
    if args.sqlite:
        url = f"sqlite:///{home / 'bench.db'}"
    else:
        if not args.admin_url:
            sys.exit('api_lists: give --admin-url or run eval "$(scripts/start-postgres)" first')
        name = f"dockyard_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE template0")
        url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    env = {**os.environ, "DOCKYARD_HOME": str(home), "DOCKYARD_DAGS_FOLDER": str(home / "dags"),
           "DOCKYARD_DATABASE_URL": url}  # fmt: skip
    server = None
    try:
        settings = Settings.from_env(env)
        store = Store.open(settings)
        began = time.perf_counter()
        fill(store, args.dags, args.runs, args.tasks)
        print(f"filled {args.dags} DAGs, {args.dags * args.runs} runs, "
              f"{args.dags * args.runs * args.tasks} task instances in {time.perf_counter() - began:.1f} s "
              f"({store.engine.dialect.name})")  # fmt: skip
        create_user(store, "bench", "bench-pass-1234", "viewer")
        token = create_token(store, "bench")
        store.close()
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/health", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("api_lists: the web server did not start")
                time.sleep(0.2)
        measure(base, token, args.requests)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if admin is not None:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()


if __name__ == "__main__":
    main()

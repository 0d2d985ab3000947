"""Orchestration overhead, measured side by side with plain docker-py in one run.

    .venv/bin/python bench/orchestration.py [--chain 50] [--fanout 200] [--parallelism 8] [--latency-runs 10]

Prints, each with the figures it compares:

- chain: N trivial container tasks in sequence via ``dockyard dags test`` (a subprocess, start-up
  included) vs the same N containers run one after another with plain docker-py. Target ratio <= 1.25.
- fan-out: N independent tasks under a running ``dockyard scheduler`` with DOCKYARD_PARALLELISM=P, from
  trigger to run end, vs the same N containers with plain docker-py on P threads. Target ratio <= 1.25.
- memory: peak RSS (VmHWM) of that scheduler process after the fan-out. Target < 150 MB.
- latency: from a trigger to the first container's start (the engine's StartedAt), under a running
  scheduler, median of several triggers. Target < 0.5 s.

Each comparison runs its two sides back to back on the same image (dockyard/busybox:latest).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from dockyard.dag import DAG
from dockyard.scheduler import Scheduler, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store

IMAGE = "dockyard/busybox:latest"
LABEL = {"dockyard.bench": "orchestration"}

CHAIN_DAG = """
from datetime import datetime
from dockyard import DAG, DockerOperator, chain
with DAG("bench_chain", start_date=datetime(2024, 1, 1), schedule=None,
         default_args={{"image": "{image}", "network_mode": "none", "labels": {labels!r}}}) as dag:
    chain(*[DockerOperator(task_id=f"t{{i}}", command=["echo", "hello"]) for i in range({n})])
"""

FANOUT_DAG = """
from datetime import datetime
from dockyard import DAG, DockerOperator
with DAG("bench_fanout", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks={p},
         default_args={{"image": "{image}", "network_mode": "none", "labels": {labels!r}}}) as dag:
    for i in range({n}):
        DockerOperator(task_id=f"t{{i}}", command=["echo", "hello"])
"""

LATENCY_DAG = """
from datetime import datetime
from dockyard import DAG, DockerOperator
with DAG("bench_latency", start_date=datetime(2024, 1, 1), schedule=None,
         default_args={{"image": "{image}", "network_mode": "none", "labels": {labels!r}}}) as dag:
    DockerOperator(task_id="first", command=["echo", "hello"], auto_remove="never")
"""


def docker_py_one(client: docker.DockerClient) -> None:
    container = client.containers.create(IMAGE, ["echo", "hello"], network_mode="none", labels=LABEL)
    container.start()
    container.wait()
    container.logs()
    container.remove()


def environment(home: Path, dags: Path, parallelism: int) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKYARD_HOME": str(home),
        "DOCKYARD_DAGS_FOLDER": str(dags),
        "DOCKYARD_PARALLELISM": str(parallelism),
    }


def bench_chain(n: int, client: docker.DockerClient) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / "chain.py").write_text(CHAIN_DAG.format(image=IMAGE, labels=LABEL, n=n))
        env = environment(Path(tmp) / "home", dags, 16)
        subprocess.run([sys.executable, "-m", "dockyard", "db", "migrate"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", "dags", "test", "bench_chain", "-q"],
            env=env,
            capture_output=True,
            text=True,
        )
        ours = time.perf_counter() - started
        assert result.returncode == 0, result.stderr[-2000:]
    started = time.perf_counter()
    for _ in range(n):
        docker_py_one(client)
    plain = time.perf_counter() - started
    print(
        f"chain     {n} tasks: dockyard dags test {ours:6.2f} s   docker-py {plain:6.2f} s   "
        f"ratio {ours / plain:.2f} (target <= 1.25)"
    )


@contextlib.contextmanager
def scheduler_process(dag_text: str, dag_id: str, parallelism: int) -> Iterator[tuple[Settings, Store, DAG, int]]:
    """A DAG folder with one DAG, its store, and a `dockyard scheduler` subprocess serving it (pid given)."""
    with tempfile.TemporaryDirectory() as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / f"{dag_id}.py").write_text(dag_text)
        env = environment(Path(tmp) / "home", dags, parallelism)
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("DOCKYARD_")})
        store = Store.open(settings)
        parser = Scheduler(settings, store)
        parser.refresh_dags(force=True)
        dag = parser.dags[dag_id]
        parser.shutdown()
        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(2)  # let it start and parse
            yield settings, store, dag, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            store.close()


def wait_for_run(store: Store, dag_id: str, run_id: str) -> str:
    while (state := store.get_run(dag_id, run_id).state) not in ("success", "failed"):
        time.sleep(0.05)
    return state


def bench_fanout(n: int, parallelism: int, client: docker.DockerClient) -> None:
    text = FANOUT_DAG.format(image=IMAGE, labels=LABEL, n=n, p=parallelism)
    with scheduler_process(text, "bench_fanout", parallelism) as (settings, store, dag, pid):
        started = time.perf_counter()
        run = trigger_run(settings, store, dag)
        state = wait_for_run(store, "bench_fanout", run.run_id)
        ours = time.perf_counter() - started
        peak = _peak_rss_mb(pid)
    assert state == "success", state
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        list(pool.map(lambda _: docker_py_one(client), range(n)))
    plain = time.perf_counter() - started
    print(
        f"fan-out   {n} tasks, parallelism {parallelism}: dockyard scheduler {ours:6.2f} s   "
        f"docker-py {parallelism} threads {plain:6.2f} s   ratio {ours / plain:.2f} (target <= 1.25)"
    )
    print(f"memory    scheduler peak RSS during the fan-out: {peak:.0f} MB (target < 150 MB)")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_latency(runs: int, client: docker.DockerClient) -> None:
    api = client.api
    delays = []
    with scheduler_process(LATENCY_DAG.format(image=IMAGE, labels=LABEL), "bench_latency", 8) as (
        settings,
        store,
        dag,
        _,
    ):
        for _ in range(runs):
            before = dt.datetime.now(dt.timezone.utc)
            run = trigger_run(settings, store, dag)
            wait_for_run(store, "bench_latency", run.run_id)
            container_id = store.get_task_instance("bench_latency", run.run_id, "first").container_id
            started_at = api.inspect_container(container_id)["State"]["StartedAt"]
            started = dt.datetime.fromisoformat(started_at[:26].rstrip("Z") + "+00:00")
            delays.append((started - before).total_seconds())
            api.remove_container(container_id)
            time.sleep(0.3)
    print(
        f"latency   trigger -> first container start, {runs} triggers: median {statistics.median(delays):.3f} s "
        f"(min {min(delays):.3f}, max {max(delays):.3f}; target < 0.5 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--latency-runs", type=int, default=10)
    args = parser.parse_args()
    client = docker.from_env()
    docker_py_one(client)  # warm the engine's caches for both sides
    bench_chain(args.chain, client)
    bench_fanout(args.fanout, args.parallelism, client)
    bench_latency(args.latency_runs, client)
    client.close()


if __name__ == "__main__":
    main()

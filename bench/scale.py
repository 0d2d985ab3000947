"""Scale-out throughput, side by side in one run: one engine, two engines, a swarm, and three schedulers.

    .venv/bin/python bench/scale.py [--tasks 500] [--parallelism 16]

Needs root (it starts engines of its own) and ``DOCKYARD_TEST_POSTGRES_URL`` (``eval "$(scripts/start-postgres)"``):
every side keeps its metadata in a new PostgreSQL database, so that only what is compared differs.

Prints, for N independent trivial container tasks (``echo hello`` on dockyard/busybox) from trigger to run end:

- one engine: one ``dockyard scheduler`` on the local engine; tasks per second;
- two engines: the same scheduler with an engine pool of the local engine and a second ``dockerd`` on this
  machine (``DOCKYARD_ENGINES``), tasks spread by free resources;
- swarm: ``DOCKYARD_ENGINE_MODE=swarm`` on a one-node Docker Swarm (a third ``dockerd``, in namespaces of its
  own), each try a one-shot service;
- three schedulers: the one-engine run again with three ``dockyard scheduler`` processes sharing the database
  (each with a third of the parallelism), and the scheduling overhead per task of one and of three schedulers
  against plain docker-py running the same containers on as many threads.

On a machine of 2 cores the engines share the same CPUs: a second engine or more schedulers add coordination,
not capacity, so the figures show what the spreading costs; across machines each engine adds its own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dockyard.scheduler import Scheduler, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store

IMAGE = "dockyard/busybox:latest"
LABEL = {"dockyard.bench": "scale"}

FANOUT_DAG = """
from datetime import datetime
from dockyard import DAG, DockerOperator
with DAG("bench_scale", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks={n},
         default_args={{"image": "{image}", "network_mode": "none", "labels": {labels!r}}}) as dag:
    for i in range({n}):
        DockerOperator(task_id=f"t{{i}}", command=["echo", "hello"])
"""


@contextlib.contextmanager
def database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one side of the comparison."""
    name = f"dockyard_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextlib.contextmanager
def second_engine(main: docker.APIClient) -> Iterator[str]:
    """A second plain ``dockerd`` on this machine (its own socket, data and exec roots), with the image."""
    root = Path(tempfile.mkdtemp(prefix="dy-eng-", dir="/tmp"))
    sock = root / "docker.sock"
    log = (root / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            "dockerd",
            "--host",
            f"unix://{sock}",
            f"--data-root={root}/data",
            f"--exec-root={root}/x",
            f"--pidfile={root}/docker.pid",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = docker.APIClient(base_url=f"unix://{sock}", version="1.41", timeout=120)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if process.poll() is not None or time.monotonic() > deadline:
                    why = (root / "dockerd.log").read_text()[-2000:]
                    raise SystemExit(f"the second engine did not start: {why}") from None
                time.sleep(0.5)
        client.load_image(b"".join(main.get_image(IMAGE)))
        yield f"unix://{sock}"
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def run_fanout(n: int, parallelism: int, database_url: str, *, schedulers: int = 1, **env: str) -> tuple[float, str]:
    """N independent tasks from trigger to run end under ``schedulers`` scheduler processes; (seconds, state)."""
    with tempfile.TemporaryDirectory() as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / "bench_scale.py").write_text(FANOUT_DAG.format(image=IMAGE, labels=LABEL, n=n))
        environ = {
            **os.environ,
            "DOCKYARD_HOME": str(Path(tmp) / "home"),
            "DOCKYARD_DAGS_FOLDER": str(dags),
            "DOCKYARD_DATABASE_URL": database_url,
            "DOCKYARD_PARALLELISM": str(max(parallelism // schedulers, 1)),
            **env,
        }
        settings = Settings.from_env({k: v for k, v in environ.items() if k.startswith("DOCKYARD_")})
        store = Store.open(settings)
        parser = Scheduler(settings, store)
        parser.refresh_dags(force=True)
        dag = parser.dags["bench_scale"]
        parser.shutdown()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "dockyard", "scheduler"],
                env=environ,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(schedulers)
        ]
        try:
            time.sleep(6)  # let them start, parse and read their engines
            started = time.perf_counter()
            run = trigger_run(settings, store, dag)
            while (state := store.get_run("bench_scale", run.run_id).state) not in ("success", "failed"):
                time.sleep(0.1)
            took = time.perf_counter() - started
            tis = store.list_task_instances("bench_scale", run.run_id)
            engines = Counter(ti.engine or "(the task's own)" for ti in tis)
            owners = Counter(ti.queued_by_job_id for ti in tis)
            if len(engines) > 1 or schedulers > 1:
                spread = ", ".join(f"{name}: {count}" for name, count in sorted(engines.items()))
                print(f"                 tasks per engine: {spread}; per scheduler: {sorted(owners.values())}")
            return took, str(state)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=120)
            store.close()


def docker_py(n: int, threads: int, client: docker.DockerClient) -> float:
    def one(_: int) -> None:
        container = client.containers.create(IMAGE, ["echo", "hello"], network_mode="none", labels=LABEL)
        container.start()
        container.wait()
        container.logs()
        container.remove()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - started


def line(name: str, n: int, seconds: float, state: str, extra: str = "") -> None:
    print(f"{name:<16} {n} tasks in {seconds:7.2f} s   {n / seconds:6.2f} tasks/s   run {state}{extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    admin_url = os.environ.get("DOCKYARD_TEST_POSTGRES_URL")
    if not admin_url:
        raise SystemExit('DOCKYARD_TEST_POSTGRES_URL is not set: run eval "$(scripts/start-postgres)" first')
    n, p = args.tasks, args.parallelism
    client = docker.from_env()
    client.containers.run(IMAGE, ["true"], network_mode="none", remove=True)  # warm the engine's caches
    print(f"{n} independent trivial tasks, parallelism {p} in all; metadata in PostgreSQL", flush=True)

    with database(admin_url) as url:
        one, state = run_fanout(n, p, url)
    line("one engine", n, one, state)

    with second_engine(client.api) as other, tempfile.TemporaryDirectory() as tmp:
        engines = Path(tmp) / "engines.toml"
        engines.write_text(
            f'[[engine]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\n\n'
            f'[[engine]]\nname = "second"\nurl = "{other}"\n'
        )
        with database(admin_url) as url:
            two, state = run_fanout(n, p, url, DOCKYARD_ENGINES=str(engines))
    line("two engines", n, two, state, f"   ratio to one engine {one / two:.2f}")

    swarm = swarm_side(n, p, admin_url)
    line("swarm (1 node)", n, swarm[0], swarm[1], f"   ratio to one engine {one / swarm[0]:.2f}")

    with database(admin_url) as url:
        three, state = run_fanout(n, p, url, schedulers=3)
    line("3 schedulers", n, three, state, f"   ratio to one scheduler {one / three:.2f}")
    plain = docker_py(n, p, client)
    line("docker-py", n, plain, "-", f"   ({p} threads, no orchestrator)")
    print(
        f"overhead per task against docker-py: one scheduler {(one - plain) / n * 1000:6.1f} ms, "
        f"three schedulers {(three - plain) / n * 1000:6.1f} ms",
        flush=True,
    )
    client.close()


def swarm_side(n: int, p: int, admin_url: str) -> tuple[float, str]:
    """The fan-out with every try a one-shot service on a one-node swarm (a third engine, in namespaces of its
    own, as the swarm tests make it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/swarm_engine.py
    from tests.swarm_engine import swarm_engine_at

    with tempfile.TemporaryDirectory(prefix="dy-swarm-") as tmp, swarm_engine_at(Path(tmp), "bench") as swarm:
        with database(admin_url) as url:
            return run_fanout(n, p, url, DOCKER_HOST=swarm.url, DOCKYARD_ENGINE_MODE="swarm")


if __name__ == "__main__":
    main()

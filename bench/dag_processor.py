"""The DAG processor's cost on a large folder, measured in one run.

    .venv/bin/python bench/dag_processor.py [--files 1000] [--tasks 10] [--processes 2]

Prints:

- full parse: N generated DAG files (each with T tasks and a daily schedule), each in its own child
  process, through :class:`~dockyard.processor.DagProcessor` into a fresh SQLite store. Target < 20 s for
  1,000 files here.
- in-process parse of the same files (the old way, one interpreter, no isolation), for comparison.
- a refresh with nothing changed (what every scheduler pass pays), and one after a single file changed.
- scheduler memory: a ``dockyard scheduler`` over the folder, RSS of the scheduler process once every DAG is
  stored and a few idle passes have run, and RSS of its fork server beside it. Target < 150 MB (scheduler).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockyard.dagbag import DagBag
from dockyard.processor import DagProcessor
from dockyard.settings import Settings
from dockyard.store import Store

DAG_FILE = """
from datetime import datetime
from dockyard import DAG, DockerOperator, chain
with DAG("bench_{i}", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False,
         default_args={{"image": "dockyard/busybox:latest", "network_mode": "none"}}) as dag:
    chain(*[DockerOperator(task_id=f"t{{n}}", command="echo {{{{ ds }}}} " + str(n)) for n in range({tasks})])
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        folder = Path(tmp) / "dags"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"dag_{i:05d}.py").write_text(DAG_FILE.format(i=i, tasks=args.tasks))
        env = {
            "DOCKYARD_HOME": str(Path(tmp) / "home"),
            "DOCKYARD_DAGS_FOLDER": str(folder),
            "DOCKYARD_DAG_PROCESSOR_PROCESSES": str(args.processes),
        }
        settings = Settings.from_env(env)
        settings.home.mkdir()
        store = Store.open(settings)
        processor = DagProcessor(settings, store)
        started = time.monotonic()
        report = processor.refresh(force=True)
        full = time.monotonic() - started
        assert report is not None and len(report.dags) == args.files, report and report.import_errors
        print(f"full parse, {args.files} files x {args.tasks} tasks, {args.processes} processes: {full:.2f} s")

        started = time.monotonic()
        bag = DagBag.from_folder(folder)
        inline = time.monotonic() - started
        assert len(bag.dags) == args.files
        print(
            f"in-process parse of the same files (no isolation): {inline:.2f} s "
            f"(isolated / in-process {full / inline:.2f})"
        )

        idle = []
        for _ in range(5):
            started = time.monotonic()
            assert processor.refresh() is None
            idle.append(time.monotonic() - started)
        print(f"refresh with nothing changed: median {statistics.median(idle) * 1000:.1f} ms")
        one = folder / "dag_00000.py"
        one.write_text(one.read_text() + "\n# changed\n")
        started = time.monotonic()
        report = processor.refresh()
        assert report is not None and report.parsed == 1
        print(f"refresh after one file changed: {time.monotonic() - started:.2f} s")
        store.close()

        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "scheduler"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            store = Store.open(settings)
            deadline = time.monotonic() + 300
            while len(store.list_dags()) < args.files or store.get_meta("scheduler_heartbeat") is None:
                if time.monotonic() > deadline:
                    raise SystemExit("the scheduler did not store every DAG within 300 s")
                time.sleep(1)
            time.sleep(10)  # a few idle passes
            scheduler_rss = _rss_mb(process.pid)
            helpers = [_rss_mb(pid) for pid in _children(process.pid)]
            print(
                f"scheduler RSS with {args.files} DAGs stored, idle: {scheduler_rss:.0f} MB "
                f"(target < 150 MB); its fork server: {sum(helpers):.0f} MB"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            store.close()


if __name__ == "__main__":
    main()

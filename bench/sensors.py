"""The scheduler's memory with many sensors waiting in reschedule mode.

    .venv/bin/python bench/sensors.py [--sensors 500] [--kind time_delta|python] [--parallelism 16] [--mapped]

Starts ``dockyard scheduler`` on a DAG of N reschedule-mode sensors that will not be satisfied for a long
time, measures its RSS once it is idle with the DAG loaded, triggers a run, waits until every sensor has
poked once and is ``up_for_reschedule``, and measures again. Target: at most 20 MB above idle, with no
thread and no container held for a waiting sensor.

``--kind time_delta`` (the default) uses ``TimeDeltaSensor``, which pokes in the scheduler; ``--kind python``
uses ``PythonSensor``, whose first poke runs in a container of the task image (dockyard/python:latest; slower:
one container per sensor). ``--mapped`` makes them the instances of one mapped sensor
(``.partial(mode="reschedule").expand(...)``), each rescheduled on its own; a mapped ``TimeDeltaSensor``'s
instance learns its ``delta`` in a preparing child process at each poke, as a templated one does.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import docker
from orchestration import scheduler_process

from dockyard.scheduler import trigger_run
from dockyard.store import Store

LABEL = {"dockyard.bench": "sensors"}
TASK_IMAGE = "dockyard/python:latest"
DAG_TEXT = """
from datetime import datetime, timedelta
from airflow import DAG
from airflow.sensors.python import PythonSensor
from airflow.sensors.time_delta import TimeDeltaSensor

CONFIG = {{"image": "{image}", "network_mode": "none", "labels": {labels!r}}}
with DAG("bench_sensors", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks={n},
         default_args={{"executor_config": CONFIG}}) as dag:
    if {mapped} and "{kind}" == "python":
        PythonSensor.partial(task_id="s", python_callable=lambda i: False, mode="reschedule",
                             poke_interval=3600).expand(op_args=[[i] for i in range({n})])
    elif {mapped}:
        TimeDeltaSensor.partial(task_id="s", mode="reschedule", poke_interval=3600).expand(
            delta=[timedelta(days=1, seconds=i) for i in range({n})])
    for i in range(0 if {mapped} else {n}):
        if "{kind}" == "python":
            PythonSensor(task_id=f"s{{i}}", python_callable=lambda: False, mode="reschedule", poke_interval=3600)
        else:
            TimeDeltaSensor(task_id=f"s{{i}}", delta=timedelta(days=1), mode="reschedule", poke_interval=3600)
"""


def _status(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` figure in MB (or a count, for ``Threads``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            value = int(line.split()[1])
            return value if field == "Threads" else value / 1024
    return float("nan")


def _waiting(store: Store, run_id: str) -> int:
    return sum(ti.state == "up_for_reschedule" for ti in store.list_task_instances("bench_sensors", run_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=500)
    parser.add_argument("--kind", choices=("time_delta", "python"), default="time_delta")
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--mapped", action="store_true", help="one mapped sensor with N instances")
    args = parser.parse_args()
    n = args.sensors
    text = DAG_TEXT.format(image=TASK_IMAGE, labels=LABEL, n=n, kind=args.kind, mapped=args.mapped)
    with scheduler_process(text, "bench_sensors", args.parallelism) as (settings, store, dag, pid):
        time.sleep(3)  # loaded and idle
        idle, idle_threads = _status(pid, "VmRSS"), _status(pid, "Threads")
        started = time.perf_counter()
        run = trigger_run(settings, store, dag)
        while (waiting := _waiting(store, run.run_id)) < n:
            if time.perf_counter() - started > 1800:
                raise SystemExit(f"only {waiting} of {n} sensors reached up_for_reschedule in 30 minutes")
            time.sleep(0.5)
        first_pokes = time.perf_counter() - started
        time.sleep(5)  # let the last tries' threads finish and the heap settle
        busy, threads, peak = _status(pid, "VmRSS"), _status(pid, "Threads"), _status(pid, "VmHWM")
        client = docker.APIClient(version="auto")
        containers = client.containers(all=True, filters={"label": "dockyard.bench=sensors"})
        client.close()
    what = f"instances of one mapped {args.kind} sensor" if args.mapped else f"{args.kind} sensors"
    print(f"sensors   {n} {what} in reschedule mode, first pokes of all took {first_pokes:.1f} s")
    print(
        f"memory    scheduler RSS idle {idle:.1f} MB, with {n} sensors waiting {busy:.1f} MB: "
        f"+{busy - idle:.1f} MB (target <= 20 MB); peak {peak:.1f} MB"
    )
    print(
        f"held      threads idle {idle_threads:.0f}, while waiting {threads:.0f}; containers while waiting "
        f"{len(containers)} (target 0)"
    )


if __name__ == "__main__":
    main()

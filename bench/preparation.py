"""What preparing one try costs, with and without preparation workers, interleaved so that the load of a shared
machine falls on both alike.

    .venv/bin/python bench/preparation.py [--tries 40]

Prints the median and the 10th percentile of ``prepare_in_child`` for a ``@task`` of the chain that
``bench/operators.py`` runs: with ``preparation_workers=0`` (every try a fresh child that imports the DAG file)
and with the default (a child forked from a worker that imported it once). No container is started.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from operators import PYTHON_DAG

from dockyard.preparation import TryContext, prepare_in_child
from dockyard.settings import Settings
from dockyard.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        path = dags / "bench_python.py"
        path.write_text(PYTHON_DAG.format(n=50))
        settings = Settings.from_env({"DOCKYARD_HOME": str(Path(tmp) / "home"), "DOCKYARD_DAGS_FOLDER": str(dags)})
        settings.home.mkdir()
        Store.open(settings).close()
        fresh = dataclasses.replace(settings, preparation_workers=0)
        logical = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        context = TryContext("bench_python", "step__1", "manual__bench", logical, fileloc=str(path.resolve()))
        taken: dict[str, list[float]] = {"fresh child per try": [], "worker's child": []}
        prepare_in_child(settings, context)  # the worker's import happens once, as for a chain's first task
        prepare_in_child(fresh, context)
        for _ in range(args.tries):
            for name, chosen in (("fresh child per try", fresh), ("worker's child", settings)):
                started = time.perf_counter()
                prepare_in_child(chosen, context)
                taken[name].append(time.perf_counter() - started)
        for name, seconds in taken.items():
            tenth = statistics.quantiles(seconds, n=10)[0]
            print(f"{name:<20} median {statistics.median(seconds) * 1000:6.1f} ms   p10 {tenth * 1000:6.1f} ms")


if __name__ == "__main__":
    main()

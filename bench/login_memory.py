"""Memory and latency of unauthenticated HTTP Basic bursts against the web server.

Twenty requests at once, half with a wrong password for a real user and half for users that do not exist,
in several rounds. Each argon2 check takes 64 MiB for a moment, so without a bound twenty at once take
over a gigabyte. The server runs in a child process; its peak resident memory (VmHWM) and the requests'
latency are reported for each ``DOCKYARD_PASSWORD_HASH_CONCURRENCY`` given (a large value stands for the
former, unbounded behaviour).

    .venv/bin/python bench/login_memory.py                 # concurrency 64 (unbounded) and 2
    .venv/bin/python bench/login_memory.py --concurrency 1 4 --rounds 10
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

SERVER = """
import sys, uvicorn
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.users import create_user
from dockyard.web import create_app
settings = Settings.from_env()
store = Store.open(settings)
if store.get_user("admin") is None:
    create_user(store, "admin", "admin-pass-1234", "admin")
uvicorn.run(create_app(settings, store), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def measure(concurrency: int, rounds: int, burst: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "DOCKYARD_HOME": str(home),
        "DOCKYARD_PASSWORD_HASH_CONCURRENCY": str(concurrency),
        "DOCKYARD_LOGIN_MAX_FAILURES": "0",
        "DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS": "0",
    }
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
    url = f"http://127.0.0.1:{port}/api/v1/dags"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        requests.get(url, auth=("admin", "admin-pass-1234"), timeout=60)  # warm up: one real login
        before = memory_kib(server.pid, "VmRSS")
        latencies: list[float] = []

        def one(i: int) -> float:
            who = ("admin", f"wrong-{i}") if i % 2 else (f"nobody-{i}", "whatever-123")
            started = time.perf_counter()
            response = requests.get(url, auth=who, timeout=300)
            assert response.status_code == 401, response.status_code
            return time.perf_counter() - started

        with concurrent.futures.ThreadPoolExecutor(max_workers=burst) as pool:
            for _ in range(rounds):
                latencies.extend(pool.map(one, range(burst)))
        ordered = sorted(latencies)
        return {
            "concurrency": concurrency,
            "rss_before_mib": before / 1024,
            "peak_rss_mib": memory_kib(server.pid, "VmHWM") / 1024,
            "p50_s": statistics.median(ordered),
            "p95_s": ordered[int(len(ordered) * 0.95) - 1],
            "requests": len(ordered),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    print(f"{args.rounds} rounds of {args.burst} unauthenticated Basic requests at once")
    print("concurrency  RSS before  peak RSS  p50      p95      requests")
    for concurrency in args.concurrency:
        r = measure(concurrency, args.rounds, args.burst)
        print(
            f"{concurrency:>11}  {r['rss_before_mib']:>7.0f} MiB {r['peak_rss_mib']:>5.0f} MiB"
            f"  {r['p50_s']:.2f} s  {r['p95_s']:.2f} s  {r['requests']:>8}"
        )


if __name__ == "__main__":
    main()

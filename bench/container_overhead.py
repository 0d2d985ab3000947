"""Overhead of dockyard's runtime over plain docker-py, for trivial containers run one after another.

Runs N containers (default 50) of the same image and command both ways, interleaved (one through
dockyard, one through docker-py, ...) so that both see the same machine load, and prints the median
time per container of each way and their ratio. Target: ratio <= 1.10.

    .venv/bin/python bench/container_overhead.py [--runs 50] [--image dockyard/busybox:latest]

dockyard's side is ``DockerRuntime.run`` with the operator's defaults (including Airflow's temporary
directory mount), network none. docker-py's side is what a user writes by hand with the high-level
client: ``containers.create``, ``start``, ``wait``, ``logs``, ``remove``; and the same calls on the
low-level ``APIClient`` (no extra inspect after create), as a stricter baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time

import docker

from dockyard.container import DockerRuntime, build_spec, labels_for

LABEL = {"dockyard.bench": "container_overhead"}


def dockyard_once(runtime: DockerRuntime, image: str) -> float:
    spec = build_spec(
        {"image": image, "command": ["echo", "hello"], "network_mode": "none", "labels": LABEL},
        labels=labels_for("bench", "trivial", "bench", 1),
        default_docker_url="unix:///var/run/docker.sock",
    )
    started = time.perf_counter()
    result = runtime.run(spec, lambda lines: None)
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0 and result.last_line == "hello", result
    return elapsed


def docker_py_once(client: docker.DockerClient, image: str) -> float:
    started = time.perf_counter()
    container = client.containers.create(image, ["echo", "hello"], network_mode="none", labels=LABEL)
    container.start()
    status = container.wait()
    logs = container.logs()
    container.remove()
    elapsed = time.perf_counter() - started
    assert status["StatusCode"] == 0 and logs.strip() == b"hello"
    return elapsed


def api_client_once(api: docker.APIClient, image: str) -> float:
    started = time.perf_counter()
    created = api.create_container(
        image, ["echo", "hello"], labels=LABEL, host_config=api.create_host_config(network_mode="none")
    )
    api.start(created["Id"])
    status = api.wait(created["Id"])
    logs = api.logs(created["Id"])
    api.remove_container(created["Id"])
    elapsed = time.perf_counter() - started
    assert status["StatusCode"] == 0 and logs.strip() == b"hello"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--image", default="dockyard/busybox:latest")
    args = parser.parse_args()
    runtime = DockerRuntime()
    client = docker.from_env()
    api = docker.APIClient(version="auto")
    # Warm up each path once (client version checks, image cache).
    dockyard_once(runtime, args.image)
    docker_py_once(client, args.image)
    api_client_once(api, args.image)
    ours: list[float] = []
    high: list[float] = []
    low: list[float] = []
    for _ in range(args.runs):
        ours.append(dockyard_once(runtime, args.image))
        high.append(docker_py_once(client, args.image))
        low.append(api_client_once(api, args.image))
    m_ours, m_high, m_low = (statistics.median(x) for x in (ours, high, low))
    print(f"containers per way:             {args.runs} (interleaved), image {args.image}")
    print(f"dockyard runtime   median {m_ours * 1000:7.1f} ms   total {sum(ours):6.2f} s")
    print(f"docker-py client   median {m_high * 1000:7.1f} ms   total {sum(high):6.2f} s")
    print(f"docker-py APIClient median {m_low * 1000:6.1f} ms   total {sum(low):6.2f} s")
    print(f"ratio dockyard / docker-py client:    {m_ours / m_high:.3f}   (target <= 1.10)")
    print(f"ratio dockyard / docker-py APIClient: {m_ours / m_low:.3f}")
    runtime.close()
    client.close()
    api.close()


if __name__ == "__main__":
    main()

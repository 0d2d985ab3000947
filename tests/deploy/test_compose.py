"""deploy/compose.yaml on the real engine: PostgreSQL, the migration, the socket proxy, the scheduler and the
web server, from images built here (tests/deploy/images.py), started the documented way (deploy/up).

One test walks through the stack in order (one test, so that parallel test workers never build it twice): a
DAG runs through the proxy and survives a restart of the scheduler's container, the policy refuses a
privileged task, the proxy refuses what dockyard does not use, the image reaches a mounted socket only
through its group, and `down -v` leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from tests.deploy import images
from tests.deploy.common import ROOT, free_port, run, wait_for_http
from tests.helpers import IMAGE, TEST_LABEL, TOKEN, EventCounter

pytestmark = pytest.mark.engine

COMPOSE = ROOT / "deploy" / "compose.yaml"
DAGS = f'''
import datetime as dt
from dockyard import DAG, DockerOperator

ARGS = {{"image": "{IMAGE}", "network_mode": "none", "labels": {{"{TEST_LABEL}": "{TOKEN}"}}, "retries": 0}}
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

with DAG("deploy_check", start_date=START, schedule=None, default_args=ARGS):
    read = DockerOperator(task_id="read", mounts=["{{data}}:/data:ro"], command="cat /data/greeting.txt")
    long = DockerOperator(
        task_id="long",
        command=["sh", "-c", "echo start; touch $AIRFLOW_TMP_DIR/x && echo tmp-ok; sleep 12; echo finished"],
    )
    read >> long

with DAG("deploy_privileged", start_date=START, schedule=None, default_args=ARGS):
    DockerOperator(task_id="root", privileged=True, command="echo should-not-run")
'''


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    base: str
    auth: tuple[str, str]
    image: str

    def compose(self, *args: str, timeout: float = 180) -> str:
        return run(["docker-compose", "-f", str(COMPOSE), *args], env=self.env, timeout=timeout).stdout

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.base}/api/v1{path}", auth=self.auth, timeout=10, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if state["state"] in ("success", "failed"):
                return dict(state)
            time.sleep(0.5)
        raise AssertionError(f"run {dag_id}/{run_id} did not finish in {timeout} s: {state}")

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        return str(self.api("GET", path)["content"])


@pytest.fixture
def built(tmp_path: Path, engine: docker.APIClient) -> Iterator[dict[str, str]]:
    """The three images, built side by side; removed afterwards."""
    workdir = tmp_path / "images"
    workdir.mkdir()
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        dockyard = pool.submit(images.build_dockyard, workdir)
        proxy = pool.submit(images.build_haproxy)
        postgres = pool.submit(images.build_postgres)
        made = {"dockyard": dockyard.result(), "proxy": proxy.result(), "postgres": postgres.result()}
    size = images.image_size_mb(made["dockyard"])
    print(f"\nimages built in {time.monotonic() - started:.0f} s; dockyard image: {size:.0f} MB")
    assert size < 200, f"the dockyard image is {size:.0f} MB; the target is under 200 MB"
    yield made
    images.remove_images(*made.values())


@pytest.fixture
def stack(built: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    root = tmp_path / "stack"
    root.mkdir()
    data = root / "data"
    data.mkdir()
    (data / "greeting.txt").write_text("hello from the host\n")
    dags = root / "dags"
    dags.mkdir()
    (dags / "deploy_dags.py").write_text(DAGS.replace("{data}", str(data)))
    project = f"dytest{TOKEN}"
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "DOCKYARD_IMAGE": built["dockyard"],
        "DOCKYARD_PROXY_IMAGE": built["proxy"],
        "DOCKYARD_POSTGRES_IMAGE": built["postgres"],
        "DOCKYARD_SECRETS_DIR": str(root / "secrets"),
        "DOCKYARD_HOST_TMP_DIR": str(root / "tmp"),
        "DOCKYARD_DAGS_DIR": str(dags),
        "DOCKYARD_WEB_PORT": str(free_port()),
        "DOCKYARD_POLICY_ALLOWED_BIND_PATHS": str(data),
    }
    env.pop("DOCKER_GID", None)  # found by deploy/up from the socket, as for a person
    started = time.monotonic()
    stack = Stack(project, env, f"http://127.0.0.1:{env['DOCKYARD_WEB_PORT']}", ("admin", ""), built["dockyard"])
    try:
        run([str(ROOT / "deploy" / "up"), "--no-build"], env=env, timeout=240)
        env["DOCKER_GID"] = str(os.stat("/var/run/docker.sock").st_gid)
        stack.auth = ("admin", (root / "secrets" / "admin_password").read_text().strip())
        wait_for_http(f"{stack.base}/api/v1/health", timeout=60)
        print(f"stack up in {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        env.setdefault("DOCKER_GID", str(os.stat("/var/run/docker.sock").st_gid))
        run(["docker-compose", "-f", str(COMPOSE), "down", "-v", "--remove-orphans"], env=env, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_the_compose_stack(stack: Stack, engine: docker.APIClient) -> None:
    _a_dag_runs_through_the_proxy_and_survives_a_scheduler_restart(stack, engine)
    _the_policy_refuses_a_privileged_task_before_any_container(stack, engine)
    _the_proxy_lets_through_only_what_dockyard_uses(stack)
    _the_image_reaches_a_mounted_socket_only_through_its_group(stack)
    _down_leaves_nothing_behind(stack, engine)


def _a_dag_runs_through_the_proxy_and_survives_a_scheduler_restart(stack: Stack, engine: docker.APIClient) -> None:
    ours = [f"{TEST_LABEL}={TOKEN}", "dockyard.dag_id=deploy_check"]
    created = EventCounter(None, [*ours, "dockyard.task_id=long"], event="create")  # the engine's own count
    deadline = time.monotonic() + 60
    while not any(d["dag_id"] == "deploy_check" for d in stack.api("GET", "/dags")["dags"]):
        assert time.monotonic() < deadline, stack.compose("logs", "--no-color", "scheduler")
        time.sleep(0.5)
    run_id = stack.api("POST", "/dags/deploy_check/dagRuns", json={})["dag_run_id"]
    # Restart the scheduler's container while `long` runs: its container is left running and re-attached to.
    deadline = time.monotonic() + 60
    while not [c for c in engine.containers(filters={"label": [*ours, "dockyard.task_id=long"]})]:
        assert time.monotonic() < deadline, stack.log("deploy_check", run_id, "read")
        time.sleep(0.3)
    run(["docker", "restart", "-t", "30", stack.container("scheduler")], timeout=60)
    finished = stack.wait_for_run("deploy_check", run_id)
    log = stack.log("deploy_check", run_id, "long")
    assert finished["state"] == "success", log
    assert "Re-attached to container" in log, log + stack.compose("logs", "--no-color", "scheduler")
    for line in ("start", "tmp-ok", "finished"):
        assert line in log
    assert "WARNING" not in log  # the shared host folder was mounted, no fallback
    assert "hello from the host" in stack.log("deploy_check", run_id, "read")
    instances = stack.api("GET", f"/dags/deploy_check/dagRuns/{run_id}/taskInstances")["task_instances"]
    assert {ti["task_id"]: ti["try_number"] for ti in instances} == {"read": 1, "long": 1}
    created.close()
    assert created.count == 1  # nothing ran twice
    assert not engine.containers(all=True, filters={"label": ours})
    health = run(["docker", "inspect", "-f", "{{.State.Health.Status}}", stack.container("scheduler")]).stdout
    assert health.strip() in ("healthy", "starting")


def _the_policy_refuses_a_privileged_task_before_any_container(stack: Stack, engine: docker.APIClient) -> None:
    labels = [f"{TEST_LABEL}={TOKEN}", "dockyard.dag_id=deploy_privileged", "dockyard.task_id=root"]
    created = EventCounter(None, labels, event="create")
    deadline = time.monotonic() + 30
    while not any(d["dag_id"] == "deploy_privileged" for d in stack.api("GET", "/dags")["dags"]):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    run_id = stack.api("POST", "/dags/deploy_privileged/dagRuns", json={})["dag_run_id"]
    assert stack.wait_for_run("deploy_privileged", run_id)["state"] == "failed"
    log = stack.log("deploy_privileged", run_id, "root")
    assert "task 'deploy_privileged.root' asks for privileged=True" in log
    assert "DOCKYARD_POLICY_ALLOW_PRIVILEGED=true" in log
    created.close()
    assert created.count == 0


def _the_proxy_lets_through_only_what_dockyard_uses(stack: Stack) -> None:
    probe = (
        "import sys, urllib.request, urllib.error\n"
        "for method, path in [a.split(' ') for a in sys.argv[1:]]:\n"
        "    request = urllib.request.Request('http://docker-proxy:2375' + path, method=method)\n"
        "    try:\n"
        "        code = urllib.request.urlopen(request, timeout=5).status\n"
        "    except urllib.error.HTTPError as exc:\n"
        "        code = exc.code\n"
        "    print(method, path, code)\n"
    )
    asks = [
        "GET /_ping",
        "GET /v1.41/version",
        "GET /v1.41/swarm",
        "GET /v1.41/plugins",
        "GET /v1.41/nodes",
        "GET /v1.41/secrets",
        "GET /v1.41/system/df",
        "POST /v1.41/containers/prune",
        "POST /v1.41/containers/nope/exec",
        "DELETE /v1.41/images/nope",
        "POST /v1.41/build",
    ]
    out = run(["docker", "exec", stack.container("scheduler"), "python3", "-c", probe, *asks]).stdout
    codes = {" ".join(line.split()[:2]): int(line.split()[2]) for line in out.splitlines()}
    assert codes.pop("GET /_ping") == 200
    assert codes.pop("GET /v1.41/version") == 200
    assert set(codes.values()) == {403}, codes
    # The web server is not on the proxy's network: it cannot reach the Engine API at all.
    reach = run(["docker", "exec", stack.container("webserver"), "python3", "-c", probe, "GET /_ping"], check=False)
    assert reach.returncode != 0 and "200" not in reach.stdout


def _the_image_reaches_a_mounted_socket_only_through_its_group(stack: Stack) -> None:
    gid = os.stat("/var/run/docker.sock").st_gid
    base = ["docker", "run", "--rm", "--network", "none", "--label", f"{TEST_LABEL}={TOKEN}"]
    base += ["-v", "/var/run/docker.sock:/var/run/docker.sock", "-e", "DOCKER_HOST=unix:///var/run/docker.sock"]
    refused = run([*base, stack.image, "scheduler"], check=False, timeout=60)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "may not use the Docker socket /var/run/docker.sock" in refused.stderr
    assert f'group_add: ["{gid}"]' in refused.stderr and "DOCKER_GID" in refused.stderr
    ping = "import docker; print(docker.APIClient().ping(), __import__('os').getuid())"
    allowed = run([*base, "--group-add", str(gid), "--entrypoint", "python3", stack.image, "-c", ping], timeout=60)
    assert allowed.stdout.split() == ["True", "10001"]


def test_up_refuses_a_socket_of_the_root_group(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        os.chown(path, 0, 0)
        env = {**os.environ, "DOCKER_SOCKET": str(path), "DOCKYARD_SECRETS_DIR": str(tmp_path / "s")}
        env.pop("DOCKER_GID", None)
        done = run([str(ROOT / "deploy" / "up")], env=env, check=False)
    assert done.returncode == 1
    assert "belongs to group 0 (root)" in done.stderr and "set DOCKER_GID" in done.stderr
    assert not (tmp_path / "s").exists()


def _down_leaves_nothing_behind(stack: Stack, engine: docker.APIClient) -> None:
    stack.compose("down", "-v", "--remove-orphans")
    label = f"com.docker.compose.project={stack.project}"
    assert not engine.containers(all=True, filters={"label": label})
    assert not engine.volumes(filters={"label": label}).get("Volumes")
    assert not engine.networks(filters={"label": label})
    assert not engine.containers(all=True, filters={"label": ["dockyard.managed=true", f"{TEST_LABEL}={TOKEN}"]})

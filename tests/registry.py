"""A real image registry on loopback for the tests: Debian's docker-registry with htpasswd (bcrypt) auth,
and the same registry fronted by nginx auth_basic for passwords longer than bcrypt's 72 bytes (Google's
``_json_key``). Each holds ``dockyard/busybox:1``, pushed from the local test image."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import pytest

from tests.helpers import IMAGE

LOGIN = "robot"
PASSWORD = "registry-pass-5f2c"
JSON_KEY = json.dumps(
    {
        "type": "service_account",
        "project_id": "dockyard-test",
        "private_key_id": "0" * 40,
        "private_key": "-----BEGIN PRIVATE KEY-----\n" + "A" * 1600 + "\n-----END PRIVATE KEY-----\n",
        "client_email": "ci@dockyard-test.iam.gserviceaccount.com",
        "client_id": "1" * 21,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
)
"""A service-account key of real size (~2 KB): far past bcrypt's 72 bytes."""


@dataclass
class Registry:
    address: str  # 127.0.0.1:PORT with bcrypt htpasswd auth
    json_key_address: str  # 127.0.0.1:PORT behind nginx auth_basic, login _json_key
    image: str  # repository path pushed to both, tag 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # 401: it answers
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer; log:\n{log.read_text()[-2000:]}", pytrace=False)


def _push(engine: docker.APIClient, address: str, login: str, password: str) -> None:
    target = f"{address}/dockyard/busybox"
    engine.tag(IMAGE, target, "1")
    auth = {"username": login, "password": password}
    for event in engine.push(target, tag="1", stream=True, decode=True, auth_config=auth):
        if "error" in event:
            pytest.fail(f"push to {address} failed: {event['error']}", pytrace=False)
    engine.remove_image(f"{target}:1")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, engine: docker.APIClient) -> Iterator[Registry]:
    for program in ("docker-registry", "htpasswd", "nginx"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is missing: apt-get install docker-registry apache2-utils nginx", pytrace=False)
    root = tmp_path_factory.mktemp("registry")
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    try:
        bcrypt = subprocess.run(
            ["htpasswd", "-Bbn", LOGIN, PASSWORD], check=True, capture_output=True, text=True
        ).stdout
        (root / "htpasswd").write_text(bcrypt)
        auth_port, open_port, nginx_port = _free_port(), _free_port(), _free_port()
        for name, port, auth in (("auth", auth_port, True), ("open", open_port, False)):
            lines = [
                "version: 0.1",
                "log:",
                "  level: warn",
                "storage:",
                "  filesystem:",
                f"    rootdirectory: {root / name}",
                "http:",
                f"  addr: 127.0.0.1:{port}",
            ]
            if auth:
                lines += ["auth:", "  htpasswd:", "    realm: dockyard-test", f"    path: {root / 'htpasswd'}"]
            (root / f"{name}.yml").write_text("\n".join(lines) + "\n")
            log = root / f"{name}.log"
            logs.append(log.open("wb"))
            process = subprocess.Popen(
                ["docker-registry", "serve", str(root / f"{name}.yml")], stdout=logs[-1], stderr=subprocess.STDOUT
            )
            processes.append(process)
            _wait_for(f"http://127.0.0.1:{port}/v2/", process, log)
        # htpasswd refuses passwords this long; nginx also reads {SHA} entries, which have no length limit.
        b64 = base64.b64encode(JSON_KEY.encode()).decode()
        entries = "".join(
            f"{user}:{{SHA}}{base64.b64encode(hashlib.sha1(secret.encode()).digest()).decode()}\n"
            for user, secret in (("_json_key", JSON_KEY), ("_json_key_base64", b64))
        )
        (root / "nginx.htpasswd").write_text(entries)
        (root / "nginx.conf").write_text(f"""
daemon off;
user root;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/nginx-body;
    proxy_temp_path {root}/nginx-proxy;
    fastcgi_temp_path {root}/nginx-fastcgi;
    uwsgi_temp_path {root}/nginx-uwsgi;
    scgi_temp_path {root}/nginx-scgi;
    large_client_header_buffers 4 32k;
    server {{
        listen 127.0.0.1:{nginx_port};
        client_max_body_size 0;
        location /v2/ {{
            auth_basic "dockyard-test";
            auth_basic_user_file {root}/nginx.htpasswd;
            add_header Docker-Distribution-Api-Version registry/2.0 always;
            proxy_pass http://127.0.0.1:{open_port};
            proxy_set_header Host $http_host;
            proxy_read_timeout 300;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
""")
        log = root / "nginx.log"
        logs.append(log.open("wb"))
        nginx = subprocess.Popen(
            ["nginx", "-c", str(root / "nginx.conf"), "-p", str(root)], stdout=logs[-1], stderr=subprocess.STDOUT
        )
        processes.append(nginx)
        _wait_for(f"http://127.0.0.1:{nginx_port}/v2/", nginx, log)
        auth_address, nginx_address = f"127.0.0.1:{auth_port}", f"127.0.0.1:{nginx_port}"
        _push(engine, auth_address, LOGIN, PASSWORD)
        _push(engine, nginx_address, "_json_key", JSON_KEY)
        yield Registry(address=auth_address, json_key_address=nginx_address, image="dockyard/busybox")
    finally:
        for address in (auth_address, nginx_address) if "nginx_address" in locals() else ():
            with contextlib.suppress(docker.errors.DockerException):
                engine.remove_image(f"{address}/dockyard/busybox:1", force=True)
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in logs:
            handle.close()

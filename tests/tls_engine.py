"""A second Docker engine that speaks only TLS on 127.0.0.1, with its own data and exec roots, for the
``docker_url``/``tls_*`` tests. Certificates come from openssl: a CA, a server certificate for 127.0.0.1
and localhost, a client certificate, and a second CA that the engine does not trust."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import docker.errors
import docker.tls
import pytest
import requests

from tests.helpers import IMAGE


@dataclass
class TlsEngine:
    url: str
    ca: str
    cert: str
    key: str
    other_ca: str
    client: docker.APIClient
    hidden: str
    """A folder of this machine that the engine cannot see (it has its own empty tmpfs there), like a
    host folder a remote engine has no access to."""

    def options(self, **overrides: object) -> dict[str, object]:
        """The task options that reach this engine with good certificates (``overrides`` replace some)."""
        return {
            "docker_url": self.url,
            "tls_ca_cert": self.ca,
            "tls_client_cert": self.cert,
            "tls_client_key": self.key,
            **overrides,
        }


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    for ca in ("ca", "other-ca"):
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN=dockyard test {ca}",
            "-keyout",
            f"{ca}-key.pem",
            "-out",
            f"{ca}.pem",
            cwd=folder,
        )
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}-key.pem",
            "-out",
            f"{name}.csr",
            cwd=folder,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}-cert.pem",
            cwd=folder,
        )


@pytest.fixture(scope="session")
def tls_engine(tmp_path_factory: pytest.TempPathFactory, engine: docker.APIClient) -> Iterator[TlsEngine]:
    if shutil.which("dockerd") is None or shutil.which("openssl") is None:
        pytest.fail("dockerd and openssl are needed (scripts/start-engine installs docker.io)", pytrace=False)
    root = Path(tempfile_dir := str(tmp_path_factory.mktemp("tls-engine")))
    make_certificates(root)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    log: IO[bytes] = (root / "dockerd.log").open("wb")
    hidden = root / "hidden"
    hidden.mkdir()
    dockerd = [
        "dockerd",
        "--tlsverify",
        f"--tlscacert={root}/ca.pem",
        f"--tlscert={root}/server-cert.pem",
        f"--tlskey={root}/server-key.pem",
        "-H",
        url,
        f"--data-root={root}/data",
        f"--exec-root={root}/exec",
        f"--pidfile={root}/docker.pid",
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
    ]
    # The engine gets a mount namespace of its own with an empty tmpfs over `hidden`: a folder of this
    # machine it cannot see, as a remote engine cannot see this machine's folders.
    process = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"mount -t tmpfs tmpfs {hidden} && exec {' '.join(dockerd)}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client: docker.APIClient | None = None
    try:
        tls = docker.tls.TLSConfig(
            client_cert=(f"{root}/client-cert.pem", f"{root}/client-key.pem"), ca_cert=f"{root}/ca.pem", verify=True
        )
        client = docker.APIClient(base_url=url.replace("tcp://", "https://"), tls=tls, version="1.41")
        client.trust_env = False  # REQUESTS_CA_BUNDLE would replace this engine's CA
        deadline = time.monotonic() + 60
        while True:
            try:
                client.ping()
                break
            except (docker.errors.DockerException, OSError, requests.RequestException):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    pytest.fail(
                        f"the TLS engine did not start:\n{(root / 'dockerd.log').read_text()[-3000:]}", pytrace=False
                    )
                time.sleep(0.5)
        client.load_image(b"".join(engine.get_image(IMAGE)))
        yield TlsEngine(
            url=url,
            ca=f"{root}/ca.pem",
            cert=f"{root}/client-cert.pem",
            key=f"{root}/client-key.pem",
            other_ca=f"{root}/other-ca.pem",
            client=client,
            hidden=str(hidden),
        )
    finally:
        if client is not None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                for container in client.containers(all=True):
                    client.remove_container(container["Id"], force=True, v=True)
            client.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        subprocess.run(["umount", "-R", f"{tempfile_dir}/exec"], capture_output=True)

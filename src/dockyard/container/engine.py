"""Clients for Docker engines: one cached ``APIClient`` per engine configuration.

The only place where a client is built, so that TLS options, timeouts, the connection pool and the
"which of these URLs answers" rule are applied the same way for every task.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import threading
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import requests
from requests.adapters import HTTPAdapter

from dockyard import defaults
from dockyard.container.spec import EngineConfig
from dockyard.errors import ConfigError, EngineUnreachableError

log = logging.getLogger(__name__)
AdapterFactory = Callable[[], HTTPAdapter]

_SSL_VERSIONS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1_1": ssl.TLSVersion.TLSv1_1,
    "tlsv1_2": ssl.TLSVersion.TLSv1_2,
    "tlsv1_3": ssl.TLSVersion.TLSv1_3,
    "protocol_tlsv1": ssl.TLSVersion.TLSv1,
    "protocol_tlsv1_1": ssl.TLSVersion.TLSv1_1,
    "protocol_tlsv1_2": ssl.TLSVersion.TLSv1_2,
}


class _TLSAdapter(HTTPAdapter):
    """Applies ``tls_hostname`` and ``tls_ssl_version``, which docker-py 7 no longer takes itself."""

    def __init__(self, hostname: str | bool | None, minimum: ssl.TLSVersion | None, **kwargs: Any) -> None:
        self._hostname = hostname
        self._minimum = minimum
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._hostname is not None:
            kwargs["assert_hostname"] = self._hostname
        if self._minimum is not None:
            kwargs["ssl_minimum_version"] = self._minimum
        super().init_poolmanager(*args, **kwargs)


class EngineClients:
    """Hands out one shared client per :class:`EngineConfig`, trying its URLs in order."""

    def __init__(self, *, docker_host: str | None = None, max_pool_size: int = defaults.DEFAULT_MAX_POOL_SIZE) -> None:
        self._docker_host = docker_host
        self._max_pool_size = max_pool_size
        self._clients: dict[EngineConfig, docker.APIClient] = {}
        self._lock = threading.Lock()

    def get(self, engine: EngineConfig) -> docker.APIClient:
        with self._lock:
            client = self._clients.get(engine)
            if client is None:
                client = self._clients[engine] = self._connect(engine)
            return client

    def forget(self, engine: EngineConfig) -> None:
        """Drop a cached client, e.g. after its engine stopped answering."""
        with self._lock:
            client = self._clients.pop(engine, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _connect(self, engine: EngineConfig) -> docker.APIClient:
        failures: list[str] = []
        for url in engine.urls:
            if url.startswith("unix://") and not os.path.exists(url[len("unix://") :]):
                failures.append(f"{url}: no such socket (is the engine running on this machine?)")
                continue
            try:
                return self._client(url, engine)
            except ConfigError:
                raise
            except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
                failures.append(f"{url}: {_reason(exc)}")
        host = f"DOCKER_HOST={self._docker_host}" if self._docker_host else "DOCKER_HOST is not set"
        tried = "\n  ".join(failures)
        raise EngineUnreachableError(
            f"no Docker engine answered ({host}). Tried:\n  {tried}\n"
            "Start the engine (scripts/start-engine, or `systemctl start docker`), or point the task's "
            "docker_url or DOCKER_HOST at one that runs."
        )

    def _make(
        self, url: str, version: str, engine: EngineConfig, tls: Any, adapter: AdapterFactory | None
    ) -> docker.APIClient:
        """A client that needs no set-up after it is built (plain sockets, or ``version`` known)."""
        client = docker.APIClient(
            base_url=url, version=version, timeout=int(engine.timeout), tls=tls, max_pool_size=self._max_pool_size
        )
        if tls:
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override the session's CA (the engine's CA here)
            # whenever it reads the environment: the engine's TLS settings must be the only ones that count.
            client.trust_env = False
        if adapter is not None:
            client.mount("https://", adapter())
        return client

    def _client(self, url: str, engine: EngineConfig) -> docker.APIClient:
        tls: docker.tls.TLSConfig | bool = False
        if engine.uses_tls or url.startswith("https://"):
            cert = None
            if engine.tls_client_cert or engine.tls_client_key:
                cert = (engine.tls_client_cert, engine.tls_client_key)
            try:
                tls = docker.tls.TLSConfig(client_cert=cert, ca_cert=engine.tls_ca_cert, verify=engine.tls_verify)
            except docker.errors.TLSParameterError as exc:
                raise ConfigError(
                    f"TLS options for {url} are not usable: {exc}. Give tls_ca_cert, tls_client_cert and "
                    "tls_client_key as paths to existing PEM files"
                ) from exc
            url = url.replace("tcp://", "https://", 1)
        adapter: AdapterFactory | None = None
        if tls and (engine.tls_hostname is not None or engine.tls_ssl_version):
            minimum = None
            if engine.tls_ssl_version:
                minimum = _SSL_VERSIONS.get(engine.tls_ssl_version.lower())
                if minimum is None:
                    raise ConfigError(
                        f"tls_ssl_version={engine.tls_ssl_version!r} is not known; use one of TLSv1_2, TLSv1_3"
                    )
            adapter = functools.partial(_TLSAdapter, engine.tls_hostname, minimum, pool_maxsize=self._max_pool_size)
        version = engine.api_version
        if tls and version is None:
            # docker-py asks the engine for its version while the client is built, before it could be set up
            # (environment ignored, adapter mounted): ask through a probe client that is set up already.
            probe = self._make(url, "1.24", engine, tls, adapter)
            try:
                version = str(probe.version(api_version=False)["ApiVersion"])
            finally:
                probe.close()
        client = self._make(url, version or "auto", engine, tls, adapter)
        if version is not None:
            client.ping()  # an explicit version skips docker-py's own call: check the engine answers
        return client


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Error while fetching server API version: ",):
        text = text.replace(marker, "")
    return text.strip() or type(exc).__name__

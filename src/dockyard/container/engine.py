"""Clients for Docker engines: one cached ``APIClient`` per engine configuration.

The only place where a client is built, so that TLS options, timeouts, the connection pool and the
"which of these URLs answers" rule are applied the same way for every task. Connecting to one engine
never waits for another: each engine has its own gate, and the shared lock only guards the cache.
A client whose engine stopped answering is dropped (see :meth:`EngineClients.errors`), so the next
call connects again, to the first of the engine's URLs that answers then.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import docker
from requests.adapters import HTTPAdapter

from dockyard import defaults
from dockyard.container.engine_errors import engine_errors
from dockyard.container.spec import EngineConfig
from dockyard.errors import ConfigError, EngineError, EngineUnreachableError

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
        self._gates: dict[EngineConfig, threading.Lock] = {}
        self._retired: list[docker.APIClient] = []
        """Dropped clients, closed with the rest in :meth:`close`: another thread may still stream on one."""
        self._lock = threading.Lock()
        """Guards the two dicts above; never held while an engine is asked anything."""

    def get(self, engine: EngineConfig) -> docker.APIClient:
        """The engine's client, connected on first use. Threads asking for the same new engine wait for
        one connection attempt; threads asking for other engines do not wait at all."""
        with self._lock:
            client = self._clients.get(engine)
            if client is not None:
                return client
            gate = self._gates.setdefault(engine, threading.Lock())
        with gate:
            with self._lock:
                client = self._clients.get(engine)
            if client is None:
                client = self._connect(engine)
                with self._lock:
                    self._clients[engine] = client
            return client

    def forget(self, engine: EngineConfig, client: docker.APIClient | None = None) -> None:
        """Drop the engine's cached client (only if it is still ``client``, when given): the next call
        connects again."""
        with self._lock:
            cached = self._clients.get(engine)
            if cached is not None and (client is None or cached is client):
                del self._clients[engine]
                self._retired.append(cached)

    @contextmanager
    def errors(self, engine: EngineConfig, failure: str, *, secrets: Iterable[str] = ()) -> Iterator[None]:
        """:func:`~dockyard.container.engine_errors.engine_errors` for a call to ``engine``; when the engine
        stopped answering, its client is dropped so that the next call reconnects."""
        with self._lock:
            client = self._clients.get(engine)
        try:
            with engine_errors(failure, secrets=secrets):
                yield
        except EngineUnreachableError:
            self.forget(engine, client)
            raise

    def close(self) -> None:
        with self._lock:
            clients = [*self._clients.values(), *self._retired]
            self._clients, self._retired = {}, []
        for client in clients:
            client.close()

    def _connect(self, engine: EngineConfig) -> docker.APIClient:
        failures: list[str] = []
        for url in engine.urls:
            if url.startswith("unix://") and not os.path.exists(url[len("unix://") :]):
                failures.append(f"{url}: no such socket (is the engine running on this machine?)")
                continue
            try:
                with engine_errors(url):
                    return self._client(url, engine)
            except ConfigError:
                raise
            except (EngineError, OSError) as exc:
                failures.append(str(exc).replace("Error while fetching server API version: ", ""))
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
            tls = docker.tls.TLSConfig(client_cert=cert, ca_cert=engine.tls_ca_cert, verify=engine.tls_verify)
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

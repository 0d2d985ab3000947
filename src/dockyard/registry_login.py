"""The real test of a docker connection: the engine the tasks use logs in to the connection's registry.

A task with ``docker_conn_id`` pulls its image after the engine's ``/auth`` call with the connection's login
and password (:meth:`DockerRuntime._registry_auth <dockyard.container.runtime.DockerRuntime>`); this test makes
that same call, so what it reports is what a task would meet: a wrong password (the registry refuses the
login), a host that does not resolve or a registry that does not answer (the engine cannot reach it), an
engine that is down. ``dockyard connections test`` runs it in its own process; a scheduler runs it for the web
server (:mod:`dockyard.connection_requests`). No message holds the password or another secret of the connection.

Example::

    result = check_docker_login(conn, EngineClients(), settings.default_docker_url)
    result.ok, result.message   # (False, "registry 127.0.0.1:5000 refused the login of 'robot' ...")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard import defaults
from dockyard.connections import Connection, parse_bool
from dockyard.errors import DockyardError, EngineError, EngineTimeoutError, EngineUnreachableError

if TYPE_CHECKING:
    from dockyard.container.engine import EngineClients
    from dockyard.container.spec import EngineConfig

ENGINE_KEYS = ("docker_url", "api_version", "tls_")
"""The extra keys of a docker connection that choose the engine (as they do for a task using it)."""

REFUSED = (401, 403)
"""The statuses of a registry that answered and refused the login; any other failure of ``/auth`` is the
engine not reaching the registry (an unknown host, a closed port, TLS)."""

REGISTRY_STATUS = re.compile(r"failed with status: (\d{3})\b")
"""Where an engine before API 1.42 (Docker 20.10) puts the registry's own status: it answers a refused login
with 500 and the text ``login attempt to http://host/v2/ failed with status: 401 Unauthorized``. The one place
a message is read: that engine gives the registry's answer nowhere else; newer engines answer 401 themselves."""


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a test: ``message`` says what was tested and, on a failure, what to change."""

    ok: bool
    message: str
    tested: bool = True
    """False when no test could be made (no scheduler answered the web server): ``ok`` is then False too."""

    @property
    def sentence(self) -> str:
        """The message as a sentence of its own (it follows "... is well-formed." in the UI and the API)."""
        return self.message[:1].upper() + self.message[1:]


def check_docker_login(
    conn: Connection,
    clients: EngineClients,
    default_docker_url: str,
    *,
    timeout: float = defaults.DEFAULT_CONNECTION_TEST_LOGIN_SECONDS,
) -> LoginResult:
    """Log in to ``conn``'s registry with the engine a task using it would run on (the connection's
    ``docker_url``, else ``default_docker_url``); every problem is a failed result, never an exception."""
    if (conn.conn_type or "").lower() != "docker":
        return LoginResult(
            False,
            f"connection {conn.conn_id!r} is of type {conn.conn_type!r}: dockyard tests docker connections only "
            "(a registry login with the engine), the only kind its tasks use",
        )
    try:
        return _login(conn, clients, default_docker_url, timeout)
    except DockyardError as exc:  # a malformed extra, TLS files that cannot be read, ...
        return LoginResult(False, _masked(str(exc), conn))


def _login(conn: Connection, clients: EngineClients, default_docker_url: str, timeout: float) -> LoginResult:
    from dockyard.container.spec import engine_config  # the container runtime loads with the first test

    extra = conn.extra_dejson
    chosen = {k: v for k, v in extra.items() if k.startswith(ENGINE_KEYS)}
    engine = engine_config({**chosen, "timeout": timeout}, default_docker_url)
    where = _engine_name(engine)
    with clients.errors(engine, f"the engine at {where} did not answer"):
        client = clients.get(engine)
        client.ping()
    if not conn.host:
        if extra.get("docker_url"):
            return LoginResult(True, f"The engine at {where} answers; the connection names no registry to log in to.")
        return LoginResult(
            False,
            f"connection {conn.conn_id!r} has no host: set it to the registry (e.g. registry.example.com:5000), "
            "or set docker_url in extra for a connection that only names an engine",
        )
    registry = f"{conn.host}:{conn.port}" if conn.port else conn.host
    if not conn.login:
        return LoginResult(
            False,
            f"connection {conn.conn_id!r} has no login for registry {registry}: set the login (for Google's "
            "registries _json_key, with the service account's key file as the password)",
        )
    reauth = parse_bool(f"connection {conn.conn_id!r} extra reauth", extra.get("reauth"), True)
    try:
        with clients.errors(engine, f"login to registry {registry} as {conn.login!r}", secrets=conn.secrets()):
            client.login(
                username=conn.login,
                password=conn.password or "",
                email=extra.get("email"),
                registry=registry,
                reauth=reauth,
            )
    except EngineError as exc:
        return LoginResult(False, _masked(_login_failure(conn, registry, where, exc), conn))
    return LoginResult(
        True,
        f"Logged in to registry {registry} as {conn.login!r} with the engine at {where}: "
        f"tasks with docker_conn_id={conn.conn_id!r} can pull from it.",
    )


def _login_failure(conn: Connection, registry: str, where: str, exc: EngineError) -> str:
    """What failed, by the kind of error and the engine's status (its own words follow as the reason)."""
    if isinstance(exc, EngineUnreachableError):
        return f"{exc}. Start the engine, or point the connection's docker_url at one that runs"
    if isinstance(exc, EngineTimeoutError):
        return (
            f"{exc}. The registry {registry} did not answer the engine at {where} in time: check the host and port, "
            "and that the engine's network reaches the registry"
        )
    if _registry_status(exc) in REFUSED:
        return (
            f"registry {registry} refused the login of {conn.login!r} (connection {conn.conn_id!r}): {exc}. "
            "Check the login and password (for Google's registries the login is _json_key and the password "
            "the service account's JSON key)"
        )
    return (
        f"the engine at {where} could not reach registry {registry} to log in (connection {conn.conn_id!r}): "
        f"{exc}. Check the host and port (e.g. registry.example.com:5000), that the registry runs, and that the "
        "engine's network and DNS reach it"
    )


def _registry_status(exc: EngineError) -> int | None:
    """The registry's status for a failed login: the engine's, or the one an older engine quotes."""
    if exc.status in REFUSED:
        return exc.status
    quoted = REGISTRY_STATUS.search(str(exc))
    return int(quoted.group(1)) if quoted else exc.status


def _engine_name(engine: EngineConfig) -> str:
    return " or ".join(engine.urls) or "DOCKER_HOST"


def _masked(text: str, conn: Connection) -> str:
    """``text`` with every secret of the connection as ``***`` (the engine may quote what it was sent)."""
    for secret in conn.secrets():
        if secret:
            text = text.replace(secret, defaults.MASK)
    return text


__all__ = ["LoginResult", "check_docker_login"]

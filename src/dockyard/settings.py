"""dockyard's configuration: one frozen :class:`Settings`, built from the environment in one place.

Nothing else in dockyard reads ``os.environ``; code that needs a setting is handed a ``Settings``.

Example::

    settings = Settings.from_env()          # DOCKYARD_HOME=/srv/dockyard ...
    settings.logs_folder                    # PosixPath('/srv/dockyard/logs')
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import defaults
from dockyard.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """Everything dockyard can be configured with, and where each value came from."""

    home: Path
    """``DOCKYARD_HOME``: where logs (and later the database) live."""

    dags_folder: Path
    """``DOCKYARD_DAGS_FOLDER``: where DAG files are looked up by ``dag_id``."""

    docker_host: str | None = None
    """``DOCKER_HOST``: the engine used when a task names none."""

    database_url: str = ""
    """``DOCKYARD_DATABASE_URL``: the metadata database (default: SQLite file ``$DOCKYARD_HOME/dockyard.db``)."""

    parallelism: int = defaults.DEFAULT_PARALLELISM
    """``DOCKYARD_PARALLELISM``: task tries running at once (each waits in a thread, not a process)."""

    scheduler_health_check_threshold: int = defaults.DEFAULT_SCHEDULER_HEALTH_SECONDS
    """``DOCKYARD_SCHEDULER_HEALTH_CHECK_THRESHOLD``: seconds without a heartbeat after which a scheduler counts
    as dead (unhealthy in ``/health``; on PostgreSQL, another scheduler takes its runs and tries over)."""

    fernet_key: str | None = None
    """``DOCKYARD_FERNET_KEY``: encrypts connection secrets at rest (default: ``$DOCKYARD_HOME/fernet.key``)."""

    docker_config: Path | None = None
    """``DOCKER_CONFIG``: the folder of the Docker CLI's ``config.json`` (default ``~/.docker``)."""

    secret_key: str | None = None
    """``DOCKYARD_SECRET_KEY``: signs web sessions (default: a key created once in ``$DOCKYARD_HOME``)."""

    web_host: str = "127.0.0.1"
    """``DOCKYARD_WEB_HOST``: where the web server listens."""

    web_port: int = 8080
    """``DOCKYARD_WEB_PORT``."""

    stop_grace_seconds: int = defaults.DEFAULT_STOP_GRACE_SECONDS
    """``DOCKYARD_STOP_GRACE_SECONDS``: between SIGTERM and SIGKILL when dockyard stops a container."""

    engine_env: Mapping[str, str] = field(default_factory=dict)
    """Process environment handed to templates and to connections by environment variable."""

    dag_file_processor_timeout: int = defaults.DEFAULT_DAG_FILE_PROCESSOR_TIMEOUT
    """``DOCKYARD_DAG_FILE_PROCESSOR_TIMEOUT``: seconds one DAG file may take to import (then it is an import error)."""

    dag_processor_processes: int = defaults.DEFAULT_DAG_PROCESSOR_PROCESSES
    """``DOCKYARD_DAG_PROCESSOR_PROCESSES``: DAG files parsed at once, each in its own child process."""

    dag_file_memory_mb: int = defaults.DEFAULT_DAG_FILE_MEMORY_MB
    """``DOCKYARD_DAG_FILE_MEMORY_MB``: memory one DAG file's import may use (then it is an import error)."""

    preparation_workers: int = defaults.DEFAULT_PREPARATION_WORKERS
    """``DOCKYARD_PREPARATION_WORKERS``: idle workers kept that hold a DAG file imported for the tries that
    follow (0: every try imports its DAG file in a child of its own)."""

    preparation_worker_idle_seconds: int = defaults.DEFAULT_PREPARATION_WORKER_IDLE_SECONDS
    """``DOCKYARD_PREPARATION_WORKER_IDLE_SECONDS``: a preparation worker unused for this long is stopped."""

    example_dags_folder: Path | None = None
    """The example DAGs shipped with dockyard (used by ``standalone`` when no DAG folder exists)."""

    policy_allow_privileged: bool = True
    """``DOCKYARD_POLICY_ALLOW_PRIVILEGED``: whether a task may run ``privileged=True``."""

    policy_allow_host_namespaces: bool = True
    """``DOCKYARD_POLICY_ALLOW_HOST_NAMESPACES``: whether a task may use the host's network, PID or IPC namespace."""

    policy_allowed_capabilities: tuple[str, ...] | None = None
    """``DOCKYARD_POLICY_ALLOWED_CAPABILITIES``: capabilities ``cap_add`` may name (``None``: any; empty: none)."""

    policy_allow_devices: bool = True
    """``DOCKYARD_POLICY_ALLOW_DEVICES``: whether a task may ask for host devices or ``device_requests`` (GPUs)."""

    policy_allowed_bind_paths: tuple[str, ...] | None = None
    """``DOCKYARD_POLICY_ALLOWED_BIND_PATHS``: host folders a task may bind-mount (``None``: any; empty: none)."""

    host_tmp_dir: str | None = None
    """``DOCKYARD_HOST_TMP_DIR``: where ``mount_tmp_dir`` folders are made; in a container, a host folder
    mounted at the same path, so that the engine finds it on the host."""

    admin_username: str | None = None
    """``DOCKYARD_ADMIN_USERNAME``: an admin user ``db migrate`` creates once (with ``DOCKYARD_ADMIN_PASSWORD``)."""

    admin_password: str | None = field(default=None, repr=False)
    """``DOCKYARD_ADMIN_PASSWORD`` (or ``DOCKYARD_ADMIN_PASSWORD_FILE``): that user's first password."""

    base_url: str = ""
    """``DOCKYARD_BASE_URL``: the address people use to reach the web UI (Airflow's ``[webserver] base_url``)."""

    secure_cookies: bool = False
    """``DOCKYARD_SECURE_COOKIES``: send the session cookie only over HTTPS (default: on when
    ``DOCKYARD_BASE_URL`` starts with ``https://``)."""

    api_token_expire_days: int = defaults.DEFAULT_API_TOKEN_EXPIRE_DAYS
    """``DOCKYARD_API_TOKEN_EXPIRE_DAYS``: the lifetime of a new API token (0: tokens never expire)."""

    login_max_failures: int = defaults.DEFAULT_LOGIN_MAX_FAILURES
    """``DOCKYARD_LOGIN_MAX_FAILURES``: failed logins of one account per window before 429 (0: no limit)."""

    login_max_failures_per_address: int = defaults.DEFAULT_LOGIN_MAX_FAILURES_PER_ADDRESS
    """``DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS``: failed logins from one address per window before 429."""

    login_lockout_seconds: int = defaults.DEFAULT_LOGIN_LOCKOUT_SECONDS
    """``DOCKYARD_LOGIN_LOCKOUT_SECONDS``: the window failures are counted over, and the wait after it."""

    password_hash_concurrency: int = defaults.DEFAULT_PASSWORD_HASH_CONCURRENCY
    """``DOCKYARD_PASSWORD_HASH_CONCURRENCY``: password checks at once (each takes 64 MiB for a moment)."""

    max_request_bytes: int = defaults.DEFAULT_MAX_REQUEST_BYTES
    """``DOCKYARD_MAX_REQUEST_BYTES``: a larger request body answers 413."""

    max_json_depth: int = defaults.DEFAULT_MAX_JSON_DEPTH
    """``DOCKYARD_MAX_JSON_DEPTH``: a JSON body nested deeper answers 400."""

    host_dags_folder: str | None = None
    """``DOCKYARD_HOST_DAGS_FOLDER``: the DAG folder's path on the engine's host, when dockyard runs in a container
    that sees it elsewhere (Python tasks bind-mount it; default: ``dags_folder`` itself)."""

    task_image: str = defaults.DEFAULT_TASK_IMAGE
    """``DOCKYARD_TASK_IMAGE``: the image Bash and Python tasks run in unless their ``executor_config`` names one."""

    fault_kill_at: str | None = None
    """``DOCKYARD_FAULT_KILL_AT``: test-only; the step of a try at which the process kills itself
    (:mod:`dockyard.faults`). Never set outside the fault tests."""

    engines_file: Path | None = None
    """``DOCKYARD_ENGINES``: a TOML file listing the engine pool (:mod:`dockyard.container.pool`); unset: one
    engine, ``default``, at ``DOCKER_HOST`` or the local socket."""

    engine_mode: str = defaults.DEFAULT_ENGINE_MODE
    """``DOCKYARD_ENGINE_MODE``: ``container`` or ``swarm`` (every container task on the default engine runs as a
    one-shot Docker Swarm service; the engine must be a swarm manager)."""

    def with_dags_folder(self, folder: Path) -> Settings:
        return dataclasses.replace(self, dags_folder=folder)

    @property
    def logs_folder(self) -> Path:
        return self.home / "logs"

    @property
    def default_docker_url(self) -> str:
        return self.docker_host or defaults.DEFAULT_DOCKER_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        env = dict(os.environ if environ is None else environ)
        home_raw = env.get("DOCKYARD_HOME") or defaults.DEFAULT_HOME
        home = Path(home_raw).expanduser()
        if not home.is_absolute():
            home = Path.cwd() / home
        if home.exists() and not home.is_dir():
            raise ConfigError(f"DOCKYARD_HOME={home_raw!r} is a file; point it at a folder (it is created if missing)")
        dags_raw = env.get("DOCKYARD_DAGS_FOLDER")
        dags_folder = Path(dags_raw).expanduser() if dags_raw else home / "dags"
        grace = _whole_number(env, "DOCKYARD_STOP_GRACE_SECONDS", defaults.DEFAULT_STOP_GRACE_SECONDS, minimum=0)
        parallelism = _whole_number(env, "DOCKYARD_PARALLELISM", defaults.DEFAULT_PARALLELISM, minimum=1)
        database_url = _secret(env, "DOCKYARD_DATABASE_URL") or f"sqlite:///{home / 'dockyard.db'}"
        _check_driver(database_url)
        base_url = (env.get("DOCKYARD_BASE_URL") or "").rstrip("/")
        return cls(
            dag_file_processor_timeout=_whole_number(
                env, "DOCKYARD_DAG_FILE_PROCESSOR_TIMEOUT", defaults.DEFAULT_DAG_FILE_PROCESSOR_TIMEOUT, minimum=1
            ),
            dag_processor_processes=_whole_number(
                env, "DOCKYARD_DAG_PROCESSOR_PROCESSES", defaults.DEFAULT_DAG_PROCESSOR_PROCESSES, minimum=1
            ),
            dag_file_memory_mb=_whole_number(
                env, "DOCKYARD_DAG_FILE_MEMORY_MB", defaults.DEFAULT_DAG_FILE_MEMORY_MB, minimum=64
            ),
            preparation_workers=_whole_number(
                env, "DOCKYARD_PREPARATION_WORKERS", defaults.DEFAULT_PREPARATION_WORKERS, minimum=0
            ),
            preparation_worker_idle_seconds=_whole_number(
                env,
                "DOCKYARD_PREPARATION_WORKER_IDLE_SECONDS",
                defaults.DEFAULT_PREPARATION_WORKER_IDLE_SECONDS,
                minimum=1,
            ),
            base_url=base_url,
            secure_cookies=_flag(env, "DOCKYARD_SECURE_COOKIES", base_url.lower().startswith("https://")),
            api_token_expire_days=_whole_number(
                env, "DOCKYARD_API_TOKEN_EXPIRE_DAYS", defaults.DEFAULT_API_TOKEN_EXPIRE_DAYS, minimum=0
            ),
            login_max_failures=_whole_number(
                env, "DOCKYARD_LOGIN_MAX_FAILURES", defaults.DEFAULT_LOGIN_MAX_FAILURES, minimum=0
            ),
            login_max_failures_per_address=_whole_number(
                env,
                "DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS",
                defaults.DEFAULT_LOGIN_MAX_FAILURES_PER_ADDRESS,
                minimum=0,
            ),
            login_lockout_seconds=_whole_number(
                env, "DOCKYARD_LOGIN_LOCKOUT_SECONDS", defaults.DEFAULT_LOGIN_LOCKOUT_SECONDS, minimum=1
            ),
            password_hash_concurrency=_whole_number(
                env, "DOCKYARD_PASSWORD_HASH_CONCURRENCY", defaults.DEFAULT_PASSWORD_HASH_CONCURRENCY, minimum=1
            ),
            max_request_bytes=_whole_number(
                env, "DOCKYARD_MAX_REQUEST_BYTES", defaults.DEFAULT_MAX_REQUEST_BYTES, minimum=1024
            ),
            max_json_depth=_whole_number(env, "DOCKYARD_MAX_JSON_DEPTH", defaults.DEFAULT_MAX_JSON_DEPTH, minimum=2),
            example_dags_folder=_example_dags(),
            home=home,
            database_url=database_url,
            parallelism=parallelism,
            scheduler_health_check_threshold=_whole_number(
                env,
                "DOCKYARD_SCHEDULER_HEALTH_CHECK_THRESHOLD",
                defaults.DEFAULT_SCHEDULER_HEALTH_SECONDS,
                minimum=1,
            ),
            stop_grace_seconds=grace,
            fernet_key=_secret(env, "DOCKYARD_FERNET_KEY"),
            secret_key=_secret(env, "DOCKYARD_SECRET_KEY"),
            web_host=env.get("DOCKYARD_WEB_HOST") or "127.0.0.1",
            web_port=_whole_number(env, "DOCKYARD_WEB_PORT", 8080, minimum=1),
            docker_config=Path(env["DOCKER_CONFIG"]).expanduser()
            if env.get("DOCKER_CONFIG")
            else Path.home() / ".docker",
            dags_folder=dags_folder,
            docker_host=env.get("DOCKER_HOST") or None,
            engine_env={k: v for k, v in env.items() if k.startswith(("DOCKYARD_", "AIRFLOW_"))},
            policy_allow_privileged=_flag(env, "DOCKYARD_POLICY_ALLOW_PRIVILEGED"),
            policy_allow_host_namespaces=_flag(env, "DOCKYARD_POLICY_ALLOW_HOST_NAMESPACES"),
            policy_allowed_capabilities=_allow_list(env, "DOCKYARD_POLICY_ALLOWED_CAPABILITIES"),
            policy_allow_devices=_flag(env, "DOCKYARD_POLICY_ALLOW_DEVICES"),
            policy_allowed_bind_paths=_host_paths(env, "DOCKYARD_POLICY_ALLOWED_BIND_PATHS"),
            host_tmp_dir=_host_path(env, "DOCKYARD_HOST_TMP_DIR"),
            admin_username=env.get("DOCKYARD_ADMIN_USERNAME") or None,
            admin_password=_secret(env, "DOCKYARD_ADMIN_PASSWORD"),
            task_image=env.get("DOCKYARD_TASK_IMAGE", "").strip() or defaults.DEFAULT_TASK_IMAGE,
            host_dags_folder=_host_path(env, "DOCKYARD_HOST_DAGS_FOLDER"),
            fault_kill_at=_fault_point(env),
            engines_file=_engines_file(env),
            engine_mode=_engine_mode(env),
        )


def _whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} is not a whole number of {minimum} or more")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str, default: bool = True) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in _TRUE + _FALSE:
        return raw.lower() in _TRUE
    raise ConfigError(f"{name}={raw!r} is not true or false (1/0, yes/no and on/off are accepted too)")


def _allow_list(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """A comma-separated list; unset or ``*`` allows anything, an empty value (``NAME=``) nothing."""
    if name not in env:
        return None
    items = tuple(item.strip() for item in env[name].split(",") if item.strip())
    return None if items == ("*",) else items


def _host_path(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if raw and not raw.startswith("/"):
        raise ConfigError(f"{name}={raw!r} must be an absolute path on the engine's host, like /srv/dockyard/data")
    return raw or None


def _host_paths(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    paths = _allow_list(env, name)
    for path in paths or ():
        _host_path({name: path}, name)
    return paths


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """``NAME``, or the content of the file ``NAME_FILE`` names (a Docker or compose secret), stripped."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path!r} cannot be read ({exc.strerror}); point it at a readable file") from exc
    if not value:
        raise ConfigError(f"{name}_FILE={path!r} is empty; put the secret in it")
    return value


def _fault_point(env: Mapping[str, str]) -> str | None:
    """``DOCKYARD_FAULT_KILL_AT`` (test-only): one of :data:`dockyard.faults.KILL_POINTS`, or unset."""
    from dockyard.faults import KILL_POINTS

    raw = env.get("DOCKYARD_FAULT_KILL_AT", "").strip()
    if raw and raw not in KILL_POINTS:
        raise ConfigError(f"DOCKYARD_FAULT_KILL_AT={raw!r} is not a step of a try; use one of {', '.join(KILL_POINTS)}")
    return raw or None


def _engines_file(env: Mapping[str, str]) -> Path | None:
    """``DOCKYARD_ENGINES``: the engine pool's TOML file (read when the pool is loaded); it must exist."""
    raw = env.get("DOCKYARD_ENGINES", "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"DOCKYARD_ENGINES={raw!r} is not a file; point it at a TOML file of [[engine]] tables")
    return path


def _engine_mode(env: Mapping[str, str]) -> str:
    """``DOCKYARD_ENGINE_MODE``: how tasks run on the default engine, ``container`` or ``swarm``."""
    raw = env.get("DOCKYARD_ENGINE_MODE", "").strip().lower() or defaults.DEFAULT_ENGINE_MODE
    if raw not in ("container", "swarm"):
        raise ConfigError(
            f"DOCKYARD_ENGINE_MODE={env['DOCKYARD_ENGINE_MODE']!r} is not known; use 'container' (each task a "
            "container) or 'swarm' (each task a one-shot Docker Swarm service)"
        )
    return raw


def _check_driver(database_url: str) -> None:
    """PostgreSQL needs the ``postgres`` extra; say so here rather than with SQLAlchemy's import error."""
    if database_url.startswith("postgresql") and importlib.util.find_spec("psycopg") is None:
        raise ConfigError(
            "DOCKYARD_DATABASE_URL names a PostgreSQL database, but psycopg is not installed: "
            "install dockyard with its postgres extra (pip install 'dockyard[postgres]')"
        )


def _example_dags() -> Path | None:
    """``examples/dags`` of a source checkout, or the copy a wheel carries as ``dockyard/example_dags``."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "example_dags", package.parents[1] / "examples" / "dags"):
        if candidate.is_dir():
            return candidate
    return None

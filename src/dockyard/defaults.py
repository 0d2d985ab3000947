"""Every default value of dockyard, each named and explained in one place.

Settings read the environment (see :mod:`dockyard.settings`); when a variable is not set, the value
here applies. Operator defaults that mirror Airflow's live beside their operator's signature.
"""

from __future__ import annotations

DEFAULT_HOME = "~/dockyard"
"""Where dockyard keeps its files (task logs, later the database) unless ``DOCKYARD_HOME`` is set."""

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
"""The engine used when neither the task's ``docker_url`` nor ``DOCKER_HOST`` names one."""

DEFAULT_DOCKER_TIMEOUT = 60
"""Seconds an Engine API call may take before it fails (Airflow's ``DockerOperator(timeout=60)``)."""

DEFAULT_TMP_DIR = "/tmp/airflow"
"""Where the host's temporary directory is mounted inside the container (Airflow's ``tmp_dir``)."""

DEFAULT_AUTO_REMOVE = "success"
"""Remove a container once its exit code, output and XCom are collected, if it succeeded.

Airflow's default is ``"never"``, which leaves one dead container per task try on the engine; the task
log outlives the container here, so nothing is lost by removing it.
"""

DEFAULT_PARALLELISM = 16
"""Task tries that run at once. A waiting container costs one thread, so hundreds are cheap."""

DEFAULT_SCHEDULER_HEARTBEAT_SECONDS = 2.0
DEFAULT_CREATED_GRACE_SECONDS = 2.0
"""How long a takeover waits for a container left "created" to be started by a start already under way."""
"""The longest the scheduler sleeps when nothing wakes it (a finished task or a trigger wakes it at once)."""

DEFAULT_SCHEDULER_HEALTHY_SECONDS = 60
"""How old the scheduler's heartbeat may be before ``dockyard scheduler --health-check`` calls it unhealthy."""

DEFAULT_DAG_FOLDER_SCAN_SECONDS = 2.0
"""How often the scheduler looks for changed DAG files."""

DEFAULT_POOL_SLOTS = 128
"""Slots of ``default_pool``, which every task uses unless it names another pool."""

DEFAULT_STOP_GRACE_SECONDS = 10
"""Seconds a container gets between SIGTERM and SIGKILL when dockyard stops it."""

DEFAULT_USAGE_SAMPLE_SECONDS = 1.0
"""How often the runtime reads a running container's stats for its peak memory and CPU time (the engine's own
collection period: sampling faster sees nothing new)."""

DEFAULT_ERROR_TAIL_LINES = 20
"""How many of the last output lines a failed task's error message carries."""

DEFAULT_MIN_SECRET_LENGTH = 3
"""Secrets shorter than this are not masked: masking ``"1"`` would turn every digit of a log into ``***``."""

DEFAULT_MAX_POOL_SIZE = 64
"""HTTP connections kept open to one engine; each running task holds one while it streams its log."""

DEFAULT_LOG_FLUSH_SECONDS = 0.5
"""How long a task log line may sit in a buffer before it reaches the log file."""

MASK = "***"
"""What a secret is replaced by wherever a person could read it."""

DEFAULT_DAG_FILE_PROCESSOR_TIMEOUT = 30
"""Seconds one DAG file may take to import before it is stopped and reported (Airflow's
``dagbag_import_timeout``)."""

DEFAULT_DAG_PROCESSOR_PROCESSES = 2
"""DAG files parsed at once, each in a child process of its own (Airflow's ``parsing_processes``)."""

DEFAULT_DAG_FILE_MEMORY_MB = 1024
"""Address space one DAG file's import may use before it fails as an import error."""

DEFAULT_PREPARATION_WORKERS = 8
"""Idle preparation workers kept (each holds one DAG file imported, so a try does not import it again); 0 gives
every try a child of its own that imports the file."""

DEFAULT_PREPARATION_WORKER_IDLE_SECONDS = 300
"""A preparation worker unused for this long is stopped: it frees its memory, and the next try imports the file
again (so a helper module's change is seen at the latest then)."""

DEFAULT_SCHEDULER_HEALTH_SECONDS = 30
"""A scheduler whose last successful pass is older than this is reported unhealthy."""

DEFAULT_DAG_PROCESSOR_BATCH = 50
"""DAG files one parsing child imports one after another (a child per file would cost a fork each)."""

DEFAULT_IDLE_DAG_RECHECK_SECONDS = 60
"""How long the scheduler waits before it looks again at a DAG whose timetable says a run is due but gives no
interval (a timetable that ends, for example)."""

DEFAULT_API_TOKEN_EXPIRE_DAYS = 90
"""How long an API token made by ``dockyard users token`` lives unless ``--expires`` says otherwise."""

DEFAULT_LOGIN_MAX_FAILURES = 5
"""Failed logins of one account within ``DEFAULT_LOGIN_LOCKOUT_SECONDS`` before it answers 429 for a while."""

DEFAULT_LOGIN_MAX_FAILURES_PER_ADDRESS = 20
"""Failed logins from one client address (any account) within the window before that address gets 429."""

DEFAULT_LOGIN_LOCKOUT_SECONDS = 60
"""The window over which failed logins are counted, and how long a locked account or address waits."""

DEFAULT_PASSWORD_HASH_CONCURRENCY = 2
"""Password checks (argon2, 64 MiB each) that run at once; more wait, so a burst cannot exhaust memory."""

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""The largest request body the web server reads; a larger one answers 413 before anything else happens."""

DEFAULT_MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and arrays a JSON body may have; deeper answers 400 before it is parsed."""

DEFAULT_WEB_SESSION_HOURS = 12
"""How long a web login lasts (the session row in the database and the cookie expire together)."""

DEFAULT_TASK_IMAGE = "python:3.11-slim"
"""The image that ``BashOperator``, ``PythonOperator`` and ``@task`` tasks run in unless ``DOCKYARD_TASK_IMAGE`` or
the task's ``executor_config={"image": ...}`` names another: Airflow runs them inside its worker, dockyard in a
container of this image (it needs ``python3`` for Python tasks and ``bash`` for Bash tasks)."""

DEFAULT_MAX_MAP_LENGTH = 1024
"""The most instances one mapped task may expand to from an upstream result (Airflow's ``max_map_length``);
a longer result fails the task that returned it."""

DEFAULT_SMTP_TIMEOUT_SECONDS = 30.0
"""How long an alert mail (``email_on_failure``) waits for the SMTP server (Airflow's ``[smtp] smtp_timeout``)."""

DEFAULT_EMAIL_FROM = "airflow@example.com"
"""The sender of alert mails when the SMTP connection's extra names no ``from_email`` (Airflow's default)."""

DEFAULT_STORE_RETRY_FIRST_SECONDS = 0.5
"""The first wait before a failed write of a try's result is tried again (a full disk, a database away)."""

DEFAULT_STORE_RETRY_MAX_SECONDS = 5.0
"""The longest wait between tries of a failed write: the waits double up to this, until the write succeeds
or the scheduler stops (a result is never dropped because the database was away for a while)."""

DEFAULT_ENGINE_RETURN_SECONDS = 120.0
"""How long a running try waits for its engine to answer again (a restart of dockerd) before the try fails;
meanwhile its container may still run, and it is followed to its end once the engine is back."""

DEFAULT_ENGINE_RETRY_SECONDS = 1.0
"""Between attempts to reach an engine that stopped answering."""

DEFAULT_WEB_SHUTDOWN_SECONDS = 10
"""How long ``dockyard webserver`` waits for open connections after SIGTERM or Ctrl-C before it closes them (a
browser's kept-alive HTTPS connection would otherwise hold the shutdown forever)."""

DEFAULT_ENGINE_NAME = "default"
"""The name of the one engine of the pool when ``DOCKYARD_ENGINES`` names no engines file."""

DEFAULT_QUEUE = "default"
"""Airflow's ``BaseOperator(queue="default")``: the queue of a task that names none. An engine without labels
serves this queue only."""

DEFAULT_ENGINE_STATUS_SECONDS = 5.0
"""How often a scheduler reads its engines' health and free resources (for admission, the UI and the API)."""

DEFAULT_ENGINE_STATUS_TIMEOUT = 5.0
"""Seconds one call that reads an engine's status may take: an engine that does not answer in time is
reported unhealthy (with the reason) instead of holding up the scheduler's pass."""

DEFAULT_BACKFILL_DELAY_ON_LIMIT_SECONDS = 1.0
"""How long ``dags backfill`` waits, once its ``--max-active-runs`` were all busy and one ended, before it starts
the next run (Airflow's ``--delay-on-limit``)."""

DEFAULT_ENGINE_MODE = "container"
"""How a task's container runs on the default engine (``DOCKYARD_ENGINE_MODE``): ``container`` (one container on
that engine) or ``swarm`` (a one-shot Docker Swarm service, placed by the swarm on any of its nodes)."""

DEFAULT_SERVICE_PREFIX = "airflow"
"""The start of a Swarm service's name when the task names none (Airflow's ``DockerSwarmOperator`` default)."""

DEFAULT_SWARM_POLL_SECONDS = 0.25
"""Between two looks at a Swarm service's tasks while a try runs (the engine has no wait call for a service)."""

DEFAULT_CONNECTION_TEST_WAIT_SECONDS = 15.0
"""How long the web server waits for a scheduler to answer a connection test (a registry login needs the
engine, which only the scheduler reaches) before it says no scheduler answered."""

DEFAULT_CONNECTION_TEST_LOGIN_SECONDS = 10.0
"""Seconds the engine may take over a connection test's registry login: less than the web server's wait, so a
registry that never answers is reported as such rather than as a missing scheduler."""

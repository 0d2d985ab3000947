"""How ``dockyard``'s commands line up with ``airflow``'s (Airflow 2.11's ``airflow cheat-sheet``).

dockyard has every command of Airflow's CLI that means something here, under the same name and with the
same flags. :data:`NOT_HERE` names each Airflow command that has no meaning in dockyard and why (the
migration guide repeats it); :data:`DOCKYARD_ONLY` names the commands dockyard adds. The CLI tests hold both
against the command list captured from Airflow in ``tests/data/airflow_2_11_cli.json``.
"""

from __future__ import annotations

NOT_HERE: dict[str, str] = {
    "config lint": "it checks airflow.cfg for the move from Airflow 2 to 3; dockyard is configured by DOCKYARD_* "
    "environment variables",
    "config update": "it rewrites airflow.cfg for Airflow 3; dockyard has no configuration file",
    "connections create-default-connections": "the default connections belong to Airflow's providers "
    "(databases, clouds); dockyard needs none",
    "dag-processor": "dockyard parses DAG files in the scheduler's own child processes (with time and memory "
    "limits); there is no separate DAG processor to start",
    "dags show-dependencies": "dockyard has no datasets, the source of Airflow's cross-DAG dependency graph",
    "db check-migrations": "every dockyard command migrates a new database itself; `dockyard db check` says "
    "whether the schema is at the newest revision",
    "db downgrade": "dockyard's migrations only go forward; restore a backup of the database to go back",
    "db drop-archived": "`dockyard db clean` deletes rows without archive tables, so there is nothing to drop",
    "db export-archived": "`dockyard db clean` deletes rows without archive tables, so there is nothing to export",
    "kerberos": "dockyard does not use Kerberos tickets",
    "plugins": "dockyard loads no Airflow plugins",
    "providers auth": "dockyard has no provider packages: its Docker support is built in",
    "providers auth-managers": "dockyard has no provider packages: its Docker support is built in",
    "providers behaviours": "dockyard has no provider packages: its Docker support is built in",
    "providers configs": "dockyard has no provider packages: its Docker support is built in",
    "providers executors": "dockyard has no provider packages: its Docker support is built in",
    "providers get": "dockyard has no provider packages: its Docker support is built in",
    "providers hooks": "dockyard has no provider packages: its Docker support is built in",
    "providers lazy-loaded": "dockyard has no provider packages: its Docker support is built in",
    "providers links": "dockyard has no provider packages: its Docker support is built in",
    "providers list": "dockyard has no provider packages: its Docker support is built in",
    "providers logging": "dockyard has no provider packages: its Docker support is built in",
    "providers notifications": "dockyard has no provider packages: its Docker support is built in",
    "providers secrets": "dockyard has no provider packages: its Docker support is built in",
    "providers triggers": "dockyard has no provider packages: its Docker support is built in",
    "providers widgets": "dockyard has no provider packages: its Docker support is built in",
    "roles add-perms": "dockyard's roles are Airflow's five built-in roles with fixed permissions",
    "roles create": "dockyard's roles are Airflow's five built-in roles with fixed permissions",
    "roles del-perms": "dockyard's roles are Airflow's five built-in roles with fixed permissions",
    "roles delete": "dockyard's roles are Airflow's five built-in roles with fixed permissions",
    "roles export": "dockyard's roles are Airflow's five built-in roles with fixed permissions",
    "roles import": "dockyard's roles are Airflow's five built-in roles with fixed permissions",
    "roles list": "dockyard's roles are Airflow's five built-in roles (Admin, Op, User, Viewer, Public)",
    "sync-perm": "dockyard's roles have fixed permissions; there is nothing to synchronise",
    "triggerer": "dockyard has no deferrable operators: a waiting container costs a thread, not a worker",
}
"""Airflow commands without a meaning in dockyard, each with the reason."""

DOCKYARD_ONLY: dict[str, str] = {
    "compat check": "whether each DAG file written for Airflow runs unchanged",
    "engines list": "the engine pool with each engine's health and free resources (Airflow has no engine pool)",
    "tasks logs": "a task try's log (Airflow shows it in the web UI only)",
    "users token": "API tokens for `Authorization: Bearer` (Airflow has no CLI for them)",
}
"""Commands dockyard adds; none of their names is an Airflow flag."""

_NO_MAPPING = "`tasks run` runs tasks that are not mapped; the scheduler runs a mapped task's instances"
_NO_DAEMON = "dockyard runs in the foreground; run it as a service (compose, systemd) instead of a daemon"
_FORWARD_ONLY = "dockyard migrates to its newest schema only"

FLAGS_NOT_HERE: dict[str, dict[str, str]] = {
    "dags list-jobs": {
        "-d": "dockyard's jobs are its scheduler processes and `dags test`/`tasks run`; none belongs to one DAG",
        "--dag-id": "dockyard's jobs are its scheduler processes and `dags test`/`tasks run`; none belongs to one DAG",
    },
    "dags backfill": {
        "-x": "dockyard never pickles DAGs",
        "--donot-pickle": "dockyard never pickles DAGs",
        "-l": "the backfill's tries always run in this process",
        "--local": "the backfill's tries always run in this process",
    },
    "dags show": {"--imgcat": "it draws in iTerm2 only; save an image with --save instead"},
    "dags test": {
        "--imgcat-dagrun": "it draws in iTerm2 only",
        "--save-dagrun": "use `dockyard dags show --save` for the graph",
        "--show-dagrun": "use `dockyard dags show` for the graph",
        "--mark-success-pattern": "every task of a test run runs its container",
        "--use-executor": "`dags test` always runs the tasks' containers as the scheduler does",
    },
    "db migrate": {
        "--from-revision": _FORWARD_ONLY,
        "--from-version": _FORWARD_ONLY,
        "-r": _FORWARD_ONLY,
        "--to-revision": _FORWARD_ONLY,
        "-n": _FORWARD_ONLY,
        "--to-version": _FORWARD_ONLY,
        "-s": "dockyard runs its migrations; it does not print their SQL",
        "--show-sql-only": "dockyard runs its migrations; it does not print their SQL",
    },
    "info": {"--file-io": "dockyard uploads nothing to file.io; use --anonymize and attach the output"},
    "scheduler": {
        "-D": _NO_DAEMON,
        "--daemon": _NO_DAEMON,
        "--pid": _NO_DAEMON,
        "--stdout": _NO_DAEMON,
        "--stderr": _NO_DAEMON,
        "-l": _NO_DAEMON,
        "--log-file": _NO_DAEMON,
        "-p": "dockyard never pickles DAGs",
        "--do-pickle": "dockyard never pickles DAGs",
    },
    "tasks test": {
        "--env-vars": "a task's environment is its container's: set `environment` on the task",
        "-m": "the task runs in a container, out of a debugger's reach",
        "--post-mortem": "the task runs in a container, out of a debugger's reach",
    },
    "tasks run": {
        "--map-index": _NO_MAPPING,
        "--pool": "the task instance keeps the pool its task names",
        "--cfg-path": "Airflow's executors pass a configuration file; dockyard runs the try in this process",
        "-N": "there is no interactive mode: the try's log streams to the terminal",
        "--interactive": "there is no interactive mode: the try's log streams to the terminal",
        "-j": "dockyard keeps no job table",
        "--job-id": "dockyard keeps no job table",
        "-l": "the try always runs in this process",
        "--local": "the try always runs in this process",
        "-r": "the try always runs in this process",
        "--raw": "the try always runs in this process",
        "-p": "dockyard never pickles DAGs",
        "--pickle": "dockyard never pickles DAGs",
        "--ship-dag": "dockyard never pickles DAGs",
        "--no-shut-down-logging": "the try's log is a file of its own",
        "--read-from-db": "the DAG is always read from its file",
    },
    "webserver": {
        "-A": "uvicorn serves the web app; its access log goes to the terminal",
        "--access-logfile": "uvicorn serves the web app; its access log goes to the terminal",
        "-L": "uvicorn serves the web app; its access log goes to the terminal",
        "--access-logformat": "uvicorn serves the web app; its access log goes to the terminal",
        "-E": "uvicorn serves the web app; errors go to the terminal",
        "--error-logfile": "uvicorn serves the web app; errors go to the terminal",
        "-D": _NO_DAEMON,
        "--daemon": _NO_DAEMON,
        "--pid": _NO_DAEMON,
        "--stdout": _NO_DAEMON,
        "--stderr": _NO_DAEMON,
        "-l": _NO_DAEMON,
        "--log-file": _NO_DAEMON,
        "-d": "there is no Flask debug server: the web app is served by uvicorn",
        "--debug": "there is no Flask debug server: the web app is served by uvicorn",
        "-w": "one uvicorn process serves the web app (put several behind a proxy to scale)",
        "--workers": "one uvicorn process serves the web app (put several behind a proxy to scale)",
        "-k": "one uvicorn process serves the web app",
        "--workerclass": "one uvicorn process serves the web app",
        "-t": "one uvicorn process serves the web app; there are no gunicorn workers to time out",
        "--worker-timeout": "one uvicorn process serves the web app; there are no gunicorn workers to time out",
    },
}
"""Airflow flags of commands dockyard has that have no meaning here, per command, each with the reason."""
FLAGS_NOT_HERE["db upgrade"] = FLAGS_NOT_HERE["db migrate"]

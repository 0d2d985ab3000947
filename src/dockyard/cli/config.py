"""``dockyard config get-value SECTION KEY`` and ``dockyard config list``: dockyard's settings under Airflow's names.

dockyard is configured by environment variables (``DOCKYARD_*``, see the README), not by ``airflow.cfg``. Where a
setting means what an Airflow option means, it is shown under Airflow's section and key (``[core] dags_folder``,
``[database] sql_alchemy_conn``), so scripts that ask Airflow for them get an answer; every other setting is in
the ``[dockyard]`` section under its own name. Secrets (the Fernet key, the web secret, the database password,
the admin password) are always shown as ``***``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from dockyard import defaults
from dockyard.cli.common import fail
from dockyard.dag import closest
from dockyard.masking import is_sensitive_name
from dockyard.settings import Settings
from dockyard.store.db import safe_url


@dataclass(frozen=True)
class Option:
    """One configuration option: where Airflow has it, which variable sets it here, how to read it."""

    section: str
    key: str
    env: str | None
    read: Callable[[Settings], Any]
    description: str
    secret: bool = False


def _field(name: str) -> Callable[[Settings], Any]:
    return lambda settings: getattr(settings, name)


AIRFLOW_OPTIONS: tuple[Option, ...] = (
    Option("core", "dags_folder", "DOCKYARD_DAGS_FOLDER", _field("dags_folder"), "Where DAG files are read from."),
    Option("core", "parallelism", "DOCKYARD_PARALLELISM", _field("parallelism"), "Task tries running at once."),
    Option("core", "fernet_key", "DOCKYARD_FERNET_KEY", _field("fernet_key"), "Encrypts secrets at rest.", secret=True),
    Option(
        "core",
        "dagbag_import_timeout",
        "DOCKYARD_DAG_FILE_PROCESSOR_TIMEOUT",
        _field("dag_file_processor_timeout"),
        "Seconds one DAG file may take to import before it is an import error.",
    ),
    Option(
        "core",
        "default_pool_task_slot_count",
        None,
        lambda _: defaults.DEFAULT_POOL_SLOTS,
        "Slots of default_pool when it is created.",
    ),
    Option(
        "database",
        "sql_alchemy_conn",
        "DOCKYARD_DATABASE_URL",
        lambda s: safe_url(s.database_url),
        "The metadata database (its password is shown as ***).",
    ),
    Option(
        "logging",
        "base_log_folder",
        "DOCKYARD_HOME",
        lambda s: s.logs_folder,
        "Where task logs are written ($DOCKYARD_HOME/logs).",
    ),
    Option(
        "scheduler",
        "parsing_processes",
        "DOCKYARD_DAG_PROCESSOR_PROCESSES",
        _field("dag_processor_processes"),
        "DAG files parsed at once.",
    ),
    Option(
        "scheduler",
        "scheduler_health_check_threshold",
        None,
        lambda _: defaults.DEFAULT_SCHEDULER_HEALTH_SECONDS,
        "Seconds after the last heartbeat before the scheduler counts as unhealthy.",
    ),
    Option("webserver", "base_url", "DOCKYARD_BASE_URL", _field("base_url"), "The address people use for the web UI."),
    Option("webserver", "web_server_host", "DOCKYARD_WEB_HOST", _field("web_host"), "Where the web server listens."),
    Option("webserver", "web_server_port", "DOCKYARD_WEB_PORT", _field("web_port"), "The web server's port."),
    Option("webserver", "secret_key", "DOCKYARD_SECRET_KEY", _field("secret_key"), "Signs web sessions.", secret=True),
    Option(
        "webserver",
        "cookie_secure",
        "DOCKYARD_SECURE_COOKIES",
        _field("secure_cookies"),
        "Send the session cookie only over HTTPS.",
    ),
)
"""Settings that mean what an Airflow option means, under Airflow's section and key."""

_AIRFLOW_FIELDS = {
    "dags_folder",
    "parallelism",
    "fernet_key",
    "dag_file_processor_timeout",
    "database_url",
    "dag_processor_processes",
    "base_url",
    "web_host",
    "web_port",
    "secret_key",
    "secure_cookies",
}
_SECRET_FIELDS = {"fernet_key", "secret_key", "database_url", "admin_password"}
_ENV_NAMES = {"docker_host": "DOCKER_HOST", "docker_config": "DOCKER_CONFIG"}
_HIDDEN_FIELDS = {"engine_env", "example_dags_folder"}


def options() -> list[Option]:
    """Every option: Airflow's names first, then each other setting in ``[dockyard]`` under its own name."""
    found = list(AIRFLOW_OPTIONS)
    for item in dataclasses.fields(Settings):
        if item.name in _AIRFLOW_FIELDS or item.name in _HIDDEN_FIELDS:
            continue
        env = _ENV_NAMES.get(item.name, f"DOCKYARD_{item.name.upper()}")
        found.append(
            Option(
                "dockyard",
                item.name,
                env,
                _field(item.name),
                f"dockyard's {env} (see the README's settings).",
                secret=item.name in _SECRET_FIELDS or is_sensitive_name(item.name),
            )
        )
    return found


def shown(option: Option, settings: Settings) -> str:
    """The option's value as text, as ``airflow config`` prints it; a secret that is set is ``***``."""
    value = option.read(settings)
    if option.secret and value and option.key != "sql_alchemy_conn":
        return defaults.MASK
    if value is None:
        return "" if option.key not in ("policy_allowed_capabilities", "policy_allowed_bind_paths") else "*"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def _find(section: str, key: str) -> Option:
    known = options()
    for option in known:
        if option.section == section.lower() and option.key == key.lower():
            return option
    in_section = sorted(o.key for o in known if o.section == section.lower())
    if not in_section:
        sections = sorted({o.section for o in known})
        fail(
            f"the section [{section}] is not found in config{closest(section, sections)}; "
            f"sections: {', '.join(sections)}"
        )
    fail(
        f"the option [{section}/{key}] is not found in config{closest(key, in_section)}; "
        f"[{section}] has: {', '.join(in_section)}"
    )


@click.group()
def config() -> None:
    """View configuration."""


@config.command("get-value")
@click.argument("section")
@click.argument("option")
@click.pass_obj
def config_get_value(settings: Settings, section: str, option: str) -> None:
    """Print the value of the configuration option SECTION OPTION (e.g. `core dags_folder`)."""
    click.echo(shown(_find(section, option), settings))


@config.command("list")
@click.option("--section", help="Only this section.")
@click.option("-a", "--defaults", "only_defaults", is_flag=True, help="Show the defaults, not the current values.")
@click.option("-c", "--comment-out-everything", is_flag=True, help="Comment out every option line.")
@click.option("-d", "--include-descriptions", is_flag=True, help="Show what each option is for.")
@click.option("-e", "--include-examples", is_flag=True, help="Accepted for Airflow's sake: dockyard has no examples.")
@click.option("-p", "--exclude-providers", is_flag=True, help="Accepted for Airflow's sake: there are no providers.")
@click.option("-s", "--include-sources", is_flag=True, help="Say where each value comes from.")
@click.option("-V", "--include-env-vars", is_flag=True, help="Name the environment variable that sets each option.")
@click.option("--color", type=click.Choice(["auto", "on", "off"]), default="auto", help="Colour the output.")
@click.pass_obj
def config_list(
    settings: Settings,
    section: str | None,
    only_defaults: bool,
    comment_out_everything: bool,
    include_descriptions: bool,
    include_examples: bool,
    exclude_providers: bool,
    include_sources: bool,
    include_env_vars: bool,
    color: str,
) -> None:
    """List options for the configuration, in airflow.cfg's form (secrets as ***)."""
    chosen = [o for o in options() if section is None or o.section == section.lower()]
    if not chosen:
        sections = sorted({o.section for o in options()})
        fail(f"there is no section [{section}]; sections: {', '.join(sections)}")
    shown_settings = Settings.from_env({}) if only_defaults else settings
    comment = "# " if comment_out_everything or only_defaults else ""
    colour = None if color == "off" else ("cyan" if color == "on" else None)
    current = None
    for option in chosen:
        if option.section != current:
            if current is not None:
                click.echo("")
            click.secho(f"[{option.section}]", fg=colour, bold=colour is not None)
            current = option.section
        if include_descriptions and option.description:
            click.echo(f"# {option.description}")
        if include_env_vars and option.env:
            click.echo(f"# set by: {option.env}")
        if include_sources:
            source = "environment" if option.env and option.env in settings.engine_env else "default"
            click.echo(f"# source: {source}")
        click.echo(f"{comment}{option.key} = {shown(option, shown_settings)}")

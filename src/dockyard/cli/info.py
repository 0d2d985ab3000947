"""``dockyard version``, ``dockyard info`` and ``dockyard cheat-sheet``: what is installed and what to type."""

from __future__ import annotations

import getpass
import locale
import platform
import shutil
import socket
import sys
from typing import Any

import click

from dockyard import __version__
from dockyard.cli.output import emit, output_option
from dockyard.settings import Settings
from dockyard.store.db import safe_url

TOOLS = ("docker", "dot", "git", "psql", "sqlite3", "ssh")
"""Programs ``info`` looks for: the engine's client, Graphviz (``dags show --save``), the database shells."""


@click.command("version")
def version() -> None:
    """Show the version."""
    click.echo(__version__)


def _sections(settings: Settings, anonymize: bool) -> dict[str, dict[str, Any]]:
    def hide(text: str) -> str:
        if not anonymize:
            return text
        for private, placeholder in ((str(settings.home.parent), "${HOME}"), (socket.gethostname(), "${HOSTNAME}")):
            text = text.replace(private, placeholder)
        return text.replace(getpass.getuser(), "${USER}")

    tools = {name: shutil.which(name) or "NOT AVAILABLE" for name in TOOLS}
    return {
        "dockyard info": {
            "version": __version__,
            "executor": "containers on a Docker engine (one thread per running task)",
            "docker_host": settings.default_docker_url,
            "task_image": settings.task_image,
            "sql_alchemy_conn": hide(safe_url(settings.database_url)),
            "dags_folder": hide(str(settings.dags_folder)),
            "base_log_folder": hide(str(settings.logs_folder)),
            "parallelism": settings.parallelism,
        },
        "System info": {
            "OS": platform.system(),
            "architecture": platform.machine(),
            "uname": hide(str(platform.uname())),
            "locale": str(locale.getlocale()),
            "python_version": sys.version.replace("\n", " "),
            "python_location": hide(sys.executable),
        },
        "Tools info": {name: hide(path) for name, path in tools.items()},
        "Paths info": {
            "dockyard_home": hide(str(settings.home)),
            "python_path": hide(":".join(p for p in sys.path if p)),
            "dockyard_on_path": shutil.which("dockyard") is not None,
        },
    }


@click.command("info")
@click.option("--anonymize", is_flag=True, help="Hide user names, host names and home folders (for bug reports).")
@output_option
@click.pass_obj
def info(settings: Settings, anonymize: bool, output: str) -> None:
    """Show information about dockyard and its environment (the database password is never shown)."""
    sections = _sections(settings, anonymize)
    if output in ("json", "yaml"):
        emit([sections], output)
        return
    for title, values in sections.items():
        click.secho(title, bold=True)
        emit([{"key": k, "value": v} for k, v in values.items()], output)
        click.echo("")


@click.command("cheat-sheet")
@click.pass_context
def cheat_sheet(ctx: click.Context) -> None:
    """Display cheat sheet: every command with what it does, grouped as `airflow cheat-sheet` groups them."""
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    groups: list[tuple[str, list[tuple[str, str]]]] = [("Miscellaneous commands", [])]
    for name, command in sorted(root.commands.items()):
        if isinstance(command, click.Group):
            rows = [
                (f"dockyard {name} {sub_name}", sub.get_short_help_str(80))
                for sub_name, sub in sorted(command.commands.items())
                if not sub.hidden
            ]
            groups.append((command.get_short_help_str(80).rstrip("."), rows))
        elif not command.hidden:
            groups[0][1].append((f"dockyard {name}", command.get_short_help_str(80)))
    width = max(len(name) for _, rows in groups for name, _ in rows) + 2
    for title, rows in groups:
        click.secho(title, bold=True)
        for name, text in rows:
            click.echo(f"{name.ljust(width)}| {text}")
        click.echo("")

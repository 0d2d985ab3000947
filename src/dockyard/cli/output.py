"""How list commands print: ``-o table`` (Rich), ``json``, ``yaml`` or ``plain`` (tab-separated)."""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Sequence
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dockyard.serialization import json_default
from dockyard.states import STATE_COLOURS

FORMATS = ("table", "json", "yaml", "plain")

output_option = click.option(
    "-o", "--output", type=click.Choice(FORMATS), default="table", show_default=True, help="How to print the result."
)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):  # a state: its name as Airflow prints it
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def emit(rows: Sequence[dict[str, Any]], output: str, *, empty: str = "Nothing to show.") -> None:
    """Print ``rows`` (dicts with the same keys, in column order) in the chosen format."""
    data = [_plain(row) for row in rows]
    if output == "json":
        click.echo(json.dumps(data, indent=2, default=json_default))
        return
    if output == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
        return
    if not data:
        click.echo(empty, err=True)
        return
    columns = list(data[0])
    if output == "plain":
        click.echo("\t".join(columns))
        for row in data:
            click.echo("\t".join("" if row[c] is None else str(row[c]) for c in columns))
        return
    table = Table(show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in data:
        cells = []
        for column in columns:
            value = row[column]
            text = "" if value is None else (", ".join(map(str, value)) if isinstance(value, list) else str(value))
            colour = STATE_COLOURS.get(text) if column == "state" else None
            cells.append(Text(text, style=colour or ""))
        table.add_row(*cells)
    Console(soft_wrap=False).print(table)


def print_rendered(fields: dict[str, Any]) -> None:
    """Rendered template fields (secrets already masked) as Airflow's ``tasks render`` prints them."""
    for name, value in fields.items():
        click.echo(f"# {'-' * 58}\n# property: {name}\n# {'-' * 58}\n{value}\n")

"""Capture Apache Airflow's command line for tests/data/airflow_2_11_cli.json (run with Airflow installed).

    AIRFLOW_HOME=/tmp/afhome /tmp/af/bin/python tests/data/capture_airflow_cli.py

Writes every command of ``airflow cheat-sheet`` (the default executor and auth manager of a plain installation)
with its positional arguments and its options: each option's spellings and whether it takes a value. The CLI
tests compare ``dockyard``'s commands and flags with this file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import airflow
from airflow.cli.cli_parser import get_parser

HERE = Path(__file__).parent


def _describe(parser: argparse.ArgumentParser) -> dict[str, Any]:
    positionals: list[str] = []
    options: list[dict[str, Any]] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            positionals.append(action.dest)
            continue
        options.append({"flags": list(action.option_strings), "takes_value": action.nargs != 0})
    return {"help": parser.description or "", "positionals": positionals, "options": options}


def _walk(parser: argparse.ArgumentParser, prefix: list[str], into: dict[str, Any]) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    _walk(sub, [*prefix, name], into)
                else:
                    into[" ".join([*prefix, name])] = _describe(sub)


def main() -> None:
    commands: dict[str, Any] = {}
    _walk(get_parser(), [], commands)
    data = {"airflow_version": airflow.__version__, "commands": dict(sorted(commands.items()))}
    major_minor = "_".join(airflow.__version__.split(".")[:2])
    path = HERE / f"airflow_{major_minor}_cli.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(commands)} commands written to {path}")


if __name__ == "__main__":
    main()

"""dockyard's commands and flags against Airflow 2.11's, as captured in tests/data/airflow_2_11_cli.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from dockyard.cli.main import cli, commands_of
from dockyard.cli.parity import DOCKYARD_ONLY, FLAGS_NOT_HERE, NOT_HERE

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = json.loads((ROOT / "tests" / "data" / "airflow_2_11_cli.json").read_text())
AIRFLOW: dict[str, Any] = CAPTURE["commands"]
OURS = commands_of(cli)
SHARED = sorted(set(AIRFLOW) & set(OURS))
BUILT_APART = {"dags backfill": ROOT / "src" / "dockyard" / "cli" / "backfill.py"}
"""Commands whose module is its own; each must be registered once its module exists."""


def _spellings(command: click.Command) -> list[str]:
    found: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            found += [*param.opts, *param.secondary_opts]
    return found


def test_the_capture_is_airflow_2_11s_whole_command_line() -> None:
    assert CAPTURE["airflow_version"].startswith("2.11.")
    assert len(AIRFLOW) == 103 and "cheat-sheet" in AIRFLOW and "tasks clear" in AIRFLOW


def test_every_airflow_command_with_a_meaning_here_exists_under_its_name() -> None:
    expected = set(AIRFLOW) - set(NOT_HERE)
    missing = expected - set(OURS)
    pending = {name for name, module in BUILT_APART.items() if not module.exists()}
    assert missing <= pending, f"commands Airflow has that dockyard lacks: {sorted(missing - pending)}"
    assert set(OURS) - set(AIRFLOW) == set(DOCKYARD_ONLY)
    assert not set(NOT_HERE) - set(AIRFLOW), "NOT_HERE names a command Airflow does not have"
    assert not set(NOT_HERE) & set(OURS), "a command is both in NOT_HERE and in dockyard"


def test_help_lists_the_groups_and_commands_of_airflows_cheat_sheet(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--help"], env={"DOCKYARD_HOME": str(tmp_path)})
    assert result.exit_code == 0
    listed = set(re.findall(r"^  ([a-z][a-z-]+)  ", result.output.split("Commands:")[1], re.MULTILINE))
    airflow_top = {name.split()[0] for name in AIRFLOW if name not in NOT_HERE}
    assert listed == airflow_top | {"compat", "engines"}


def test_cheat_sheet_shows_every_command_once(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cheat-sheet"], env={"DOCKYARD_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    shown = re.findall(r"^dockyard ([a-z -]+?)\s+\|", result.output, re.MULTILINE)
    assert sorted(shown) == sorted(OURS)
    assert "Manage DAGs" in result.output and "Miscellaneous commands" in result.output


@pytest.mark.parametrize("name", SHARED)
def test_every_airflow_flag_is_accepted_or_explained(name: str) -> None:
    ours = set(_spellings(OURS[name]))
    unexplained = [
        flag
        for option in AIRFLOW[name]["options"]
        for flag in option["flags"]
        if flag not in ours and flag not in FLAGS_NOT_HERE.get(name, {})
    ]
    assert not unexplained, f"`dockyard {name}` lacks Airflow's {unexplained}"
    explained_but_present = [f for f in FLAGS_NOT_HERE.get(name, {}) if f in ours]
    assert not explained_but_present, f"`dockyard {name}` has {explained_but_present}, listed as not here"


@pytest.mark.parametrize("name", SHARED)
def test_flags_that_take_a_value_in_airflow_take_one_here(name: str) -> None:
    params = {spelling: p for p in OURS[name].params if isinstance(p, click.Option) for spelling in p.opts}
    for option in AIRFLOW[name]["options"]:
        for flag in option["flags"]:
            if flag in params:
                assert params[flag].is_flag is not option["takes_value"], f"`dockyard {name} {flag}`"


@pytest.mark.parametrize("name", sorted(OURS))
def test_no_flag_is_spelled_twice(name: str) -> None:
    spellings = _spellings(OURS[name])
    assert len(spellings) == len(set(spellings)), f"`dockyard {name}`: {sorted(spellings)}"


@pytest.mark.parametrize("name", SHARED)
def test_airflows_positional_arguments_fit(name: str) -> None:
    ours = [p for p in OURS[name].params if isinstance(p, click.Argument)]
    assert len(ours) >= len(AIRFLOW[name]["positionals"]), f"`dockyard {name}` takes {[p.name for p in ours]}"


def test_the_migration_guide_names_each_command_without_a_meaning_here() -> None:
    guide = (ROOT / "docs" / "migrating-from-airflow.md").read_text()
    missing = [name for name in NOT_HERE if f"`airflow {name}`" not in guide]
    assert not missing, f"docs/migrating-from-airflow.md does not name {missing}"


def test_tasks_clear_takes_airflows_r_and_y_apart() -> None:
    """`tasks clear DAG -r -y` once took -y as a run id and cleared nothing; -r is Airflow's --only-running."""
    clear = OURS["tasks clear"]
    context = clear.make_context("clear", ["demo", "-r", "-y"])
    assert context.params["only_running"] is True and context.params["yes"] is True
    assert context.params["run_ids"] == ()


def test_flags_not_here_are_airflows_flags_and_documented() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text()
    for name, flags in FLAGS_NOT_HERE.items():
        airflow_flags = {f for option in AIRFLOW[name]["options"] for f in option["flags"]}
        assert set(flags) <= airflow_flags, f"{name}: {sorted(set(flags) - airflow_flags)} are not Airflow's"
        rows = [line for line in reference.splitlines() if f"`{name}`" in line]
        undocumented = [f for f in flags if not any(f"`{f}`" in row for row in rows)]
        assert not undocumented, f"docs/cli.md does not list {name} {undocumented}"

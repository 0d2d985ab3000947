"""The ``dockyard`` command run in this process (click's runner) against a real database and a DAG folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dockyard.cli.main import cli
from dockyard.settings import Settings
from dockyard.store import Store

DAGS = """
from datetime import datetime
from dockyard import DAG, EmptyOperator, BashOperator

with DAG("chain", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False, tags=["demo"]) as dag:
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b", pool="small")
    c = BashOperator(task_id="c", bash_command="echo day {{ ds }} n={{ params.n }}", params={"n": 1})
    a >> b >> c

with DAG("chain_two", start_date=datetime(2024, 1, 1), schedule=None) as other:
    EmptyOperator(task_id="only")
"""


@dataclass
class Dockyard:
    """Runs ``dockyard ARGS`` with this test's home, DAG folder and database."""

    home: Path
    dags: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli, list(args), env=self.env, input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"dockyard {' '.join(args)}: {result.output}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def store(self) -> Store:
        return Store.open(self.settings)


def make(tmp_path: Path, database_url: str) -> Dockyard:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "chain.py").write_text(DAGS)
    home = tmp_path / "home"
    env = {
        "DOCKYARD_HOME": str(home),
        "DOCKYARD_DAGS_FOLDER": str(dags),
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_FERNET_KEY": "",
        "DOCKYARD_SECRET_KEY": "",
    }
    return Dockyard(home=home, dags=dags, env=env)


@pytest.fixture
def dockyard(tmp_path: Path, database_url: str) -> Iterator[Dockyard]:
    """On SQLite and on PostgreSQL."""
    yield make(tmp_path, database_url)


@pytest.fixture
def sqlite_dockyard(tmp_path: Path) -> Dockyard:
    """On SQLite only: for commands whose database does not matter."""
    return make(tmp_path, f"sqlite:///{tmp_path / 'dockyard.db'}")

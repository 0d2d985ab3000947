"""Plant a canary secret in every place a secret comes from, run a DAG that prints them all, and scan
every log file, every CLI output and every store row the run produced: no canary may survive."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from tests.helpers import write_dag

pytestmark = pytest.mark.engine

CANARIES = {
    "connection password": "cn-pass-Zq81x",
    "private_environment": "pe-secret-Xk42",
    "sensitive variable": "var-token-Wp77",
    "mask_secret": "registered-Lm09",
    "connection extra": "extra-key-Rt55",
}


def test_no_canary_reaches_a_person(tmp_path: Path, engine: docker.APIClient) -> None:
    home, dags = tmp_path / "home", tmp_path / "dags"
    env = {**os.environ, "DOCKYARD_HOME": str(home), "DOCKYARD_DAGS_FOLDER": str(dags)}

    def cli(*args: str, expect: int = 0) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, env=env, timeout=180
        )
        assert result.returncode == expect, result.stderr
        return result.stdout + result.stderr

    c = CANARIES
    write_dag(
        dags,
        "canaries",
        f'''
from dockyard.masking import mask_secret

mask_secret("{c["mask_secret"]}")
with DAG("canaries", start_date=START, schedule=None, default_args=ARGS) as dag:
    env = DockerOperator(task_id="env", private_environment={{"PE": "{c["private_environment"]}"}},
                         command=["sh", "-c", "echo private=$PE; echo split=$PE | fold -w 7"])
    var = DockerOperator(task_id="var", command="echo variable={{{{ var.value.api_token }}}}")
    conn = DockerOperator(task_id="conn", command="echo conn={{{{ conn.canary_conn.password }}}}")
    registered = DockerOperator(task_id="registered", command="echo registered={c["mask_secret"]}")
    failing = DockerOperator(task_id="failing", private_environment={{"PE": "{c["private_environment"]}"}},
                             command=["sh", "-c", "echo about to fail with $PE; exit 3"])
''',
    )
    outputs = [
        cli("variables", "set", "api_token", c["sensitive variable"]),
        cli(
            "connections",
            "add",
            "canary_conn",
            "--conn-type",
            "docker",
            "--conn-host",
            "registry.example.com",
            "--conn-login",
            "robot",
            "--conn-password",
            c["connection password"],
            "--conn-extra",
            json.dumps({"password": c["connection extra"]}),
        ),
        cli("dags", "test", "canaries", "2024-01-31", expect=1),
    ]
    run_id = "test__2024-01-31T00:00:00+00:00"
    for task in ("env", "var", "conn", "registered", "failing"):
        outputs.append(cli("tasks", "logs", "canaries", run_id, task))
    outputs += [
        cli("connections", "list"),
        cli("connections", "list", "-o", "json"),
        cli("connections", "get", "canary_conn"),
        cli("variables", "list", "-o", "json"),
        cli("tasks", "states-for-dag-run", "canaries", run_id, "-o", "json"),
        cli("dags", "list-runs", "canaries", "-o", "yaml"),
    ]
    logs = [p.read_text() for p in (home / "logs").rglob("*.log")]
    rows = []
    with sqlite3.connect(home / "dockyard.db") as db:
        for table in ("dag", "dag_run", "task_instance", "task_try", "xcom", "import_error", "connection"):
            rows += [repr(row) for row in db.execute(f"SELECT * FROM {table}")]
    everything = {"CLI output": "\n".join(outputs), "task logs": "\n".join(logs), "store rows": "\n".join(rows)}
    for where, text in everything.items():
        for what, canary in CANARIES.items():
            assert canary not in text, f"the {what} canary leaked into {where}"
    # The tasks did print them: they were masked, not missing.
    joined = "\n".join(logs)
    assert "private=***" in joined and "variable=***" in joined and "conn=***" in joined and "registered=***" in joined
    assert "about to fail with ***" in everything["CLI output"]
    assert len(logs) == 5 and len(rows) > 10

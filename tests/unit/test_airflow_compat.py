"""The ``airflow`` modules dockyard serves, and that a real Airflow is never shadowed."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.compat import airflow as compat
from dockyard.errors import DagDefinitionError


def test_every_documented_import_path_resolves() -> None:
    compat.install()
    script = """
from airflow import DAG
from airflow.models import DAG as D2, Variable
from airflow.sdk import DAG as D3, dag, task
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.docker.operators.docker_swarm import DockerSwarmOperator
from airflow.operators.docker_operator import DockerOperator as Old
from airflow.operators.empty import EmptyOperator
from airflow.operators.dummy import DummyOperator
from airflow.models.baseoperator import chain
from airflow.utils.dates import days_ago
from airflow.utils.trigger_rule import TriggerRule
from airflow.hooks.base import BaseHook
from airflow.models.param import Param
from airflow.utils.task_group import TaskGroup
import dockyard
assert DAG is D2 is D3 is dockyard.DAG and DockerOperator is Old is dockyard.DockerOperator
print("ok")
"""
    # In a fresh interpreter, as a DAG file would meet it.
    result = subprocess.run(
        [sys.executable, "-c", "from dockyard.compat import airflow; airflow.install()\n" + script],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_a_real_airflow_is_never_shadowed(tmp_path: Path) -> None:
    fake = tmp_path / "airflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("REAL = True\n")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from dockyard.compat import airflow as compat\n"
        "print(compat.install(), compat.real_airflow_installed())\n"
        "import airflow; print(airflow.REAL)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True", "True"], result.stderr


def test_unknown_operators_import_but_fail_when_used() -> None:
    compat.install()
    from airflow.operators.python import PythonOperator  # type: ignore[import-not-found]

    with pytest.raises(
        DagDefinitionError, match=r"PythonOperator is not supported by dockyard \(.*test_airflow_compat.py:\d+\)"
    ):
        PythonOperator(task_id="x", python_callable=print)


def test_days_ago_is_midnight_utc() -> None:
    value = compat.days_ago(2)
    assert (value.hour, value.minute, value.tzinfo) == (0, 0, dt.timezone.utc)
    assert (dt.datetime.now(dt.timezone.utc) - value).days in (1, 2)


def test_variable_get_reads_the_configured_source() -> None:
    compat.configure(variables={"a": "1", "j": '{"x": [1]}'}.get)
    assert compat.Variable.get("a") == "1"
    assert compat.Variable.get("j", deserialize_json=True) == {"x": [1]}
    assert compat.Variable.get("missing", default_var="d") == "d"
    with pytest.raises(KeyError, match="Variable missing does not exist"):
        compat.Variable.get("missing")


def test_dag_decorator_and_task_groups() -> None:
    from dockyard import EmptyOperator
    from dockyard.taskgroup import TaskGroup

    @compat.dag(start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule=None)
    def grouped() -> None:
        start = EmptyOperator(task_id="start")
        with TaskGroup("outer") as outer:
            with TaskGroup("inner"):
                EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
            EmptyOperator(task_id="c")
        end = EmptyOperator(task_id="end")
        start >> outer >> end

    built = grouped()
    assert built.dag_id == "grouped"
    assert sorted(built.task_ids) == ["end", "outer.c", "outer.inner.a", "outer.inner.b", "start"]
    assert built.get_task("outer.inner.a").upstream_task_ids == {"start"}
    assert built.get_task("end").upstream_task_ids == {"outer.inner.b", "outer.c"}

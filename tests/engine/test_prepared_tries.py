"""Under a running scheduler, the tries of a chain are prepared from one import of their DAG file (a
preparation worker's), and a render that hangs fails only its own task, with the time limit in its error."""

from __future__ import annotations

import dataclasses

import pytest

from dockyard.settings import Settings
from dockyard.store import Store
from tests.engine.test_scheduler import env, run_once, states  # noqa: F401 - env is a fixture
from tests.helpers import write_dag

pytestmark = pytest.mark.engine

CHAIN = """
import multiprocessing, pathlib, time

with (pathlib.Path(__file__).parent / "imports.log").open("a") as log:  # who imported this file
    log.write(multiprocessing.current_process().name + "\\n")

def hang():
    time.sleep(600)

with DAG("reused", start_date=START, schedule=None, default_args=ARGS, user_defined_macros={"hang": hang}) as dag:
    first = DockerOperator(task_id="first", command="echo {{ ds }}")
    second = DockerOperator(task_id="second", command="echo got {{ ti.xcom_pull(task_ids='first') }}")
    third = DockerOperator(task_id="third", command="echo got {{ ti.xcom_pull(task_ids='second') }}")
    hangs = DockerOperator(task_id="hangs", command="echo {{ hang() }}")
    first >> second >> third >> hangs
"""


def test_a_chain_is_prepared_from_one_import_and_a_hanging_render_fails_alone(env: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, store = env
    settings = dataclasses.replace(settings, dag_file_processor_timeout=8)
    write_dag(settings.dags_folder, "reused", CHAIN)
    run_id = run_once(settings, store, "reused", timeout=180)
    assert states(store, "reused", run_id) == {
        "first": "success",
        "second": "success",
        "third": "success",
        "hangs": "failed",
    }
    assert str(store.get_xcom("reused", run_id, "third")).startswith("got got 20")  # each try's own XComs
    error = store.list_tries("reused", run_id, "hangs")[-1].error or ""
    assert "timed out after 8 s while preparing task 'hangs'" in error
    importers = (settings.dags_folder / "imports.log").read_text().splitlines()
    assert sum("worker" in name for name in importers) == 1, importers

"""The example DAGs the README points to run, and produce what their docs say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dockyard.scheduler import scheduler_running, trigger_run
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import wait_for

pytestmark = pytest.mark.engine
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dags"


@pytest.fixture
def store_and_settings(tmp_path: Path, engine: docker.APIClient) -> Iterator[tuple[Settings, Store]]:
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DAGS_FOLDER": str(EXAMPLES)})
    store = Store.open(settings)
    yield settings, store
    # The examples carry no test label: remove what this installation left, and the example volume.
    instance = store.instance_id()
    for container in engine.containers(all=True, filters={"label": f"dockyard.instance={instance}"}):
        engine.remove_container(container["Id"], force=True, v=True)
    store.close()


def test_examples_run_and_pass_their_results(
    store_and_settings: tuple[Settings, Store], engine: docker.APIClient
) -> None:
    settings, store = store_and_settings
    volume_existed = any(v["Name"] == "dockyard-example-data" for v in engine.volumes().get("Volumes") or [])
    with scheduler_running(settings, store, create_scheduled_runs=False) as scheduler:  # only triggered runs
        assert sorted(scheduler.dags) == ["daily_report", "etl_pipeline", "fan_out_fan_in", "hello_dockyard"]
        runs = {dag_id: trigger_run(settings, store, dag).run_id for dag_id, dag in scheduler.dags.items()}
        for dag_id, run_id in runs.items():
            wait_for(lambda d=dag_id, r=run_id: store.get_run(d, r).state in ("success", "failed"), 90, dag_id)  # type: ignore[misc]
    assert {d: store.get_run(d, r).state for d, r in runs.items()} == dict.fromkeys(runs, "success")
    etl = runs["etl_pipeline"]
    assert store.get_xcom("etl_pipeline", etl, "extract") == "120"
    summary = store.get_xcom("etl_pipeline", etl, "transform")
    assert summary["rows"] == 120 and summary["valid"] is True
    assert store.get_xcom("etl_pipeline", etl, "load").startswith("loaded 120 rows for ")
    assert store.get_xcom("fan_out_fan_in", runs["fan_out_fan_in"], "join") == "totals 0,10,20,30"
    assert store.get_xcom("hello_dockyard", runs["hello_dockyard"], "answer").startswith("upstream said greeted-")
    assert int(store.get_xcom("daily_report", runs["daily_report"], "inventory")) >= 1
    if not volume_existed:
        engine.remove_volume("dockyard-example-data", force=True)

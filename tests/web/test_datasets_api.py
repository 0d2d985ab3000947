"""Data-aware scheduling end to end on the real engine: a DockerOperator producer's outlets trigger a consumer
whose command renders ``triggering_dataset_events``; the API's dataset endpoints show both, in Airflow's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import docker
import pytest
import requests

from dockyard.runs import trigger_run
from dockyard.scheduler import scheduler_running
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.users import create_user
from tests.helpers import wait_for, write_dag
from tests.web.conftest import ADMIN, start_server, stop_server

pytestmark = pytest.mark.engine

DAGS = """
from airflow.datasets import Dataset

ORDERS = Dataset("s3://lake/orders?day=1")
with DAG("orders_in", start_date=START, schedule=None, default_args=ARGS) as producer:
    DockerOperator(task_id="load", command="echo loaded", outlets=[ORDERS])
with DAG("orders_report", start_date=START, schedule=[ORDERS], default_args=ARGS,
         user_defined_macros={"ORDERS": ORDERS}) as consumer:
    DockerOperator(
        task_id="report",
        command=(
            "echo {{ dag_run.run_type }} "
            "{{ (triggering_dataset_events.values() | first | first).source_dag_run.dag_id }} "
            "{{ triggering_dataset_events['s3://lake/orders?day=1'] | length }} "
            "{{ (triggering_asset_events.values() | first | first).source_task_id }} "
            "{{ triggering_asset_events[ORDERS][0].extra | tojson }}"
        ),
    )
"""


@pytest.fixture
def lake(tmp_path: Path, engine: docker.APIClient) -> Iterator[tuple[Settings, Store]]:
    write_dag(tmp_path / "dags", "lake", DAGS)
    settings = Settings.from_env(
        {"DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_DAGS_FOLDER": str(tmp_path / "dags")}
    )
    store = Store.open(settings)
    create_user(store, *ADMIN, "admin")
    yield settings, store
    store.close()


def test_a_producer_triggers_the_consumer_and_the_api_shows_the_datasets(lake: tuple[Settings, Store]) -> None:
    settings, store = lake
    with scheduler_running(settings, store) as scheduler:
        produced = trigger_run(settings, store, scheduler.dags["orders_in"])

        def consumer_done() -> str | None:
            runs = store.list_runs("orders_report")
            return runs[0].run_id if runs and runs[0].state in ("success", "failed") else None

        run_id = wait_for(consumer_done, 90, "the consumer's dataset-triggered run")
    assert store.get_run("orders_report", run_id).state == "success"
    assert store.get_xcom("orders_report", run_id, "report") == "dataset_triggered orders_in 1 load {}"

    server, url = start_server(settings, store)
    try:

        def get(path: str, **params: object) -> requests.Response:
            return requests.get(url + "/api/v1" + path, params=params, auth=ADMIN, timeout=30)  # type: ignore[arg-type]

        listed = get("/datasets").json()
        assert listed["total_entries"] == 1
        [dataset] = listed["datasets"]
        assert dataset["uri"] == "s3://lake/orders?day=1"
        assert [d["dag_id"] for d in dataset["consuming_dags"]] == ["orders_report"]
        assert [(t["dag_id"], t["task_id"]) for t in dataset["producing_tasks"]] == [("orders_in", "load")]
        one = get("/datasets/" + quote(dataset["uri"], safe=""))
        assert one.status_code == 200 and one.json() == dataset
        missing = get("/datasets/" + quote("s3://nowhere", safe=""))
        assert missing.status_code == 404 and "GET /api/v1/datasets" in missing.json()["detail"]
        assert get("/datasets", uri_pattern="nothing-like-it").json() == {"datasets": [], "total_entries": 0}
        assert get("/datasets", dag_ids="orders_in,other").json()["total_entries"] == 1
        bad = get("/datasets", order_by="password")
        assert bad.status_code == 400 and "order_by" in bad.json()["detail"]

        events = get("/datasets/events", source_dag_id="orders_in").json()
        assert events["total_entries"] == 1
        [event] = events["dataset_events"]
        assert (event["dataset_uri"], event["source_task_id"], event["source_run_id"]) == (
            dataset["uri"],
            "load",
            produced.run_id,
        )
        assert [(r["dag_id"], r["dag_run_id"]) for r in event["created_dagruns"]] == [("orders_report", run_id)]
        assert get("/datasets/events", source_dag_id="orders_report").json()["total_entries"] == 0
        assert requests.get(url + "/api/v1/datasets", timeout=30).status_code == 401
        json.dumps(event)  # plain JSON all the way
    finally:
        stop_server(server)

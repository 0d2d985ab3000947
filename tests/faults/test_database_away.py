"""The PostgreSQL database refuses every connection for 30 s while a task finishes.

The test's own database is closed to connections (``ALLOW_CONNECTIONS false``) and its sessions are
ended; the shared server keeps running for everybody else. The scheduler must stay up, keep the exited
container while its result cannot be written, record it once the database is back, and finish the run
with each task started once and no container left.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.faults.harness import Installation
from tests.helpers import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.slow]

OUTAGE = 30
DAG = """
with DAG("DAG_ID", start_date=START, schedule=None, default_args=ARGS) as dag:
    first = DockerOperator(task_id="first", command=["sh", "-c", "echo working; sleep 3; echo first-value"])
    second = DockerOperator(task_id="second", command=["sh", "-c", "echo second-value"])
    first >> second
"""


class Outage:
    """Closes one database to new connections and ends its sessions; the server stays up."""

    def __init__(self, url: str, admin_url: str) -> None:
        self.name = make_url(url).database
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def begin(self) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"ALTER DATABASE {self.name} ALLOW_CONNECTIONS false")
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )

    def end(self) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"ALTER DATABASE {self.name} ALLOW_CONNECTIONS true")
        self.admin.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no server to lose
def test_a_result_waits_out_a_database_outage(
    installation: Callable[..., Installation],
    database_url: str,
    postgres_admin_url: str,
    record_property: Callable[[str, object], None],
) -> None:
    postgres_url = database_url
    dockyard = installation(DAG, database_url=postgres_url)
    run_id = dockyard.trigger()
    scheduler = dockyard.scheduler()
    wait_for(lambda: dockyard.containers(status="running"), 60, "the first container to run")
    outage = Outage(postgres_url, postgres_admin_url)
    outage.begin()
    try:
        began = time.monotonic()
        wait_for(lambda: dockyard.containers(status="exited"), 30, "the first container to exit")
        with pytest.raises(sa.exc.OperationalError):
            dockyard.store.engine.dispose()
            with dockyard.store.engine.connect():
                pass  # the fault is real: nobody reaches the database
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - began)))
        assert scheduler.poll() is None, dockyard.scheduler_log()
        assert len(dockyard.containers(status="exited")) == 1, "the container went before its result was written"
    finally:
        outage.end()
    back = time.monotonic()
    wait_for(lambda: dockyard.task_states(run_id)["first"][0] == "success", 60, "the result to be recorded")
    record_property("recorded_after_s", round(time.monotonic() - back, 1))
    assert dockyard.wait_finished(run_id) == "success", dockyard.scheduler_log()
    dockyard.stop(scheduler)
    assert dockyard.task_states(run_id) == {"first": ("success", 1), "second": ("success", 1)}
    assert dockyard.store.get_xcom(dockyard.dag_id, run_id, "first") == "first-value"
    record_property("starts", dockyard.starts())
    assert dockyard.starts() == 2
    assert dockyard.containers() == []

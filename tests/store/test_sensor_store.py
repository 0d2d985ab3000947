"""Reschedules in the store (SQLite and PostgreSQL): every ``task_reschedule`` row, claim and poke history belongs
to one task instance, ``map_index`` included, so the instances of a mapped sensor in reschedule mode wait, poke
and time out each on its own; and migration 0010 keys the table's index by the map index."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dockyard.errors import ConflictError
from dockyard.store import Store, TaskState
from dockyard.store.db import create_db_engine, current_revision, migrate
from dockyard.store.models import Base
from dockyard.store.sensors import claim_poke, list_reschedules, poke_history, reschedule_try

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
TASKS = [{"task_id": "wait", "retries": 2}, {"task_id": "plain"}]


def started(store: Store) -> None:
    """A run whose mapped sensor ``wait`` has three instances, each in its first try, and a plain sensor."""
    store.create_run("s", "r1", logical_date=START, run_type="manual")
    store.start_run("s", "r1", TASKS)
    store.expand_task("s", "r1", "wait", 3)
    for index in range(3):
        assert store.claim_try("s", "r1", "wait", index) == 1
    store.set_ti_state("s", "r1", ["plain"], TaskState.SCHEDULED)
    assert store.claim_try("s", "r1", "plain") == 1


def test_each_mapped_instance_is_rescheduled_claimed_and_timed_on_its_own(store: Store) -> None:
    started(store)
    soon, later = START + dt.timedelta(minutes=1), START + dt.timedelta(minutes=5)
    poked = [START - dt.timedelta(seconds=30 - i) for i in range(3)]
    assert reschedule_try(store, "s", "r1", "wait", 1, map_index=0, at=soon, poked_at=poked[0])
    assert reschedule_try(store, "s", "r1", "wait", 1, map_index=2, at=later, poked_at=poked[2])
    assert not reschedule_try(store, "s", "r1", "wait", 1, at=soon)  # no unmapped instance once it is expanded
    assert not reschedule_try(store, "s", "r1", "wait", 2, map_index=1, at=soon)  # not its try: ignored
    assert reschedule_try(store, "s", "r1", "plain", 1, at=later)

    instances = {ti.map_index: ti for ti in store.list_mapped("s", "r1", "wait")[0]}
    assert {i: ti.state for i, ti in instances.items()} == {
        0: "up_for_reschedule",
        1: "running",
        2: "up_for_reschedule",
    }
    assert (instances[0].next_retry_at, instances[1].next_retry_at, instances[2].next_retry_at) == (soon, None, later)
    assert [t.state for t in store.list_tries("s", "r1", "wait", 2)] == ["up_for_reschedule"]
    assert [t.state for t in store.list_tries("s", "r1", "wait", 1)] == ["running"]

    with pytest.raises(ConflictError, match=r"task 'wait' \(map_index 1\) of run 'r1' is no longer waiting"):
        claim_poke(store, "s", "r1", "wait", map_index=1)  # running, not waiting for a poke
    with pytest.raises(ConflictError, match="task 'wait' of run 'r1' is no longer waiting"):
        claim_poke(store, "s", "r1", "wait")  # the unmapped instance is gone
    assert claim_poke(store, "s", "r1", "wait", map_index=0, job_id=7) == 1  # the same try number: a poke
    again = store.get_task_instance("s", "r1", "wait", 0)
    assert (again.state, again.try_number, again.next_retry_at, again.queued_by_job_id) == ("running", 1, None, 7)
    assert again.start_date == instances[0].start_date  # the instance started at its first poke, as in Airflow
    assert store.get_task_instance("s", "r1", "wait", 2).state == "up_for_reschedule"  # untouched by 0's claim
    with pytest.raises(ConflictError):
        claim_poke(store, "s", "r1", "wait", map_index=0)  # claimed once only
    assert reschedule_try(store, "s", "r1", "wait", 1, map_index=0, at=later, poked_at=START + dt.timedelta(minutes=1))

    rows = {i: list_reschedules(store, "s", "r1", "wait", map_index=i) for i in range(3)}
    assert {i: [(r.map_index, r.try_number) for r in found] for i, found in rows.items()} == {
        0: [(0, 1), (0, 1)],
        1: [],
        2: [(2, 1)],
    }
    assert [r.reschedule_date for r in rows[0]] == [soon, later]
    assert [r.start_date for r in rows[2]] == [poked[2]]
    assert [(r.map_index, r.reschedule_date) for r in list_reschedules(store, "s", "r1", "plain")] == [(-1, later)]
    assert list_reschedules(store, "s", "r1", "wait", map_index=0, try_number=2) == []

    # Each instance's timeout counts from its own first poke; its backoff from its own count of unmet pokes.
    assert poke_history(store, "s", "r1", "wait", first_try=1, try_number=1, map_index=0) == (poked[0], 2)
    assert poke_history(store, "s", "r1", "wait", first_try=1, try_number=1, map_index=2) == (poked[2], 1)
    assert poke_history(store, "s", "r1", "wait", first_try=1, try_number=1, map_index=1) == (None, 0)
    assert poke_history(store, "s", "r1", "wait", first_try=1, try_number=1) == (None, 0)  # not the plain task's


def test_a_mapped_sensor_expanded_anew_forgets_the_pokes_of_its_old_instances(store: Store) -> None:
    started(store)
    for index in range(3):
        assert reschedule_try(store, "s", "r1", "wait", 1, map_index=index, at=START)
    assert reschedule_try(store, "s", "r1", "plain", 1, at=START)
    assert store.clear("s", "r1", ["wait"]) == 3
    store.collapse_mapped("s", "r1", "wait")  # the new instances count their tries from 1 again
    assert all(list_reschedules(store, "s", "r1", "wait", map_index=i) == [] for i in range(3))
    assert len(list_reschedules(store, "s", "r1", "plain")) == 1  # another task's pokes stay


def test_migration_0010_keys_reschedules_by_map_index(database_url: str) -> None:
    """A database at 0009 with a reschedule row of an unmapped sensor: it keeps the row, as map index -1."""
    from alembic import command

    from dockyard.store.db import _config

    engine = create_db_engine(database_url)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0009_notes")
        connection.execute(
            sa.text(
                "INSERT INTO dag_run (dag_id, run_id, logical_date, run_type, state, external_trigger, conf) "
                "VALUES ('s', 'r1', :t, 'manual', 'running', true, '{}')"
            ),
            {"t": START},
        )
        connection.execute(
            sa.text(
                "INSERT INTO task_reschedule (dag_id, run_id, task_id, try_number, start_date, end_date, duration, "
                "reschedule_date) VALUES ('s', 'r1', 'wait', 1, :t, :t, 0.5, :t)"
            ),
            {"t": START},
        )
    assert current_revision(engine) == "0009_notes"
    assert migrate(engine, force=True) is True
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes("task_reschedule")}
    assert indexes["idx_task_reschedule_ti"] == ["dag_id", "run_id", "task_id", "map_index", "try_number"]
    store = Store(engine)
    assert [(r.map_index, r.try_number) for r in list_reschedules(store, "s", "r1", "wait")] == [(-1, 1)]
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    store.close()

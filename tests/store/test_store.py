"""The store on real SQLite and real PostgreSQL: every test runs on both."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dockyard.errors import ConflictError, NotFoundError
from dockyard.store import DagRecord, RunState, Store, TaskState, TryResult
from dockyard.store.db import create_db_engine, current_revision, head_revision, migrate
from dockyard.store.models import Base

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 1, 31, tzinfo=UTC)
TASKS = [{"task_id": "a", "retries": 1}, {"task_id": "b", "retries": 0}]


def record(dag_id: str = "etl", paused: bool | None = None) -> DagRecord:
    return DagRecord(
        dag_id=dag_id,
        fileloc=f"/dags/{dag_id}.py",
        schedule="@daily",
        description=None,
        tags=["t"],
        max_active_runs=2,
        max_active_tasks=4,
        is_paused_upon_creation=paused,
        structure={"tasks": [{"task_id": "a"}]},
    )


def started_run(store: Store, run_id: str = "r1") -> None:
    store.sync_dags([record()], {})
    when = WHEN if run_id == "r1" else WHEN + dt.timedelta(days=1)
    store.create_run("etl", run_id, logical_date=when, run_type="manual")
    store.start_run("etl", run_id, TASKS)
    store.set_ti_state("etl", run_id, ["a", "b"], TaskState.SCHEDULED)


def test_migrations_are_idempotent_and_match_the_models(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    assert migrate(store.engine, force=True) is False
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert len(store.instance_id()) == 32
    assert store.pool_slots() == {"default_pool": 128}


def test_times_come_back_timezone_aware(store: Store) -> None:
    started_run(store)
    run = store.get_run("etl", "r1")
    assert run.logical_date == WHEN and run.logical_date.tzinfo is not None
    local = dt.datetime(2024, 2, 1, 7, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    store.create_run("etl", "r2", logical_date=local, run_type="manual")
    assert store.get_run("etl", "r2").logical_date == WHEN + dt.timedelta(days=1)


def test_dag_sync_keeps_paused_state_and_records_import_errors(store: Store) -> None:
    store.sync_dags([record("a"), record("b", paused=True)], {"/dags/bad.py": "bad.py:3: NameError"})
    assert {d.dag_id: d.is_paused for d in store.list_dags()} == {"a": False, "b": True}
    store.set_paused("a", True)
    store.sync_dags([record("a")], {})
    assert [(d.dag_id, d.is_paused) for d in store.list_dags()] == [("a", True)]  # b vanished: inactive
    assert store.list_import_errors() == []
    with pytest.raises(NotFoundError, match="no DAG 'zz'"):
        store.set_paused("zz", True)


def test_a_run_id_or_logical_date_twice_is_a_conflict(store: Store) -> None:
    started_run(store)
    with pytest.raises(ConflictError, match="already has a run with run_id 'r1'"):
        store.create_run("etl", "r1", logical_date=WHEN + dt.timedelta(hours=1), run_type="manual")
    with pytest.raises(ConflictError, match="or logical date 2024-01-31T00:00:00"):
        store.create_run("etl", "other", logical_date=WHEN, run_type="manual")


def test_a_try_is_claimed_once_and_a_late_result_is_ignored(store: Store) -> None:
    started_run(store)
    assert store.claim_try("etl", "r1", "a") == 1
    with pytest.raises(ConflictError, match="no longer waiting to run"):
        store.claim_try("etl", "r1", "a")
    store.record_container("etl", "r1", "a", 1, "c0ffee")
    assert store.get_task_instance("etl", "r1", "a").container_id == "c0ffee"
    # A person marks it failed meanwhile: the try's own result no longer counts.
    store.set_ti_state("etl", "r1", ["a"], TaskState.FAILED)
    late = TryResult(state=TaskState.SUCCESS, xcom="x", push_xcom=True)
    assert store.finish_try("etl", "r1", "a", 1, late) is False
    assert store.get_task_instance("etl", "r1", "a").state == "failed"
    assert store.get_xcom("etl", "r1", "a") is None
    assert [t.state for t in store.list_tries("etl", "r1", "a")] == ["success"]


def test_a_branchs_skips_are_written_with_its_success(store: Store) -> None:
    """The tasks a branch skips change in the transaction that records its success (a scheduler pass in between
    would otherwise find them free to start); a task already on its way is left alone."""
    started_run(store)
    store.set_ti_state("etl", "r1", ["b"], None)
    store.claim_try("etl", "r1", "a")
    done = TryResult(state=TaskState.SUCCESS, xcom="b", push_xcom=True)
    assert store.finish_try("etl", "r1", "a", 1, done, skips=["b"]) is True
    b = store.get_task_instance("etl", "r1", "b")
    assert (b.state, b.end_date is not None) == ("skipped", True)
    store.clear("etl", "r1", ["a", "b"], {"a": 0, "b": 0})
    store.set_ti_state("etl", "r1", ["a"], TaskState.SCHEDULED)
    store.set_ti_state("etl", "r1", ["b"], TaskState.QUEUED)
    store.claim_try("etl", "r1", "a")
    assert store.finish_try("etl", "r1", "a", 2, done, skips=["b"]) is True
    assert store.get_task_instance("etl", "r1", "b").state == "queued"  # already on its way: left alone


def test_retry_then_success_keeps_every_try_and_the_xcom(store: Store) -> None:
    started_run(store)
    store.claim_try("etl", "r1", "a")
    failed = TryResult(state=TaskState.FAILED, exit_code=3, error="exited with code 3")
    assert store.finish_try("etl", "r1", "a", 1, failed, retry_at=WHEN) is True
    assert store.get_task_instance("etl", "r1", "a").state == "up_for_retry"
    store.set_ti_state("etl", "r1", ["a"], TaskState.SCHEDULED, only_if=[TaskState.UP_FOR_RETRY])
    assert store.claim_try("etl", "r1", "a") == 2
    value = {"rows": [1, 2], "note": None}
    store.finish_try("etl", "r1", "a", 2, TryResult(state=TaskState.SUCCESS, xcom=value, push_xcom=True, exit_code=0))
    assert store.get_xcom("etl", "r1", "a") == value
    tries = store.list_tries("etl", "r1", "a")
    assert [(t.try_number, t.state, t.exit_code, t.error) for t in tries] == [
        (1, "up_for_retry", 3, "exited with code 3"),
        (2, "success", 0, None),
    ]


def test_a_try_that_never_started_is_given_back(store: Store) -> None:
    started_run(store)
    store.claim_try("etl", "r1", "b")
    store.requeue_unstarted("etl", "r1", "b", 1, "restart")
    ti = store.get_task_instance("etl", "r1", "b")
    assert (ti.state, ti.try_number) == ("scheduled", 0)
    assert store.list_tries("etl", "r1", "b") == []


def test_clear_gives_retries_anew_and_reopens_the_run(store: Store) -> None:
    started_run(store)
    store.claim_try("etl", "r1", "a")
    store.finish_try("etl", "r1", "a", 1, TryResult(state=TaskState.SUCCESS, xcom=1, push_xcom=True))
    store.finish_run("etl", "r1", RunState.SUCCESS)
    assert store.clear("etl", "r1", ["a"], {"a": 2}) == 1
    ti = store.get_task_instance("etl", "r1", "a")
    assert (ti.state, ti.try_number, ti.max_tries) == (None, 1, 3)
    assert store.get_xcom("etl", "r1", "a") is None
    assert store.get_run("etl", "r1").state == "running"
    store.set_ti_state("etl", "r1", ["a"], TaskState.SCHEDULED)
    store.claim_try("etl", "r1", "a")
    with pytest.raises(ConflictError, match="is running; stop it before clearing it"):
        store.clear("etl", "r1", ["a"])


def test_running_counts_and_delete(store: Store) -> None:
    started_run(store)
    store.claim_try("etl", "r1", "a")
    assert store.running_counts() == ({"etl": 1}, {"default_pool": 1})
    store.delete_run("etl", "r1")
    assert store.list_task_instances("etl") == []
    with pytest.raises(NotFoundError, match="has no run 'r1'"):
        store.get_run("etl", "r1")


def test_variables(store: Store) -> None:
    store.set_variable("bucket", "s3://x", "where data goes")
    store.set_variable("bucket", "s3://y")
    assert store.get_variable("bucket") == "s3://y"
    assert [v.key for v in store.list_variables()] == ["bucket"]
    store.delete_variable("bucket")
    with pytest.raises(NotFoundError, match="set it with `dockyard variables set bucket VALUE`"):
        store.get_variable("bucket")


def test_a_bad_database_url_is_a_clear_error() -> None:
    from dockyard.errors import StoreError

    with pytest.raises(StoreError, match="is not a database URL"):
        create_db_engine("not a url")
    with pytest.raises(StoreError, match="is not supported; use SQLite or PostgreSQL"):
        create_db_engine("mysql://u:p@h/db")
    engine = create_db_engine("postgresql+psycopg://u:secretpw@127.0.0.1:1/db")
    with pytest.raises(StoreError) as info:
        migrate(engine)
    assert "cannot reach the database postgresql+psycopg://u:***@127.0.0.1:1/db" in str(info.value)
    assert "secretpw" not in str(info.value)


def test_xcom_values_keep_plain_data(store: Store) -> None:
    started_run(store)
    store.claim_try("etl", "r1", "a")
    value = {"day": dt.date(2024, 1, 2), "at": WHEN, "pair": (1, 2), "raw": b"ok"}
    store.finish_try("etl", "r1", "a", 1, TryResult(state=TaskState.SUCCESS, xcom=value, push_xcom=True))
    assert store.get_xcom("etl", "r1", "a") == {
        "day": "2024-01-02",
        "at": "2024-01-31T00:00:00+00:00",
        "pair": [1, 2],
        "raw": "ok",
    }


def test_migration_0005_binds_tokens_to_user_uids_and_keeps_clear_variables(database_url: str) -> None:
    """A database at 0004 with a user, its token, a token of a deleted user and a clear-text variable."""
    from alembic import command

    from dockyard.store.db import _config

    engine = create_db_engine(database_url)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        now = dt.datetime(2024, 1, 1)
        connection.execute(
            sa.text(
                "INSERT INTO dockyard_user (username, password_hash, role, created_at) "
                "VALUES ('ann', 'h', 'viewer', :t)"
            ),
            {"t": now},
        )
        for digest, user in (("a" * 64, "ann"), ("b" * 64, "gone")):
            connection.execute(
                sa.text("INSERT INTO api_token (digest, username, created_at) VALUES (:d, :u, :t)"),
                {"d": digest, "u": user, "t": now},
            )
        connection.execute(sa.text("INSERT INTO variable (key, val) VALUES ('bucket', 's3://clear')"))
    assert current_revision(engine) == "0004"
    assert migrate(engine, force=True) is True
    store = Store(engine)
    user = store.get_user("ann")
    assert user is not None and user.uid and len(user.uid) == 32
    assert [t.digest for t in store.list_tokens()] == ["a" * 64]  # the orphan token is gone
    assert store.token_owner("a" * 64, dt.datetime.now(UTC)) is not None
    row = store.get_variable_row("bucket")
    assert row is not None and row.val == "s3://clear" and row.is_encrypted is False
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    store.close()


def test_dag_files_read_encrypted_variables_in_clear(store: Store, tmp_path: Path) -> None:
    """``Variable.get`` in a DAG file (the parse-time lookups) decrypts what the store holds encrypted."""
    from dockyard.compat.airflow import Variable, _sources
    from dockyard.preparation import configure_lookups
    from dockyard.settings import Settings
    from dockyard.variables import Variables

    url = store.engine.url.render_as_string(hide_password=False)
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_DATABASE_URL": url})
    Variables(settings, store).set("bucket", "s3://encrypted-at-rest")
    assert store.find_variable("bucket") != "s3://encrypted-at-rest"  # the row holds a Fernet token
    saved = dict(_sources)
    lazy = configure_lookups(settings)
    try:
        assert Variable.get("bucket") == "s3://encrypted-at-rest"
    finally:
        _sources.clear()
        _sources.update(saved)
        if lazy._store is not None:
            lazy._store.close()

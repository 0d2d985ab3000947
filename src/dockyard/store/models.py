"""The metadata schema: DAGs, runs, task instances with every try, XComs, variables, pools, parse errors.

Times are stored in UTC and always come back timezone-aware (:class:`UtcDateTime`), on SQLite as on
PostgreSQL. The schema is created and changed only by the Alembic migrations next to this module.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dockyard.states import RunState, TaskState

UTC = dt.timezone.utc


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored as UTC and returned timezone-aware; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; give it a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _states(kind: type[enum.Enum]) -> Enum:
    """A state column: the enum's values as text (no database enum type, so no migration per new state)."""
    return Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=50,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class DagModel(Base):
    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule: Mapped[str | None] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    next_dagrun: Mapped[dt.datetime | None]
    last_parsed_at: Mapped[dt.datetime | None]
    structure: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The serialized DAG: its tasks, their operators, trigger rules and upstream ids (for UI and CLI)."""


class ImportErrorModel(Base):
    __tablename__ = "import_error"

    filename: Mapped[str] = mapped_column(String(1000), primary_key=True)
    message: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[dt.datetime]


class DagRunModel(Base):
    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", name="dag_run_dag_id_run_id_key"),
        UniqueConstraint("dag_id", "logical_date", name="dag_run_dag_id_logical_date_key"),
        Index("idx_dag_run_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    logical_date: Mapped[dt.datetime]
    data_interval_start: Mapped[dt.datetime | None]
    data_interval_end: Mapped[dt.datetime | None]
    run_type: Mapped[str] = mapped_column(String(50))
    state: Mapped[RunState] = mapped_column(_states(RunState))
    conf: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queued_at: Mapped[dt.datetime | None]
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    external_trigger: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by_job_id: Mapped[int | None] = mapped_column(Integer)
    """The scheduler that decides this run's task states until ``claimed_until`` (renewed on each pass)."""
    claimed_until: Mapped[dt.datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    """A person's note on the run (Airflow's ``setNote``)."""


class TaskInstanceModel(Base):
    __tablename__ = "task_instance"
    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="task_instance_dag_run_fkey",
            ondelete="CASCADE",
        ),
        Index("idx_task_instance_state", "state"),
    )

    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1, server_default="-1")
    """Which instance of a mapped task (0, 1, ...); -1 for a task that is not mapped, or not expanded yet."""
    state: Mapped[TaskState | None] = mapped_column(_states(TaskState))
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    operator: Mapped[str | None] = mapped_column(String(100))
    pool: Mapped[str] = mapped_column(String(256), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    queued_at: Mapped[dt.datetime | None]
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)
    next_retry_at: Mapped[dt.datetime | None]
    container_id: Mapped[str | None] = mapped_column(String(100))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    rendered: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The rendered template fields of the last try, secrets masked."""
    rendered_map_index: Mapped[str | None] = mapped_column(String(250))
    """A mapped instance's name from ``map_index_template`` (Airflow's column of the same name)."""
    queued_by_job_id: Mapped[int | None] = mapped_column(Integer)
    """The scheduler job that runs the current try (Airflow's column of the same name); another scheduler
    takes the try over when that job stops heartbeating."""
    waiting_reason: Mapped[str | None] = mapped_column(Text)
    """Why a scheduled task instance has not started: no engine of the pool has room for what it asks."""
    engine: Mapped[str | None] = mapped_column(String(100))
    """The engine of the pool the current try runs on."""
    note: Mapped[str | None] = mapped_column(Text)
    """A person's note on the task instance (Airflow's ``setNote``)."""


class TaskTryModel(Base):
    """One row per try of a task instance: the history the UI and ``tasks logs --try`` show."""

    __tablename__ = "task_try"
    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], name="task_try_dag_run_fkey", ondelete="CASCADE"
        ),
    )

    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1, server_default="-1")
    try_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[TaskState] = mapped_column(_states(TaskState))
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    container_id: Mapped[str | None] = mapped_column(String(100))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    # What the try's container used, sampled from the engine while it ran (dockyard.container.usage).
    image_digest: Mapped[str | None] = mapped_column(String(1000))
    """The image's registry digest (``repo@sha256:...``), or its ID (``sha256:...``) for a local image."""
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    cpu_time_seconds: Mapped[float | None] = mapped_column(Float)


class XComModel(Base):
    __tablename__ = "xcom"
    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], name="xcom_dag_run_fkey", ondelete="CASCADE"
        ),
    )

    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1, server_default="-1")
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    timestamp: Mapped[dt.datetime]


class VariableModel(Base):
    __tablename__ = "variable"

    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    val: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """``val`` holds a Fernet token (Airflow's column of the same name); rows written before 0005 hold clear text."""


class ConnectionModel(Base):
    """A stored connection; ``password`` and ``extra`` hold Fernet tokens, never clear text."""

    __tablename__ = "connection"

    conn_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    conn_type: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(500))
    schema: Mapped[str | None] = mapped_column(String(500))
    login: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)
    port: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[str | None] = mapped_column(Text)


class UserModel(Base):
    """A person or API client of the web app; ``password_hash`` is an argon2 hash."""

    __tablename__ = "dockyard_user"
    __table_args__ = (UniqueConstraint("uid", name="dockyard_user_uid_key"),)

    username: Mapped[str] = mapped_column(String(250), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(500))
    first_name: Mapped[str | None] = mapped_column(String(250))
    last_name: Mapped[str | None] = mapped_column(String(250))
    created_at: Mapped[dt.datetime]
    uid: Mapped[str | None] = mapped_column(String(64))
    """Random and never reused: tokens and sessions name it, so a new user of the same name gets none of them."""


class ApiTokenModel(Base):
    """A bearer token of a user; only its SHA-256 digest is kept (the token itself is shown once)."""

    __tablename__ = "api_token"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    user_uid: Mapped[str | None] = mapped_column(String(64))
    """The ``uid`` of the user the token was made for; a token counts only while that user exists."""
    expires_at: Mapped[dt.datetime | None]


class WebSessionModel(Base):
    """A logged-in browser session: the cookie names ``session_id``; logging out deletes the row."""

    __tablename__ = "web_session"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 digest of the random id the cookie carries."""
    user_uid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class MetaModel(Base):
    """Facts about this installation, such as its ``instance_id`` (a label on every container it starts)."""

    __tablename__ = "dockyard_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class JobModel(Base):
    """A scheduler (or ``dags test`` / ``tasks run``) process, with its heartbeat: Airflow's ``job`` table."""

    __tablename__ = "job"
    __table_args__ = (Index("idx_job_state_heartbeat", "job_type", "state", "latest_heartbeat"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20))
    """``running`` while it heartbeats; ``success`` once it stopped cleanly; ``failed`` once another
    scheduler found it dead and took its work over."""
    hostname: Mapped[str] = mapped_column(String(500))
    pid: Mapped[int] = mapped_column(Integer)
    unixname: Mapped[str | None] = mapped_column(String(1000))
    start_date: Mapped[dt.datetime]
    end_date: Mapped[dt.datetime | None]
    latest_heartbeat: Mapped[dt.datetime]


class PoolModel(Base):
    __tablename__ = "pool"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)


class TaskRescheduleModel(Base):
    """One row per poke of a sensor in reschedule mode that did not find its condition (Airflow's
    ``task_reschedule``): when the poke ran and when the next one is due. The first row of a try tells when
    the sensor started waiting, which its ``timeout`` counts from."""

    __tablename__ = "task_reschedule"
    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="task_reschedule_dag_run_fkey",
            ondelete="CASCADE",
        ),
        Index("idx_task_reschedule_ti", "dag_id", "run_id", "task_id", "map_index", "try_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    """The mapped instance that poked (-1: the task is not mapped); each instance reschedules on its own."""
    try_number: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[dt.datetime]
    end_date: Mapped[dt.datetime]
    duration: Mapped[float] = mapped_column(Float)
    reschedule_date: Mapped[dt.datetime]


# -- data-aware scheduling (datasets, Airflow 3's assets) ------------------------------------------------------


class DatasetModel(Base):
    """A dataset some DAG names (in a schedule or a task's outlets) or that had an event."""

    __tablename__ = "dataset"
    __table_args__ = (UniqueConstraint("uri", name="dataset_uri_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(3000))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    is_orphaned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """No active DAG names it any more (its events are kept)."""


class DatasetEventModel(Base):
    """One update of a dataset: a producer task's success (or an event posted by hand)."""

    __tablename__ = "dataset_event"
    __table_args__ = (
        ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="dataset_event_dataset_fkey", ondelete="CASCADE"),
        Index("idx_dataset_event_dataset_timestamp", "dataset_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(Integer)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_dag_id: Mapped[str | None] = mapped_column(String(250))
    source_task_id: Mapped[str | None] = mapped_column(String(250))
    source_run_id: Mapped[str | None] = mapped_column(String(250))
    source_map_index: Mapped[int] = mapped_column(Integer, default=-1)
    timestamp: Mapped[dt.datetime]


class DatasetDagRunQueueModel(Base):
    """A dataset that had an event since the consumer DAG's last dataset-triggered run was created."""

    __tablename__ = "dataset_dag_run_queue"
    __table_args__ = (
        ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="ddrq_dataset_fkey", ondelete="CASCADE"),
    )

    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    created_at: Mapped[dt.datetime]


class DagRunDatasetEventModel(Base):
    """The events that triggered a run (its ``triggering_dataset_events``); the run's ``id`` names it."""

    __tablename__ = "dagrun_dataset_event"
    __table_args__ = (
        ForeignKeyConstraint(["dag_run_id"], ["dag_run.id"], name="dagrun_dataset_event_run_fkey", ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["event_id"], ["dataset_event.id"], name="dagrun_dataset_event_event_fkey", ondelete="CASCADE"
        ),
    )

    dag_run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class DatasetReferenceModel(Base):
    """Who names a dataset: a DAG's schedule (``task_id`` empty) or a task's outlets (for the API's
    ``consuming_dags`` and ``producing_tasks``)."""

    __tablename__ = "dataset_reference"
    __table_args__ = (
        ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="dataset_reference_dataset_fkey", ondelete="CASCADE"),
    )

    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    """Empty for the DAG's schedule; the producing task's id for an outlet."""
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class EventLogModel(Base):
    """Who changed what, and when: every write through the API, the UI and the CLI (Airflow's ``log`` table)."""

    __tablename__ = "event_log"
    __table_args__ = (Index("idx_event_log_dag_id", "dag_id"), Index("idx_event_log_when", "dttm"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dttm: Mapped[dt.datetime]
    event: Mapped[str] = mapped_column(String(60))
    owner: Mapped[str | None] = mapped_column(String(500))
    dag_id: Mapped[str | None] = mapped_column(String(250))
    task_id: Mapped[str | None] = mapped_column(String(250))
    run_id: Mapped[str | None] = mapped_column(String(250))
    try_number: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[str | None] = mapped_column(Text)


class EngineStatusModel(Base):
    """The engine pool as the scheduler last read it: one row per engine (:mod:`dockyard.store.engines`)."""

    __tablename__ = "engine_status"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    healthy: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(20))
    labels: Mapped[list[Any]]
    capacity_cpus: Mapped[float] = mapped_column(Float)
    capacity_memory: Mapped[int] = mapped_column(BigInteger)
    capacity_gpus: Mapped[int] = mapped_column(Integer)
    used_cpus: Mapped[float] = mapped_column(Float)
    used_memory: Mapped[int] = mapped_column(BigInteger)
    used_gpus: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer)
    checked_at: Mapped[dt.datetime]


class ParsingRequestModel(Base):
    """A DAG file to parse again at the DAG processor's next look (Airflow's ``dag_priority_parsing_request``):
    the web server asks through this table because it never imports a DAG file itself."""

    __tablename__ = "dag_priority_parsing_request"

    fileloc: Mapped[str] = mapped_column(String(1000), primary_key=True)
    requested_at: Mapped[dt.datetime]


class ConnectionTestModel(Base):
    """A connection test the web server asks a scheduler to run (the web reaches no engine): the connection
    travels Fernet-encrypted in ``secret``, which the answer clears; the asker deletes the row once read."""

    __tablename__ = "connection_test"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conn_id: Mapped[str] = mapped_column(String(250))
    secret: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[dt.datetime]
    taken_at: Mapped[dt.datetime | None]
    status: Mapped[str | None] = mapped_column(String(20))
    """None until answered, then ``success`` or ``failed``."""
    message: Mapped[str | None] = mapped_column(Text)

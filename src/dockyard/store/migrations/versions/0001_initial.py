"""The first schema: dags, parse errors, runs, task instances and their tries, XComs, variables, pools.

Revision ID: 0001
Revises:
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("fileloc", sa.Text, nullable=False),
        sa.Column("is_paused", sa.Boolean, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("schedule", sa.String(250)),
        sa.Column("description", sa.Text),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("max_active_runs", sa.Integer, nullable=False),
        sa.Column("max_active_tasks", sa.Integer, nullable=False),
        sa.Column("next_dagrun", TZ),
        sa.Column("last_parsed_at", TZ),
        sa.Column("structure", sa.JSON, nullable=False),
    )
    op.create_table(
        "import_error",
        sa.Column("filename", sa.String(1000), primary_key=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("timestamp", TZ, nullable=False),
    )
    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("logical_date", TZ, nullable=False),
        sa.Column("data_interval_start", TZ),
        sa.Column("data_interval_end", TZ),
        sa.Column("run_type", sa.String(50), nullable=False),
        sa.Column("state", sa.String(50), nullable=False),
        sa.Column("conf", sa.JSON, nullable=False),
        sa.Column("queued_at", TZ),
        sa.Column("start_date", TZ),
        sa.Column("end_date", TZ),
        sa.Column("external_trigger", sa.Boolean, nullable=False),
        sa.UniqueConstraint("dag_id", "run_id", name="dag_run_dag_id_run_id_key"),
        sa.UniqueConstraint("dag_id", "logical_date", name="dag_run_dag_id_logical_date_key"),
    )
    op.create_index("idx_dag_run_state", "dag_run", ["state"])
    run_key = (["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"])
    op.create_table(
        "task_instance",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("state", sa.String(50)),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("max_tries", sa.Integer, nullable=False),
        sa.Column("operator", sa.String(100)),
        sa.Column("pool", sa.String(256), nullable=False),
        sa.Column("pool_slots", sa.Integer, nullable=False),
        sa.Column("priority_weight", sa.Integer, nullable=False),
        sa.Column("queued_at", TZ),
        sa.Column("start_date", TZ),
        sa.Column("end_date", TZ),
        sa.Column("duration", sa.Float),
        sa.Column("next_retry_at", TZ),
        sa.Column("container_id", sa.String(100)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("hostname", sa.String(1000)),
        sa.Column("rendered", sa.JSON),
        sa.ForeignKeyConstraint(*run_key, name="task_instance_dag_run_fkey", ondelete="CASCADE"),
    )
    op.create_index("idx_task_instance_state", "task_instance", ["state"])
    op.create_table(
        "task_try",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("try_number", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(50), nullable=False),
        sa.Column("start_date", TZ),
        sa.Column("end_date", TZ),
        sa.Column("container_id", sa.String(100)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("hostname", sa.String(1000)),
        sa.ForeignKeyConstraint(*run_key, name="task_try_dag_run_fkey", ondelete="CASCADE"),
    )
    op.create_table(
        "xcom",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("timestamp", TZ, nullable=False),
        sa.ForeignKeyConstraint(*run_key, name="xcom_dag_run_fkey", ondelete="CASCADE"),
    )
    op.create_table(
        "variable",
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("val", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
    )
    op.create_table(
        "pool",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("description", sa.Text),
    )
    op.create_table(
        "dockyard_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(
        sa.table("dockyard_meta", sa.column("key", sa.String), sa.column("value", sa.Text)),
        [{"key": "instance_id", "value": uuid.uuid4().hex}],
    )
    op.bulk_insert(
        sa.table(
            "pool", sa.column("name", sa.String), sa.column("slots", sa.Integer), sa.column("description", sa.Text)
        ),
        [{"name": "default_pool", "slots": 128, "description": "Default pool"}],
    )


def downgrade() -> None:
    for table in (
        "dockyard_meta",
        "pool",
        "variable",
        "xcom",
        "task_try",
        "task_instance",
        "dag_run",
        "import_error",
        "dag",
    ):
        op.drop_table(table)

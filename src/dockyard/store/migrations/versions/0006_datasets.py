"""Data-aware scheduling: datasets, their events, the queue of datasets each consumer DAG waits on, the events
that triggered each run, and which DAGs and tasks name each dataset.

Revision ID: 0006_datasets
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_datasets"
down_revision = "0006_mapping"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(3000), nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_orphaned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("uri", name="dataset_uri_key"),
    )
    op.create_table(
        "dataset_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.Integer, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("source_dag_id", sa.String(250)),
        sa.Column("source_task_id", sa.String(250)),
        sa.Column("source_run_id", sa.String(250)),
        sa.Column("source_map_index", sa.Integer, nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="dataset_event_dataset_fkey", ondelete="CASCADE"),
    )
    op.create_index("idx_dataset_event_dataset_timestamp", "dataset_event", ["dataset_id", "timestamp"])
    op.create_table(
        "dataset_dag_run_queue",
        sa.Column("dataset_id", sa.Integer, primary_key=True),
        sa.Column("target_dag_id", sa.String(250), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="ddrq_dataset_fkey", ondelete="CASCADE"),
    )
    op.create_table(
        "dagrun_dataset_event",
        sa.Column("dag_run_id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, primary_key=True),
        sa.ForeignKeyConstraint(
            ["dag_run_id"], ["dag_run.id"], name="dagrun_dataset_event_run_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["dataset_event.id"], name="dagrun_dataset_event_event_fkey", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "dataset_reference",
        sa.Column("dataset_id", sa.Integer, primary_key=True),
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name="dataset_reference_dataset_fkey", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("dataset_reference")
    op.drop_table("dagrun_dataset_event")
    op.drop_table("dataset_dag_run_queue")
    op.drop_index("idx_dataset_event_dataset_timestamp", table_name="dataset_event")
    op.drop_table("dataset_event")
    op.drop_table("dataset")

"""Scheduler jobs with heartbeats, the job that runs each try, and a run's claim by one scheduler.

Revision ID: 0007_jobs
Revises: 0006_eventlog
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_jobs"
down_revision = "0006_eventlog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_type", sa.String(30), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("hostname", sa.String(500), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("unixname", sa.String(1000)),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_date", sa.DateTime(timezone=True)),
        sa.Column("latest_heartbeat", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("idx_job_state_heartbeat", "job", ["job_type", "state", "latest_heartbeat"])
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("queued_by_job_id", sa.Integer))
    with op.batch_alter_table("dag_run") as batch:
        batch.add_column(sa.Column("claimed_by_job_id", sa.Integer))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("dag_run") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by_job_id")
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("queued_by_job_id")
    op.drop_index("idx_job_state_heartbeat", "job")
    op.drop_table("job")

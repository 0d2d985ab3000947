"""The engine pool's statuses: one row per engine, written by the scheduler, read by the UI, API and CLI.

Revision ID: 0007_engines
Revises: 0007_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_engines"
down_revision = "0007_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_status",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("healthy", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("capacity_cpus", sa.Float, nullable=False),
        sa.Column("capacity_memory", sa.BigInteger, nullable=False),
        sa.Column("capacity_gpus", sa.Integer, nullable=False),
        sa.Column("used_cpus", sa.Float, nullable=False),
        sa.Column("used_memory", sa.BigInteger, nullable=False),
        sa.Column("used_gpus", sa.Integer, nullable=False),
        sa.Column("running", sa.Integer, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engine_status")

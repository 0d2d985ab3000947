"""Sensors in reschedule mode: ``task_reschedule``, one row per poke that found its condition unmet.

Revision ID: 0006_sensors
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_sensors"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_reschedule",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("reschedule_date", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="task_reschedule_dag_run_fkey",
            ondelete="CASCADE",
        ),
    )
    op.create_index("idx_task_reschedule_ti", "task_reschedule", ["dag_id", "run_id", "task_id", "try_number"])


def downgrade() -> None:
    op.drop_index("idx_task_reschedule_ti", table_name="task_reschedule")
    op.drop_table("task_reschedule")

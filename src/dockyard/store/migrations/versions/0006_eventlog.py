"""Event log: who changed what and when, through the API, the UI or the CLI.

Revision ID: 0006_eventlog
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_eventlog"
down_revision = "0006_datasets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dttm", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("owner", sa.String(500)),
        sa.Column("dag_id", sa.String(250)),
        sa.Column("task_id", sa.String(250)),
        sa.Column("run_id", sa.String(250)),
        sa.Column("try_number", sa.Integer),
        sa.Column("extra", sa.Text),
    )
    op.create_index("idx_event_log_dag_id", "event_log", ["dag_id"])
    op.create_index("idx_event_log_when", "event_log", ["dttm"])


def downgrade() -> None:
    op.drop_index("idx_event_log_when", "event_log")
    op.drop_index("idx_event_log_dag_id", "event_log")
    op.drop_table("event_log")

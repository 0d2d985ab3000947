"""Why a scheduled task instance waits (no engine has room for it), as the UI shows it.

Revision ID: 0008_waiting
Revises: 0007_engines
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_waiting"
down_revision = "0007_engines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("waiting_reason", sa.Text))
        batch.add_column(sa.Column("engine", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("engine")
        batch.drop_column("waiting_reason")

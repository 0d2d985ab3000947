"""What each try's container used: the image digest it ran, its peak memory and its CPU time.

Revision ID: 0012_usage
Revises: 0011_reschedule_map
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_usage"
down_revision = "0011_reschedule_map"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task_try", sa.Column("image_digest", sa.String(1000)))
    op.add_column("task_try", sa.Column("peak_memory_bytes", sa.BigInteger))
    op.add_column("task_try", sa.Column("cpu_time_seconds", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("task_try") as batch:
        batch.drop_column("cpu_time_seconds")
        batch.drop_column("peak_memory_bytes")
        batch.drop_column("image_digest")

"""Reschedules per mapped instance: ``task_reschedule.map_index`` (-1 for a task that is not mapped), and the
index that finds a task instance's reschedules covering it, so each instance of a mapped sensor in reschedule mode
reads only its own pokes (Airflow's ``task_reschedule`` is keyed the same way).

Revision ID: 0011_reschedule_map
Revises: 0010_conn_tests
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_reschedule_map"
down_revision = "0010_conn_tests"
branch_labels = None
depends_on = None


def _has_map_index() -> bool:
    """Whether ``task_reschedule`` has the column already (0006_sensors made it; a hand-made table may not)."""
    return any(c["name"] == "map_index" for c in sa.inspect(op.get_bind()).get_columns("task_reschedule"))


def upgrade() -> None:
    if not _has_map_index():
        with op.batch_alter_table("task_reschedule") as batch:
            batch.add_column(sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"))
    op.drop_index("idx_task_reschedule_ti", table_name="task_reschedule")
    op.create_index(
        "idx_task_reschedule_ti", "task_reschedule", ["dag_id", "run_id", "task_id", "map_index", "try_number"]
    )


def downgrade() -> None:
    # The column stays: 0006_sensors made it, and the rows of mapped instances keep their map index.
    op.drop_index("idx_task_reschedule_ti", table_name="task_reschedule")
    op.create_index("idx_task_reschedule_ti", "task_reschedule", ["dag_id", "run_id", "task_id", "try_number"])

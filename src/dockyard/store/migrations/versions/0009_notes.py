"""Notes on runs and task instances (Airflow's ``setNote``), and requests to parse a DAG file again
(Airflow's ``PUT /parseDagFile``).

Revision ID: 0009_notes
Revises: 0008_waiting
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_notes"
down_revision = "0008_waiting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dag_run", sa.Column("note", sa.Text))
    op.add_column("task_instance", sa.Column("note", sa.Text))
    op.create_table(
        "dag_priority_parsing_request",
        sa.Column("fileloc", sa.String(1000), primary_key=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dag_priority_parsing_request")
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("dag_run") as batch:
        batch.drop_column("note")

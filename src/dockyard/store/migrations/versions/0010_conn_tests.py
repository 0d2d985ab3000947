"""Connection tests the web server asks a scheduler to run (a registry login needs the engine).

Revision ID: 0010_conn_tests
Revises: 0009_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_conn_tests"
down_revision = "0009_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection_test",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conn_id", sa.String(250), nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(20)),
        sa.Column("message", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("connection_test")

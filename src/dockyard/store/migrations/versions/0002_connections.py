"""Connections, with their password and extra encrypted at rest.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection",
        sa.Column("conn_id", sa.String(250), primary_key=True),
        sa.Column("conn_type", sa.String(500)),
        sa.Column("description", sa.Text),
        sa.Column("host", sa.String(500)),
        sa.Column("schema", sa.String(500)),
        sa.Column("login", sa.Text),
        sa.Column("password", sa.Text),
        sa.Column("port", sa.Integer),
        sa.Column("extra", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("connection")

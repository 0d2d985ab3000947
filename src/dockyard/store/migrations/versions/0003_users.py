"""Users of the web app and API (argon2 password hashes, a role each).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dockyard_user",
        sa.Column("username", sa.String(250), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("email", sa.String(500)),
        sa.Column("first_name", sa.String(250)),
        sa.Column("last_name", sa.String(250)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dockyard_user")

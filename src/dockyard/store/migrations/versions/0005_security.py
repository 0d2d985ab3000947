"""Security: user uids that tokens and sessions name, token expiry, server-side web sessions, and
variables encrypted at rest (``is_encrypted``; rows written before stay readable as clear text).

Revision ID: 0005
Revises: 0004
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dockyard_user", sa.Column("uid", sa.String(64)))
    users = sa.table("dockyard_user", sa.column("username", sa.String), sa.column("uid", sa.String))
    tokens = sa.table(
        "api_token", sa.column("username", sa.String), sa.column("user_uid", sa.String), sa.column("digest", sa.String)
    )
    op.add_column("api_token", sa.Column("user_uid", sa.String(64)))
    op.add_column("api_token", sa.Column("expires_at", sa.DateTime(timezone=True)))
    connection = op.get_bind()
    for (username,) in connection.execute(sa.select(users.c.username)).all():
        uid = uuid.uuid4().hex
        connection.execute(sa.update(users).where(users.c.username == username).values(uid=uid))
        connection.execute(sa.update(tokens).where(tokens.c.username == username).values(user_uid=uid))
    # A token whose user is gone must not pass to a later user of that name.
    connection.execute(sa.delete(tokens).where(tokens.c.user_uid.is_(None)))
    with op.batch_alter_table("dockyard_user") as batch:
        batch.create_unique_constraint("dockyard_user_uid_key", ["uid"])
    op.create_table(
        "web_session",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("user_uid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("variable", sa.Column("is_encrypted", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("variable", "is_encrypted")
    op.drop_table("web_session")
    op.drop_column("api_token", "expires_at")
    op.drop_column("api_token", "user_uid")
    with op.batch_alter_table("dockyard_user") as batch:
        batch.drop_constraint("dockyard_user_uid_key", type_="unique")
        batch.drop_column("uid")

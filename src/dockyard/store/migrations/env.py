"""Alembic's entry point. dockyard runs migrations programmatically (``dockyard db migrate``), handing
in the connection through ``config.attributes``."""

from alembic import context

from dockyard.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

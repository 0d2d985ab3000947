"""Dynamic task mapping: task instances, tries and XComs are kept per ``map_index`` (-1 for a task that is
not mapped, as in Airflow), and a mapped instance may have a name from ``map_index_template``.

Revision ID: 0006_mapping
Revises: 0005
"""

import warnings

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import SAWarning

revision = "0006_mapping"
down_revision = "0006_sensors"
branch_labels = None
depends_on = None

KEYS = {
    "task_instance": ["dag_id", "run_id", "task_id", "map_index"],
    "task_try": ["dag_id", "run_id", "task_id", "map_index", "try_number"],
    "xcom": ["dag_id", "run_id", "task_id", "map_index", "key"],
}


def _primary_key(table: str, columns: list[str], *, add: bool) -> None:
    """Give ``table`` the primary key ``columns``, adding (or dropping) the ``map_index`` column with it.

    SQLite cannot alter a primary key, so the table is copied (Alembic's batch mode); PostgreSQL drops the
    old key by its default name and adds the new one."""
    column = sa.Column("map_index", sa.Integer, nullable=False, server_default="-1")
    if op.get_bind().dialect.name == "sqlite":
        # The copied table's reflected columns still say they are the key; SQLAlchemy warns that the new key
        # named here wins, which is the point of this step.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*specifies columns .* as primary_key=True", category=SAWarning)
            _copy_with_key(table, columns, column, add=add)
        return
    op.drop_constraint(f"{table}_pkey", table, type_="primary")
    if add:
        op.add_column(table, column)
    else:
        op.drop_column(table, "map_index")
    op.create_primary_key(f"{table}_pkey", table, columns)


def _copy_with_key(table: str, columns: list[str], column: sa.Column[int], *, add: bool) -> None:
    with op.batch_alter_table(table, recreate="always") as batch:
        if add:
            batch.add_column(column)
        else:
            batch.drop_column("map_index")
        batch.create_primary_key(f"{table}_pkey", columns)


def upgrade() -> None:
    for table, columns in KEYS.items():
        _primary_key(table, columns, add=True)
    op.add_column("task_instance", sa.Column("rendered_map_index", sa.String(250)))


def downgrade() -> None:
    op.drop_column("task_instance", "rendered_map_index")
    for table, columns in KEYS.items():
        op.execute(sa.text(f"DELETE FROM {table} WHERE map_index > 0"))  # only one instance per task fits
        _primary_key(table, [c for c in columns if c != "map_index"], add=False)

"""Whole-database chores the CLI asks for: rebuild the schema, purge old rows, delete a DAG's every record.

Kept apart from :class:`~dockyard.store.api.Store`'s everyday operations because each of them deletes a lot at
once; every function is one transaction, and each says what it removed, so ``--dry-run`` can say it first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dockyard.store.api import Store
from dockyard.store.db import migrate, reachable
from dockyard.store.models import (
    Base,
    DagModel,
    DagRunModel,
    ImportErrorModel,
    TaskInstanceModel,
    TaskTryModel,
    WebSessionModel,
    XComModel,
)

CLEANABLE = ("dag_run", "task_instance", "xcom", "import_error", "session")
"""The tables ``db clean`` purges, under Airflow's names (``session``: expired web sessions)."""


def reset_schema(engine: Engine, *, rebuild: bool = True) -> list[str]:
    """Drop every dockyard table (and Alembic's version table), then migrate anew unless ``rebuild`` is False.

    Only dockyard's own tables are dropped: a database shared with other software keeps the rest.
    """
    with reachable(engine):
        present = set(sa.inspect(engine).get_table_names())
        ours = [t for t in reversed(Base.metadata.sorted_tables) if t.name in present]
        with engine.begin() as connection:
            for table in ours:
                table.drop(connection)
            if "alembic_version" in present:
                connection.exec_driver_sql("DROP TABLE alembic_version")
    if rebuild:
        migrate(engine, force=True)
    return [t.name for t in ours]


@dataclass
class Purge:
    """What ``db clean`` removed (or, on a dry run, would remove) from one table."""

    table: str
    rows: int


def clean(store: Store, before: dt.datetime, tables: list[str], *, dry_run: bool) -> list[Purge]:
    """Delete rows older than ``before`` from ``tables`` (names of :data:`CLEANABLE`).

    As in Airflow, each DAG's latest scheduled run is kept whatever its age: the scheduler computes the next
    run from it. A run's task instances, tries and XComs go with it.
    """
    done: list[Purge] = []
    with store.session() as s:
        if "dag_run" in tables:
            latest = (
                sa.select(DagRunModel.dag_id, sa.func.max(DagRunModel.logical_date).label("newest"))
                .where(DagRunModel.run_type == "scheduled")
                .group_by(DagRunModel.dag_id)
                .subquery()
            )
            keep = sa.select(DagRunModel.id).join(
                latest, sa.and_(latest.c.dag_id == DagRunModel.dag_id, latest.c.newest == DagRunModel.logical_date)
            )
            old = s.execute(
                sa.select(DagRunModel.dag_id, DagRunModel.run_id).where(
                    DagRunModel.logical_date < before, DagRunModel.id.not_in(keep)
                )
            ).all()
            for dag_id, run_id in [] if dry_run else old:
                for run_model in (XComModel, TaskTryModel, TaskInstanceModel, DagRunModel):
                    s.execute(sa.delete(run_model).where(run_model.dag_id == dag_id, run_model.run_id == run_id))
            done.append(Purge("dag_run", len(old)))
        dated: tuple[tuple[str, type[Base], sa.orm.InstrumentedAttribute[dt.datetime | None]], ...] = (
            ("task_instance", TaskInstanceModel, TaskInstanceModel.start_date),
            ("xcom", XComModel, XComModel.timestamp),
            ("import_error", ImportErrorModel, ImportErrorModel.timestamp),
            ("session", WebSessionModel, WebSessionModel.expires_at),
        )
        for table, model, column in dated:
            if table not in tables:
                continue
            condition = column < before
            count = int(s.scalar(sa.select(sa.func.count()).select_from(model).where(condition)) or 0)
            if not dry_run and count:
                if model is TaskInstanceModel:
                    _delete_task_instances(s, condition)
                else:
                    s.execute(sa.delete(model).where(condition))
            done.append(Purge(table, count))
    return done


def _delete_task_instances(s: sa.orm.Session, condition: sa.ColumnElement[bool]) -> None:
    """Task instances with their tries and XComs (those have no foreign key to the task instance)."""
    keys = s.execute(
        sa.select(TaskInstanceModel.dag_id, TaskInstanceModel.run_id, TaskInstanceModel.task_id).where(condition)
    ).all()
    for dag_id, run_id, task_id in keys:
        for model in (XComModel, TaskTryModel, TaskInstanceModel):
            s.execute(sa.delete(model).where(model.dag_id == dag_id, model.run_id == run_id, model.task_id == task_id))


def delete_dag(store: Store, dag_id: str) -> int:
    """Every record of ``dag_id`` (its runs, task instances, tries, XComs, the DAG row); how many rows went.

    The DAG comes back at the next parse if its file still defines it, as in Airflow.
    """
    store.get_dag(dag_id)
    removed = 0
    with store.session() as s:
        for model in (XComModel, TaskTryModel, TaskInstanceModel, DagRunModel, DagModel):
            result = s.execute(sa.delete(model).where(model.dag_id == dag_id))
            removed += int(result.rowcount)  # type: ignore[attr-defined]
    return removed

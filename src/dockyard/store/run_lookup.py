"""Filtered reads that the command line needs beyond :class:`~dockyard.store.api.Store`'s everyday ones.

Every filter runs in the database (``dags list-runs -s/-e``, ``tasks clear -s/-e``), so a DAG with years of runs
is not read whole to print a page of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa

from dockyard.store.api import Store
from dockyard.store.models import DagRunModel


def find_runs(
    store: Store,
    dag_id: str,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    states: Iterable[str] | None = None,
    exclude_run_types: Iterable[str] = (),
    limit: int | None = None,
) -> list[DagRunModel]:
    """Runs of ``dag_id`` with a logical date in ``[start, end]``, newest first."""
    query = sa.select(DagRunModel).where(DagRunModel.dag_id == dag_id)
    if start is not None:
        query = query.where(DagRunModel.logical_date >= start)
    if end is not None:
        query = query.where(DagRunModel.logical_date <= end)
    if states is not None:
        query = query.where(DagRunModel.state.in_([str(s) for s in states]))
    excluded = list(exclude_run_types)
    if excluded:
        query = query.where(DagRunModel.run_type.not_in(excluded))
    query = query.order_by(DagRunModel.logical_date.desc(), DagRunModel.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with store.session() as s:
        return list(s.scalars(query))


def run_at(store: Store, dag_id: str, when_or_run_id: str, logical_date: dt.datetime | None) -> DagRunModel | None:
    """The run Airflow's ``EXECUTION_DATE_OR_RUN_ID`` names: by run id first, then by logical date."""
    with store.session() as s:
        row = s.scalars(
            sa.select(DagRunModel).where(DagRunModel.dag_id == dag_id, DagRunModel.run_id == when_or_run_id)
        ).first()
        if row is None and logical_date is not None:
            row = s.scalars(
                sa.select(DagRunModel).where(DagRunModel.dag_id == dag_id, DagRunModel.logical_date == logical_date)
            ).first()
        return row

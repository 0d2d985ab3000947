"""``/api/v1``: Airflow 2's stable REST API (the ``v1.yaml`` of Airflow 2.10), one module per subject.

Paths, parameters and payloads follow Airflow's, so its clients and scripts work here. Errors are Airflow's
problem-details JSON. Connection passwords are write-only; sensitive variables read as ***. Lists filter,
order and page in the database (:mod:`dockyard.store.queries`).

A later ``/api/v2`` is a sibling package with its own router, included next to this one by
:mod:`dockyard.web.api`.
"""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.web.api_v1 import access, dags, events, monitor, notes, resources, runs, task_instances, xcoms
from dockyard.web.api_v1.common import admin_user, api_user, service

PREFIX = "/api/v1"
router = APIRouter(prefix=PREFIX)
# The batch routes (``/dags/~/dagRuns/list``) come before the routes whose path parameters would take them.
for module in (monitor, runs, notes, task_instances, dags, xcoms, events, resources, access):
    router.include_router(module.router)
root_router = monitor.root_router

__all__ = ["PREFIX", "admin_user", "api_user", "root_router", "router", "service"]

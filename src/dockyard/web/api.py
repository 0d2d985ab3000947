"""The HTTP API: each version of Airflow's REST API is a package of its own (``api_v1`` for Airflow 2's stable
``/api/v1``), gathered here into one router for the app; ``GET /health`` also answers at the root."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.web import api_v1
from dockyard.web.api_v1 import api_user, service

router = APIRouter()
router.include_router(api_v1.router)
router.include_router(api_v1.root_router)

__all__ = ["api_user", "router", "service"]

"""Where variables come from: ``DOCKYARD_VAR_<KEY>`` / ``AIRFLOW_VAR_<KEY>`` environment variables first
(as in Airflow), then the store."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.settings import Settings
from dockyard.store import Store


def variable_source(settings: Settings, store: Store | None) -> Callable[[str], str | None]:
    """A lookup ``key -> value or None`` for templates (``var.value.X``) and ``Variable.get``."""

    def find(key: str) -> str | None:
        for prefix in ("DOCKYARD_VAR_", "AIRFLOW_VAR_"):
            value = settings.engine_env.get(prefix + key.upper())
            if value is not None:
                return value
        return store.find_variable(key) if store is not None else None

    return find

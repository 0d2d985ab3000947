"""The metadata store: the only code that writes SQL (SQLAlchemy 2, Alembic migrations)."""

from dockyard.store.api import DagRecord, Store, TryResult, utcnow
from dockyard.store.models import FINISHED_STATES, RunState, TaskState

__all__ = ["FINISHED_STATES", "DagRecord", "RunState", "Store", "TaskState", "TryResult", "utcnow"]

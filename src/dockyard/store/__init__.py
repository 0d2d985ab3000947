"""The metadata store: the only code that writes SQL (SQLAlchemy 2, Alembic migrations)."""

from dockyard.states import FINISHED_STATES, RunState, TaskState
from dockyard.store.api import DagRecord, Store, TryResult, utcnow

__all__ = ["FINISHED_STATES", "DagRecord", "RunState", "Store", "TaskState", "TryResult", "utcnow"]

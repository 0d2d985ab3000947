"""The web app: an HTTP API under /api/v1 (paths and payloads after Airflow's stable REST API) and a
server-rendered UI, both behind a login. It reads and writes the store only; it asks the scheduler for
things (stop a task, run a trigger) through the store and a wake-up, so both can run on different hosts."""

from dockyard.web.app import create_app

__all__ = ["create_app"]

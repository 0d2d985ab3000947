"""Airflow's five built-in roles and what each may do, as ``(action, resource)`` pairs with Airflow's names.

- **Admin**: everything, users and roles too.
- **Op**: everything but users and roles: connections, pools, variables, the configuration.
- **User**: what a Viewer may, and change DAGs (pause, delete), trigger, clear, mark and delete runs and
  task instances; no connections, variables, pools or configuration.
- **Viewer**: read DAGs, their code, runs, task instances, logs, XComs, import errors, the audit log; change
  nothing, and no connections, variables, pools or configuration.
- **Public**: nothing (Airflow's role of anonymous visitors).

The store keeps a user's role in lower case (``op``); people and the API see Airflow's spelling (``Op``).
The web checks every route against :data:`PERMISSIONS` through :func:`allows`, and ``GET /api/v1/roles`` and
``/permissions`` list the same table, so what is shown is what is enforced.

Example::

    allows("user", EDIT, DAG_RUNS)        # True
    allows("user", CREATE, CONNECTIONS)   # False: that takes Op or Admin
"""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    """A role as the store keeps it."""

    ADMIN = "admin"
    OP = "op"
    USER = "user"
    VIEWER = "viewer"
    PUBLIC = "public"

    @property
    def airflow_name(self) -> str:
        """Airflow's spelling: ``Admin``, ``Op``, ``User``, ``Viewer``, ``Public``."""
        return self.value.capitalize()


READ = "can_read"
EDIT = "can_edit"
CREATE = "can_create"
DELETE = "can_delete"

DAGS = "DAGs"
DAG_CODE = "DAG Code"
DAG_RUNS = "DAG Runs"
DAG_DEPENDENCIES = "DAG Dependencies"
DAG_WARNINGS = "DAG Warnings"
DATASETS = "Datasets"
IMPORT_ERRORS = "ImportError"
JOBS = "Jobs"
PLUGINS = "Plugins"
TASK_INSTANCES = "Task Instances"
TASK_LOGS = "Task Logs"
XCOMS = "XComs"
AUDIT_LOGS = "Audit Logs"
WEBSITE = "Website"
MY_PROFILE = "My Profile"
MY_PASSWORD = "My Password"
CONFIG = "Configurations"
CONNECTIONS = "Connections"
POOLS = "Pools"
VARIABLES = "Variables"
PROVIDERS = "Providers"
TASK_RESCHEDULES = "Task Reschedules"
TRIGGERS = "Triggers"
SLA_MISSES = "SLA Misses"
CLUSTER_ACTIVITY = "Cluster Activity"
PASSWORDS = "Passwords"
ROLES = "Roles"
USERS = "Users"
PERMISSION_LIST = "Permissions"

_ALL = (READ, EDIT, CREATE, DELETE)

_VIEWER = [
    *((READ, r) for r in (DAGS, DAG_CODE, DAG_RUNS, DAG_DEPENDENCIES, DAG_WARNINGS, DATASETS, IMPORT_ERRORS)),
    *((READ, r) for r in (JOBS, PLUGINS, SLA_MISSES, TASK_INSTANCES, TASK_LOGS, XCOMS, AUDIT_LOGS, WEBSITE)),
    (READ, CLUSTER_ACTIVITY),
    (READ, MY_PROFILE),
    (EDIT, MY_PROFILE),
    (READ, MY_PASSWORD),
    (EDIT, MY_PASSWORD),
]
_USER = [
    *_VIEWER,
    (EDIT, DAGS),
    (DELETE, DAGS),
    *((a, r) for r in (TASK_INSTANCES, DAG_RUNS) for a in (CREATE, EDIT, DELETE)),
    (CREATE, DATASETS),
    (DELETE, DATASETS),
]
_OP = [
    *_USER,
    (READ, CONFIG),
    *((a, r) for r in (CONNECTIONS, POOLS, VARIABLES) for a in _ALL),
    (READ, PROVIDERS),
    (DELETE, XCOMS),
]
_ADMIN = [
    *_OP,
    (READ, TASK_RESCHEDULES),
    (READ, TRIGGERS),
    (READ, PASSWORDS),
    (EDIT, PASSWORDS),
    (READ, ROLES),
    (EDIT, ROLES),
    (READ, PERMISSION_LIST),
    *((a, USERS) for a in _ALL),
]

PERMISSIONS: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.ADMIN: tuple(_ADMIN),
    Role.OP: tuple(_OP),
    Role.USER: tuple(_USER),
    Role.VIEWER: tuple(_VIEWER),
    Role.PUBLIC: (),
}
"""Each role's ``(action, resource)`` pairs, in Airflow's names (its ``*_PERMISSIONS`` of the security manager)."""


def role_of(name: str) -> Role:
    """The role named ``name`` in any case (``Admin``, ``admin``); ValueError naming the five otherwise."""
    try:
        return Role(name.strip().lower())
    except ValueError:
        raise ValueError(f"{name!r} is not a role; use one of {', '.join(r.airflow_name for r in Role)}") from None


def allows(role: str, action: str, resource: str) -> bool:
    """May a user of ``role`` (as the store keeps it) do ``action`` on ``resource``? Unknown roles may nothing."""
    try:
        known = Role(role)
    except ValueError:
        return False
    return (action, resource) in PERMISSIONS[known]


def least_role_for(action: str, resource: str) -> Role | None:
    """The role with the fewest rights that may do ``action`` on ``resource`` (for error messages)."""
    for role in (Role.VIEWER, Role.USER, Role.OP, Role.ADMIN):
        if (action, resource) in PERMISSIONS[role]:
            return role
    return None

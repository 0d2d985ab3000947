"""Test-only fault injection: stop the process dead at one step of a task try.

``DOCKYARD_FAULT_KILL_AT`` (read by :meth:`Settings.from_env <dockyard.settings.Settings.from_env>`) names a
step; the first try that reaches it sends SIGKILL to its own process, exactly as a crash or the OOM killer
would, with nothing flushed and nothing cleaned up. The fault suite (``tests/faults``) uses it to prove that a
restarted scheduler finishes every try exactly once whichever step the last one died at. It is never set in
production; an unknown step is refused when the settings are read, so a typo cannot silently test nothing.

The steps, in the order a try passes them:

=========== =====================================================================================
``claimed`` the try is marked running (committed), no container exists yet
``created`` the container exists and the store knows its id; it has not started
``started`` the container runs
``exited``  the container has exited; its result is not recorded yet
``written`` the result is committed; the container has not been removed yet
=========== =====================================================================================
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

KILL_POINTS = ("claimed", "created", "started", "exited", "written")
"""The steps of a try at which ``DOCKYARD_FAULT_KILL_AT`` can stop the process."""


def reached(kill_at: str | None, point: str) -> None:
    """Kill this process with SIGKILL if ``kill_at`` names ``point`` (the test-only setting); else nothing."""
    if kill_at != point:
        return
    log.critical("DOCKYARD_FAULT_KILL_AT=%s: killing this process (a test-only fault)", point)
    os.kill(os.getpid(), signal.SIGKILL)

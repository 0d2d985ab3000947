"""What lets a try outlive trouble around its container: an engine that restarts, a stop that takes its
grace period, a scheduler that dies between recording a result and removing the container.

Docker-free except through :class:`~dockyard.container.engine.EngineClients`, whose one error boundary
every engine call here passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dockyard import defaults
from dockyard.container.spec import LABEL_PREFIX, ContainerSpec, EngineConfig
from dockyard.errors import EngineError, EngineUnreachableError

if TYPE_CHECKING:
    import docker

    from dockyard.container.engine import EngineClients


def engine_back(
    clients: EngineClients, engine: EngineConfig, deadline: float, lost: EngineUnreachableError
) -> docker.APIClient:
    """A client of ``engine`` once it answers again; ``lost`` is raised again if it does not by ``deadline``.

    A container keeps running while its engine restarts (``live-restore``), or is stopped with it; either
    way its exit code and output are still there when the engine is back, so the try is followed to its end
    instead of being failed and run again while the container it started may still be running."""
    while True:
        try:
            client = clients.get(engine)
            with clients.errors(engine, "the engine did not answer"):
                client.ping()
            return client
        except EngineError:
            if time.monotonic() >= deadline:
                raise lost from None
            time.sleep(defaults.DEFAULT_ENGINE_RETRY_SECONDS)


def with_removal_label(spec: ContainerSpec) -> dict[str, str]:
    """dockyard's own containers also carry their ``auto_remove``: a restarted scheduler that finds one exited,
    with its result already recorded, removes it as the try would have (and keeps a ``never`` one)."""
    if f"{LABEL_PREFIX}managed" not in spec.labels:
        return dict(spec.labels)
    return {**spec.labels, f"{LABEL_PREFIX}auto_remove": spec.auto_remove}


def in_background(action: Callable[..., None], *args: Any) -> None:
    """Run ``action`` in a thread of its own: a stop waits out the grace period, and the caller (a person's
    request, a run's deletion, a timeout) must not wait for each container in turn."""
    threading.Thread(target=action, args=args, name="dockyard-stop", daemon=True).start()

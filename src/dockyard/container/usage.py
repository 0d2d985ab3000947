"""What a try's container used: the image it ran (by digest), its peak memory and its CPU time.

The engine keeps these figures only while the container runs: once it exits, ``/containers/{id}/stats``
answers with zeros, and on cgroup v2 it never reports a high-water mark of memory at all. So one light
thread per runtime, :class:`UsageSampler`, reads every running try's stats once a
:data:`~dockyard.defaults.DEFAULT_USAGE_SAMPLE_SECONDS` (``one-shot``, so a read never waits for the
engine's two-sample CPU window) and keeps:

- **peak memory**: the largest "memory in use" seen, counted as ``docker stats`` counts it (usage less the
  inactive page cache). On cgroup v1 the engine also reports the kernel's own high-water mark
  (``max_usage``), which catches a spike between two samples; it is used when present.
- **CPU time**: the container's cumulative CPU time (``cpu_usage.total_usage``) at its last sample.
- **image digest**: the ``RepoDigests`` entry of the container's image when it came from a registry
  (``repo@sha256:...``), else the image ID (``sha256:...``).

The watcher threads never wait for the sampler: they register a container when it starts and take its
figures when it ends. The figures are best effort: a container that lives less than one sample period may
have none, the last second of CPU time before the exit is not seen, and after a scheduler restart the
sampling starts again at the re-attach (CPU time is cumulative, so it stays whole; a peak from before the
restart is kept only where the engine reports ``max_usage``).

Example::

    sampler = UsageSampler(clients)
    sampler.watch(engine, "dockyard/python:latest", container_id)
    ...  # the container runs and exits
    usage = sampler.finish(container_id)   # ContainerUsage(image_digest="sha256:...", peak_memory_bytes=..., ...)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard import defaults
from dockyard.container.spec import EngineConfig
from dockyard.errors import EngineError, EngineNotFoundError

if TYPE_CHECKING:
    from dockyard.container.engine import EngineClients

logger = logging.getLogger(__name__)


@dataclass
class ContainerUsage:
    """The figures of one try's container; ``None`` where the engine gave none."""

    image_digest: str | None = None
    peak_memory_bytes: int | None = None
    cpu_time_seconds: float | None = None
    samples: int = 0
    """How many stats samples the figures come from (0: the container ended before the first)."""


def memory_in_use(memory_stats: dict[str, Any]) -> int | None:
    """Bytes in use as ``docker stats`` counts them (less the inactive page cache), or the kernel's high-water
    mark less the same cache where the engine reports one (cgroup v1); ``None`` for an empty sample.

    >>> memory_in_use({"usage": 80, "max_usage": 120, "stats": {"total_inactive_file": 20}})
    100
    >>> memory_in_use({"usage": 80, "stats": {"inactive_file": 20}})
    60
    """
    usage = memory_stats.get("usage")
    if not isinstance(usage, int):
        return None
    stats = memory_stats.get("stats") or {}
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    top = memory_stats.get("max_usage")
    top = top if isinstance(top, int) and top >= usage else usage
    return max(top - (inactive if isinstance(inactive, int) and inactive < top else 0), 0)


def pick_digest(image: str, inspected: dict[str, Any]) -> str | None:
    """The image's ``RepoDigests`` entry for the repository ``image`` names (else its first one), or its ID.

    >>> pick_digest("reg:5000/app:1", {"Id": "sha256:ab", "RepoDigests": ["x@sha256:1", "reg:5000/app@sha256:2"]})
    'reg:5000/app@sha256:2'
    >>> pick_digest("app", {"Id": "sha256:ab", "RepoDigests": []})
    'sha256:ab'
    """
    digests = [str(d) for d in inspected.get("RepoDigests") or []]
    name = image.partition("@")[0]
    slash = name.rfind("/")
    repository = name[: slash + 1] + name[slash + 1 :].partition(":")[0]
    for digest in digests:
        if digest.partition("@")[0] == repository:
            return digest
    if digests:
        return digests[0]
    image_id = inspected.get("Id")
    return str(image_id) if image_id else None


@dataclass
class _Watched:
    engine: EngineConfig
    image: str
    usage: ContainerUsage = field(default_factory=ContainerUsage)
    due: float = 0.0
    resolved: bool = False
    """The image digest was looked up (found or not)."""


class UsageSampler:
    """One thread that samples the stats of every running container of a runtime (see the module docstring).

    Thread-safe. The thread starts with the first container and sleeps while none runs.
    """

    def __init__(self, clients: EngineClients, *, interval: float = defaults.DEFAULT_USAGE_SAMPLE_SECONDS) -> None:
        self.clients = clients
        self.interval = interval
        self._watched: dict[str, _Watched] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, engine: EngineConfig, image: str, container_id: str) -> None:
        """Start sampling ``container_id`` (just started, or re-attached after a restart)."""
        with self._cond:
            # The digest is looked up at once; the first stats wait half a period, as a container that ends
            # sooner has nothing worth a sample and the engine is busy starting others.
            self._watched[container_id] = _Watched(engine, image, due=time.monotonic() + self.interval / 2)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="dockyard-usage", daemon=True)
                self._thread.start()
            self._cond.notify()

    def finish(self, container_id: str, *, resolve: bool = True) -> ContainerUsage | None:
        """Stop sampling ``container_id`` and return its figures (``None``: it was never watched). With
        ``resolve``, the image digest is looked up here when the sampler had no time to (a container that
        ended at once)."""
        with self._cond:
            watched = self._watched.pop(container_id, None)
        if watched is None:
            return None
        if resolve and not watched.resolved:
            watched.usage.image_digest = self._digest(watched, container_id)
        return watched.usage

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [(cid, w, w.due <= now) for cid, w in self._watched.items() if w.due <= now or not w.resolved]
                if not due:
                    soonest = min((w.due for w in self._watched.values()), default=None)
                    self._cond.wait(None if soonest is None else max(soonest - now, 0.01))
                    continue
                for _, watched, sampled in due:
                    watched.due = now + self.interval if sampled else watched.due
            for container_id, watched, sampled in due:
                try:
                    self._sample(container_id, watched, stats_due=sampled)
                except Exception:  # the sampler must outlive any one container's failure
                    logger.exception("sampling the usage of container %s failed", container_id[:12])

    def _sample(self, container_id: str, watched: _Watched, *, stats_due: bool) -> None:
        if not watched.resolved:
            digest = None
            try:
                digest = self._digest(watched, container_id)
            finally:
                with self._cond:
                    watched.resolved = True  # found or not: asked once, so a failure cannot spin the loop
                    if self._watched.get(container_id) is watched:
                        watched.usage.image_digest = digest
        if not stats_due:
            return
        from docker.utils import version_gte

        try:
            client = self.clients.get(watched.engine)
            one_shot = True if version_gte(client.api_version, "1.41") else None
            with self.clients.errors(watched.engine, f"the engine could not read the stats of {container_id[:12]}"):
                stats = client.stats(container_id, stream=False, one_shot=one_shot)
        except EngineError:
            return  # gone or not answering: the figures so far stand
        memory = memory_in_use(stats.get("memory_stats") or {})
        cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
        if memory is None or not isinstance(cpu, int) or cpu <= 0:
            return  # a sample of a container that is not running (all zeros)
        with self._cond:
            if self._watched.get(container_id) is not watched:
                return  # finished meanwhile: its figures were handed over
            usage = watched.usage
            usage.peak_memory_bytes = max(usage.peak_memory_bytes or 0, memory)
            usage.cpu_time_seconds = max(usage.cpu_time_seconds or 0.0, cpu / 1e9)
            usage.samples += 1

    def _digest(self, watched: _Watched, container_id: str) -> str | None:
        """The digest of the image the container was created from (by the container's image ID, so a tag
        moved since does not matter; by the image's name if the container is already gone)."""
        try:
            client = self.clients.get(watched.engine)
            try:
                with self.clients.errors(watched.engine, f"the engine could not inspect container {container_id[:12]}"):
                    reference = str(client.inspect_container(container_id)["Image"])
            except EngineNotFoundError:
                reference = watched.image
            with self.clients.errors(watched.engine, f"the engine could not inspect image {reference}"):
                return pick_digest(watched.image, client.inspect_image(reference))
        except EngineError as exc:
            logger.debug("no image digest for container %s: %s", container_id[:12], exc)
            return None

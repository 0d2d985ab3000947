"""How the engine's stats become a try's figures (memory in use as ``docker stats`` counts it, on cgroup v1
and v2), which digest names an image, and how the task page writes sizes."""

from __future__ import annotations

from dockyard.container.usage import memory_in_use, pick_digest
from dockyard.web.ui import memory_text

# Shapes of `GET /containers/{id}/stats` memory_stats, as the engine reports them on each cgroup version.
CGROUP_V1 = {"usage": 80_000_000, "max_usage": 120_000_000, "stats": {"total_inactive_file": 20_000_000}}
CGROUP_V2 = {"usage": 80_000_000, "stats": {"inactive_file": 20_000_000}}


def test_memory_in_use_leaves_out_the_inactive_page_cache() -> None:
    assert memory_in_use(CGROUP_V2) == 60_000_000
    assert memory_in_use(CGROUP_V1) == 100_000_000  # the kernel's high-water mark, less the same cache
    assert memory_in_use({"usage": 5_000, "stats": {"inactive_file": 9_000}}) == 5_000  # a cache past usage: ignored
    assert memory_in_use({"usage": 5_000}) == 5_000
    assert memory_in_use({}) is None  # a container that is not running: no sample


def test_the_digest_is_the_registry_one_for_the_image_repository() -> None:
    inspected = {"Id": "sha256:aa", "RepoDigests": ["mirror/app@sha256:11", "127.0.0.1:5000/team/app@sha256:22"]}
    assert pick_digest("127.0.0.1:5000/team/app:1.4", inspected) == "127.0.0.1:5000/team/app@sha256:22"
    assert pick_digest("127.0.0.1:5000/team/app@sha256:22", inspected) == "127.0.0.1:5000/team/app@sha256:22"
    assert pick_digest("other/app", inspected) == "mirror/app@sha256:11"
    assert pick_digest("local:dev", {"Id": "sha256:aa", "RepoDigests": []}) == "sha256:aa"
    assert pick_digest("local:dev", {}) is None


def test_sizes_read_in_megabytes_and_gigabytes() -> None:
    assert memory_text(None) == ""
    assert memory_text(67_108_864) == "67.1 MB"
    assert memory_text(2_150_000_000) == "2.15 GB"

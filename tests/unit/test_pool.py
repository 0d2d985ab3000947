"""The engine pool's pure logic: the engines file, a task's request, and admission by free resources."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dockyard import BashOperator, DockerOperator
from dockyard.container.pool import (
    ALL_GPUS,
    EngineStatus,
    Reservation,
    Resources,
    WaitingForResources,
    admit,
    key_of_labels,
    load_pool,
    requested,
    task_key,
    wanted_labels,
)
from dockyard.container.pool_status import container_limits
from dockyard.container.spec import labels_for
from dockyard.errors import ConfigError, ContainerSpecError
from dockyard.settings import Settings

GB = 1024**3
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def status(name: str, *, cpus: float = 8, memory: int = 16 * GB, gpus: int = 0, **kwargs: object) -> EngineStatus:
    used = kwargs.pop("used", Resources())
    return EngineStatus(
        name=name,
        healthy=bool(kwargs.pop("healthy", True)),
        error=kwargs.pop("error", None),  # type: ignore[arg-type]
        capacity=Resources(cpus, memory, gpus),
        used=used,  # type: ignore[arg-type]
        running=0,
        checked_at=NOW,
        labels=frozenset(kwargs.pop("labels", ())),  # type: ignore[arg-type]
        task_keys=frozenset(kwargs.pop("task_keys", ())),  # type: ignore[arg-type]
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engines.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_the_pool_is_the_default_engine() -> None:
    (engine,) = load_pool(None, default_docker_url="tcp://10.0.0.5:2375")
    assert engine.name == "default"
    assert engine.config.urls == ("tcp://10.0.0.5:2375",)
    assert engine.mode == "container" and engine.labels == frozenset()


def test_an_engines_file_gives_names_labels_modes_tls_and_overrides(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-", encoding="utf-8")
    path = write(
        tmp_path,
        f"""
[[engine]]
name = "local"
url = "unix:///var/run/docker.sock"

[[engine]]
name = "gpu-box"
url = ["tcp://gpu-box:2376", "tcp://gpu-box-2:2376"]
labels = ["gpu", "default"]
mode = "swarm"
cpus = 32
memory = "64g"
gpus = 2
tls_ca_cert = "{ca}"
tls_verify = false
tls_hostname = "gpu-box"
api_version = "1.41"
""",
    )
    local, gpu = load_pool(path, default_docker_url="unix:///var/run/docker.sock")
    assert (local.name, local.config.urls, local.cpus, local.memory) == (
        "local",
        ("unix:///var/run/docker.sock",),
        None,
        None,
    )
    assert gpu.labels == {"gpu", "default"} and gpu.mode == "swarm"
    assert (gpu.cpus, gpu.memory, gpu.gpus) == (32.0, 64 * GB, 2)
    assert gpu.config.urls == ("tcp://gpu-box:2376", "tcp://gpu-box-2:2376")
    assert (gpu.config.tls_ca_cert, gpu.config.tls_verify, gpu.config.tls_hostname) == (str(ca), False, "gpu-box")
    assert gpu.config.api_version == "1.41"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('name = "a"\nurl = "ftp://x"', "engine 'a': url 'ftp://x' is not a Docker engine URL"),
        ('name = "a"', "engine 'a': key 'url'"),
        ('url = "unix:///x"', "engine number 1: key 'name' is None"),
        ('name = "a b"\nurl = "unix:///x"', "key 'name' is 'a b'; give a name of letters"),
        ('name = "a"\nurl = "unix:///x"\nmemory = "lots"', "engine 'a': key 'memory' is 'lots'; give bytes"),
        ('name = "a"\nurl = "unix:///x"\ncpus = 0', "engine 'a': key 'cpus' is 0; give the CPUs"),
        ('name = "a"\nurl = "unix:///x"\ngpus = -1', "engine 'a': key 'gpus' is -1"),
        ('name = "a"\nurl = "unix:///x"\nmode = "k8s"', "engine 'a': key 'mode' is 'k8s'; give \"container\""),
        ('name = "a"\nurl = "unix:///x"\nlabels = "gpu"', "engine 'a': key 'labels' is 'gpu'; give a list"),
        ('name = "a"\nurl = "unix:///x"\ncolour = 1', "engine 'a': key 'colour' is not known; use name, url"),
        ('name = "a"\nurl = "unix:///x"\ntls_ca_cert = "/no/such.pem"', "key 'tls_ca_cert' is '/no/such.pem'"),
        ('name = "a"\nurl = "unix:///x"\ntls_verify = "yes"', "key 'tls_verify' is 'yes'; give true or false"),
        ('name = "a"\nurl = "unix:///x"\napi_version = "new"', "engine 'a': api_version='new' is not valid"),
        ('name = "a"\nurl = "unix:///x"\n[[engine]]\nname = "a"\nurl = "unix:///y"', "two engines have this name"),
    ],
)
def test_each_bad_entry_names_the_file_the_engine_and_the_key(tmp_path: Path, entry: str, expected: str) -> None:
    path = write(tmp_path, f"[[engine]]\n{entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_pool(path, default_docker_url="unix:///var/run/docker.sock")
    assert f"DOCKYARD_ENGINES file {path}" in str(caught.value)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "lists no engines"), ("[engine\n", "is not valid TOML"), ("engines = []\n", "top-level key 'engines'")],
)
def test_a_file_without_engines_is_an_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_pool(write(tmp_path, text), default_docker_url="unix:///var/run/docker.sock")


def test_the_setting_names_an_existing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_ENGINES": str(path)})
    assert settings.engines_file == path
    assert Settings.from_env({"DOCKYARD_HOME": str(tmp_path)}).engines_file is None
    with pytest.raises(ConfigError, match="DOCKYARD_ENGINES='/no/such.toml' is not a file"):
        Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_ENGINES": "/no/such.toml"})


def test_a_request_counts_limits_and_gpus_but_not_the_default_cpu_weight() -> None:
    assert requested({}) == Resources()
    assert requested({"cpus": 1.0, "mem_limit": "8g"}) == Resources(0.0, 8 * GB, 0)
    assert requested({"cpus": 2.5}) == Resources(2.5, 0, 0)
    assert requested({"cpus": 4, "cpu_limit": 1.5}) == Resources(1.5, 0, 0)
    gpus = [{"count": 2, "capabilities": [["gpu"]]}, {"driver": "other", "count": 3}]
    assert requested({"device_requests": gpus}).gpus == 2
    assert requested({"device_requests": [{"count": -1, "capabilities": [["gpu"]]}]}).gpus == ALL_GPUS
    assert requested({"device_requests": [{"driver": "nvidia", "device_ids": ["0", "1", "2"]}]}).gpus == 3


def test_a_request_reads_operators_options_and_swarm_resources() -> None:
    task = DockerOperator(task_id="t", image="img", mem_limit="2g", cpu_limit=2)
    assert requested(task.options) == Resources(2.0, 2 * GB, 0)
    assert Resources.from_dict(requested(task.options).to_dict()) == Resources(2.0, 2 * GB, 0)
    assert Resources.from_dict(None) == Resources()
    swarm = {"Limits": {"NanoCPUs": 4_000_000_000, "MemoryBytes": 4 * GB}, "Reservations": {"MemoryBytes": GB}}
    assert requested({"container_resources": swarm}) == Resources(4.0, GB, 0)
    with pytest.raises(ContainerSpecError, match="container_resources=3 is not valid"):
        requested({"container_resources": 3})
    with pytest.raises(ContainerSpecError, match="mem_limit='lots' is not a size"):
        requested({"mem_limit": "lots"})


def test_queues_pick_engines_by_label() -> None:
    bash = BashOperator(task_id="b", bash_command="true", executor_config={"engine_labels": ["ssd"]})
    assert wanted_labels(bash.queue, bash.executor_config) == {"default", "ssd"}
    assert wanted_labels(None) == {"default"}
    assert wanted_labels("gpu", {"engine_labels": ["ssd"]}) == {"gpu", "ssd"}
    plain, gpu = status("plain"), status("gpu-box", labels={"gpu"}, memory=4 * GB)
    assert admit(Resources(), "default", [plain, gpu]) == plain
    assert admit(Resources(), "gpu", [plain, gpu]) == gpu
    with pytest.raises(ContainerSpecError, match="no engine serves queue 'tpu' \\(engines and queues: plain: default"):
        admit(Resources(), "tpu", [plain, gpu], task_id="train")


def test_the_engine_with_most_free_memory_wins_and_reservations_count_until_the_engine_shows_them() -> None:
    a = status("engine-a", used=Resources(0, 10 * GB, 0))
    b = status("engine-b", used=Resources(0, 4 * GB, 0))
    assert admit(Resources(1, 2 * GB, 0), "default", [a, b]) == b
    reserved = [Reservation("engine-b", "d/r/t/-1/1", Resources(0, 8 * GB, 0))]
    assert admit(Resources(1, 2 * GB, 0), "default", [a, b], reserved) == a
    seen = status("engine-b", used=Resources(0, 12 * GB, 0), task_keys={"d/r/t/-1/1"})
    assert seen.room(reserved) == Resources(8, 4 * GB, 0)  # the reservation is the 8 GB the engine now shows
    assert admit(Resources(1, 2 * GB, 0), "default", [a, seen], reserved) == a


def test_a_task_that_fits_nowhere_now_waits_with_a_reason() -> None:
    a = status("engine-a", used=Resources(0, 15 * GB, 0))
    b = status("engine-b", used=Resources(0, 13 * GB, 0))
    found = admit(Resources(0, 8 * GB, 0), "default", [a, b])
    assert found == WaitingForResources("waiting for resources: needs 8 GB memory, largest free 3 GB on engine-b")
    cpus = admit(
        Resources(6, 0, 0),
        "default",
        [status("a", used=Resources(4, 0, 0)), status("b")],
        [Reservation("b", "x", Resources(3, 0, 0))],
    )
    assert cpus == WaitingForResources("waiting for resources: needs 6 CPUs, largest free 5 CPUs on b")


def test_a_task_waits_when_no_single_engine_has_every_resource() -> None:
    a = status("a", used=Resources(7, 0, 0))
    b = status("b", used=Resources(0, 15 * GB, 0))
    found = admit(Resources(4, 4 * GB, 0), "default", [a, b])
    assert isinstance(found, WaitingForResources)
    assert "needs 4 CPUs, 4 GB memory on one engine, no engine has all of it free" in found.reason


def test_a_request_larger_than_every_engine_is_an_error() -> None:
    with pytest.raises(ContainerSpecError) as caught:
        admit(Resources(0, 64 * GB, 0), "default", [status("a"), status("b", memory=24 * GB)], task_id="big")
    assert str(caught.value).startswith("task 'big': needs 64 GB memory, more than any engine serving 'default' has")
    assert "the largest, b, has 8 CPUs, 24 GB memory" in str(caught.value)
    assert (caught.value.option, caught.value.task_id) == ("mem_limit", "big")
    with pytest.raises(ContainerSpecError, match="needs all GPUs"):
        admit(Resources(0, 0, ALL_GPUS), "default", [status("a")])


def test_all_gpus_asks_for_every_gpu_of_the_engine() -> None:
    busy = status("busy", gpus=2, used=Resources(0, 0, 1))
    idle = status("idle", gpus=2, memory=GB)
    assert admit(Resources(0, 0, ALL_GPUS), "default", [busy, idle]) == idle
    found = admit(Resources(0, 0, ALL_GPUS), "default", [busy])
    assert found == WaitingForResources("waiting for resources: needs all GPUs, largest free 1 GPU on busy")


def test_unhealthy_engines_are_out_of_the_pool() -> None:
    down = status("down", healthy=False, error="no Docker engine answered", memory=64 * GB)
    up = status("up", memory=4 * GB)
    assert admit(Resources(0, GB, 0), "default", [down, up]) == up
    waiting = admit(Resources(0, 8 * GB, 0), "default", [down, up])
    assert isinstance(waiting, WaitingForResources)  # the engine that is away may be back, and large enough
    only = admit(Resources(), "default", [down])
    assert only == WaitingForResources(
        "waiting for resources: no engine serving 'default' answers (down: no Docker engine answered)"
    )


def test_a_containers_labels_and_a_reservation_spell_one_key() -> None:
    labels = labels_for("dag", "task", "manual__1", 2, instance="i", map_index=3)
    assert key_of_labels(labels) == task_key("dag", "task", "manual__1", 2, 3)
    assert key_of_labels({"dockyard.managed": "true"}) is None


def test_container_limits_read_nano_cpus_quota_memory_and_gpus() -> None:
    assert container_limits({"NanoCpus": 1_500_000_000, "Memory": GB}) == Resources(1.5, GB, 0)
    assert container_limits({"CpuQuota": 50_000, "CpuPeriod": 100_000, "CpuShares": 4096}) == Resources(0.5, 0, 0)
    gpus = {"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]}
    assert container_limits(gpus).gpus == ALL_GPUS


def test_tasks_that_ask_for_nothing_spread_to_the_least_busy_engine() -> None:
    engines = [status("a"), status("b", memory=32 * GB)]
    nothing = Resources()
    placed: list[Reservation] = []
    for n in range(4):
        chosen = admit(nothing, "default", engines, placed)
        assert isinstance(chosen, EngineStatus)
        placed.append(Reservation(chosen.name, f"etl/r/t{n}/-1/1", nothing))
    assert sorted(r.engine for r in placed) == ["a", "a", "b", "b"]
    asking = admit(Resources(0, 1 * GB, 0), "default", engines, placed)
    assert isinstance(asking, EngineStatus) and asking.name == "b"  # a request goes where most memory is free

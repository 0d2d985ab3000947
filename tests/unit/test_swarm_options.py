"""A Swarm service's options and the ServiceSpec built from a try's spec, without an engine."""

from __future__ import annotations

import pytest
from docker.types import Placement, Resources, ServiceMode

from dockyard.container import build_spec, labels_for
from dockyard.container.service_options import ServiceOptions
from dockyard.container.swarm import service_body
from dockyard.errors import ContainerSpecError

LABELS = labels_for("d", "t", "r", 1, "inst")


def body(service: ServiceOptions | None = None, **options: object) -> dict[str, object]:
    spec = build_spec(
        {"image": "img", **options}, labels=LABELS, default_docker_url="unix:///x.sock", mode="swarm", service=service
    )
    assert spec.engine.mode == "swarm"
    return service_body(spec, "svc", 1)


def test_the_service_spec_carries_the_try_labels_a_one_shot_restart_policy_and_the_limits() -> None:
    made = body(
        command=["echo", "hi"],
        mem_limit="64m",
        cpu_limit=0.5,
        shm_size="16m",
        environment={"A": "1"},
        labels={"u": "v"},
    )
    template = made["TaskTemplate"]
    assert isinstance(template, dict)
    assert made["Labels"] == {"u": "v", **LABELS, "dockyard.auto_remove": "success"}
    assert made["Mode"] == {"Replicated": {"Replicas": 1}}
    assert template["RestartPolicy"] == {"Condition": "none"}
    assert template["Resources"] == {"Limits": {"MemoryBytes": 64 * 1024**2, "NanoCPUs": 500_000_000}}
    container = template["ContainerSpec"]
    assert container["Args"] == ["echo", "hi"] and "Command" not in container  # DockerOperator: the entrypoint stays
    assert container["Env"] == ["A=1"] and container["Labels"] == {"u": "v"}  # dockyard's labels stay off it
    assert {"Type": "tmpfs", "Target": "/dev/shm", "TmpfsOptions": {"SizeBytes": 16 * 1024**2}} in container["Mounts"]


def test_the_providers_arguments_in_their_docker_py_forms() -> None:
    service = ServiceOptions.from_values(
        {
            "args": "-c 'echo a'",
            "mode": ServiceMode("replicated", replicas=2),
            "placement": Placement(constraints=["node.role == manager"]),
            "container_resources": Resources(mem_limit=1024),
            "networks": ["etl"],
            "logging_driver": "json-file",
            "logging_driver_opts": {"max-size": "1m"},
            "command_replaces_entrypoint": True,
        }
    )
    assert service.replicas == 2 and ServiceOptions.from_values(service.to_json()) == service
    made = body(service, command="sh")
    template = made["TaskTemplate"]
    assert isinstance(template, dict)
    assert template["ContainerSpec"]["Command"] == ["sh"] and template["ContainerSpec"]["Args"] == ["-c", "echo a"]
    assert template["Placement"] == {"Constraints": ["node.role == manager"]}
    assert template["Resources"] == {"Limits": {"MemoryBytes": 1024}}
    assert template["Networks"] == [{"Target": "etl"}]
    assert template["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "1m"}}
    assert ServiceOptions.from_values({"placement": ["node.role == worker"]}).placement == {
        "Constraints": ["node.role == worker"]
    }
    assert ServiceOptions.from_values({"mode": "global"}).replicas is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"privileged": True},
            "privileged=True cannot be used with a Swarm service: a Swarm service has no privileged",
        ),
        ({"ipc_mode": "host"}, "ipc_mode='host' cannot be used with a Swarm service"),
        ({"network_mode": "container:db"}, "network_mode='container:db' cannot be used with a Swarm service"),
    ],
)
def test_options_a_service_cannot_honour_fail_the_spec_naming_the_task(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ContainerSpecError, match=f"task 't': {message}"):
        body(**options)


def test_bad_service_arguments_are_named() -> None:
    with pytest.raises(ContainerSpecError, match=r"mode=.* must be docker.types.ServiceMode"):
        ServiceOptions.from_values({"mode": {"other": {}}})
    with pytest.raises(ContainerSpecError, match="service_prefix='a b' must be at most 40 letters"):
        ServiceOptions.from_values({"service_prefix": "a b"})
    with pytest.raises(ContainerSpecError, match="placement=.*a list must hold constraints"):
        ServiceOptions.from_values({"placement": [1]})

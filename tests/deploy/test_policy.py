"""The installation's container policy: pure checks of a ContainerSpec, and one refusal on the real engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest
from docker.types import Mount

from dockyard.container.policy import Policy, check_policy
from dockyard.container.runtime import DockerRuntime
from dockyard.container.spec import ContainerSpec, build_spec, labels_for
from dockyard.errors import ConfigError, ContainerPolicyError, ContainerSpecError
from dockyard.settings import Settings
from tests.helpers import IMAGE, TEST_LABEL, TOKEN

LOCKED = Policy(
    allow_privileged=False,
    allow_host_namespaces=False,
    allowed_capabilities=("NET_BIND_SERVICE",),
    allow_devices=False,
    allowed_bind_paths=("/srv/data", "/var/lib/dockyard/shared/"),
)


def spec(**values: Any) -> ContainerSpec:
    values.setdefault("image", IMAGE)
    return build_spec(
        values, labels=labels_for("etl", "extract", "manual_1", 1), default_docker_url="unix:///var/run/docker.sock"
    )


def refusal(policy: Policy, **values: Any) -> str:
    with pytest.raises(ContainerPolicyError) as caught:
        check_policy(policy, spec(**values))
    return str(caught.value)


def test_the_default_policy_allows_everything_a_laptop_does() -> None:
    check_policy(
        Policy(),
        spec(
            privileged=True,
            network_mode="host",
            ipc_mode="host",
            cap_add=["SYS_ADMIN"],
            mounts=["/:/host"],
            device_requests=[{"count": -1, "capabilities": [["gpu"]]}],
        ),
    )
    assert Policy.from_settings(Settings.from_env({"DOCKYARD_HOME": "/tmp/x"})).allows_everything


@pytest.mark.parametrize(
    ("values", "asked", "setting"),
    [
        ({"privileged": True}, "privileged=True", "DOCKYARD_POLICY_ALLOW_PRIVILEGED=true"),
        ({"network_mode": "host"}, "network_mode='host'", "DOCKYARD_POLICY_ALLOW_HOST_NAMESPACES=true"),
        ({"ipc_mode": "host"}, "ipc_mode='host'", "DOCKYARD_POLICY_ALLOW_HOST_NAMESPACES=true"),
        ({"cap_add": ["net_admin"]}, "cap_add='net_admin'", "add NET_ADMIN to DOCKYARD_POLICY_ALLOWED_CAPABILITIES"),
        (
            {"device_requests": [{"count": -1, "capabilities": [["gpu"]]}]},
            "device_requests",
            "DOCKYARD_POLICY_ALLOW_DEVICES=true",
        ),
        ({"mounts": ["/etc:/host-etc:ro"]}, "the host path /etc at /host-etc", "DOCKYARD_POLICY_ALLOWED_BIND_PATHS"),
        ({"mounts": ["/srv/data/../../etc:/x"]}, "the host path /srv/data/../../etc", "ALLOWED_BIND_PATHS"),
        ({"mounts": ["/srv/database:/x"]}, "the host path /srv/database", "ALLOWED_BIND_PATHS"),
    ],
)
def test_a_refusal_names_the_task_the_option_and_the_setting(values: dict[str, Any], asked: str, setting: str) -> None:
    message = refusal(LOCKED, **values)
    assert "task 'etl.extract' asks for" in message
    assert asked in message
    assert setting in message
    assert IMAGE in message


def test_what_a_locked_installation_still_allows() -> None:
    check_policy(
        LOCKED,
        spec(
            network_mode="none",
            cap_add=["CAP_NET_BIND_SERVICE"],
            mounts=["/srv/data:/data:ro", "/srv/data/in/day1:/in", "/var/lib/dockyard/shared:/s", "scratch:/scratch"],
        ),
    )
    check_policy(Policy(allowed_bind_paths=()), spec(mounts=["named:/data", Mount("/t", None, type="tmpfs")]))
    assert "allowed host paths: none" in refusal(Policy(allowed_bind_paths=()), mounts=["/srv:/srv"])
    check_policy(Policy(allowed_capabilities=("ALL",)), spec(cap_add=["SYS_ADMIN"]))


def test_a_policy_refusal_is_a_container_spec_error() -> None:
    """Callers that report bad container options (the task fails with the message) report this one too."""
    assert issubclass(ContainerPolicyError, ContainerSpecError)


def test_settings_build_the_policy(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path),
            "DOCKYARD_POLICY_ALLOW_PRIVILEGED": "false",
            "DOCKYARD_POLICY_ALLOW_HOST_NAMESPACES": "no",
            "DOCKYARD_POLICY_ALLOWED_CAPABILITIES": "",
            "DOCKYARD_POLICY_ALLOW_DEVICES": "0",
            "DOCKYARD_POLICY_ALLOWED_BIND_PATHS": "/srv/data, /mnt/in",
            "DOCKYARD_HOST_TMP_DIR": "/var/lib/dockyard/tmp",
        }
    )
    assert Policy.from_settings(settings) == Policy(
        allow_privileged=False,
        allow_host_namespaces=False,
        allowed_capabilities=(),
        allow_devices=False,
        allowed_bind_paths=("/srv/data", "/mnt/in"),
    )
    assert settings.host_tmp_dir == "/var/lib/dockyard/tmp"
    star = Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_POLICY_ALLOWED_BIND_PATHS": "*"})
    assert star.policy_allowed_bind_paths is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DOCKYARD_POLICY_ALLOW_PRIVILEGED", "maybe", "DOCKYARD_POLICY_ALLOW_PRIVILEGED='maybe' is not true or false"),
        ("DOCKYARD_POLICY_ALLOWED_BIND_PATHS", "data", "must be an absolute path on the engine's host"),
        ("DOCKYARD_HOST_TMP_DIR", "tmp", "DOCKYARD_HOST_TMP_DIR='tmp' must be an absolute path"),
    ],
)
def test_bad_policy_settings_are_named(tmp_path: Path, name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        Settings.from_env({"DOCKYARD_HOME": str(tmp_path), name: value})


def test_secrets_come_from_files(tmp_path: Path) -> None:
    key, password = tmp_path / "fernet", tmp_path / "password"
    key.write_text("a-key-from-a-secret-file\n")
    password.write_text("an-admin-password\n")
    settings = Settings.from_env(
        {
            "DOCKYARD_HOME": str(tmp_path),
            "DOCKYARD_FERNET_KEY_FILE": str(key),
            "DOCKYARD_ADMIN_USERNAME": "ops",
            "DOCKYARD_ADMIN_PASSWORD_FILE": str(password),
        }
    )
    assert settings.fernet_key == "a-key-from-a-secret-file"
    assert settings.admin_password == "an-admin-password"
    assert "an-admin-password" not in repr(settings)
    with pytest.raises(ConfigError, match=r"DOCKYARD_SECRET_KEY_FILE='/nope' cannot be read"):
        Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_SECRET_KEY_FILE": "/nope"})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        Settings.from_env({"DOCKYARD_HOME": str(tmp_path), "DOCKYARD_SECRET_KEY_FILE": str(tmp_path / "empty")})


@pytest.mark.engine
def test_the_runtime_refuses_before_any_container_is_created(engine: docker.APIClient) -> None:
    runtime = DockerRuntime(policy=LOCKED)
    refused = spec(privileged=True, command="echo should-not-run", labels={TEST_LABEL: TOKEN}, network_mode="none")
    before = {c["Id"] for c in engine.containers(all=True, filters={"label": f"{TEST_LABEL}={TOKEN}"})}
    try:
        with pytest.raises(ContainerPolicyError, match="privileged=True"):
            runtime.run(refused, lambda lines: None)
    finally:
        runtime.close()
    after = {c["Id"] for c in engine.containers(all=True, filters={"label": f"{TEST_LABEL}={TOKEN}"})}
    assert after == before

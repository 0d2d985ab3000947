from __future__ import annotations

from typing import Any

import pytest

from dockyard.container.spec import build_spec, labels_for
from dockyard.container.values import parse_command, parse_env_file, parse_size
from dockyard.errors import ContainerSpecError

URL = "unix:///var/run/docker.sock"


def spec(**values: Any) -> Any:
    values.setdefault("image", "img:1")
    return build_spec(values, labels=labels_for("d", "t", "r", 1), default_docker_url=URL)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("echo hi", ["echo", "hi"]),
        ("sh -c 'echo a b'", ["sh", "-c", "echo a b"]),
        ("['echo', 'x y']", ["echo", "x y"]),
        ('["echo", "x"]', ["echo", "x"]),
        (["echo", 1], ["echo", "1"]),
        (None, None),
        ("", None),
    ],
)
def test_command_forms(value: Any, expected: Any) -> None:
    parsed = parse_command("command", value)
    assert (list(parsed) if parsed is not None else None) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [("[echo", "not a list literal"), ("echo 'open", "cannot be split"), ({"a": 1}, "must be a string or a list")],
)
def test_bad_commands(value: Any, reason: str) -> None:
    with pytest.raises(ContainerSpecError, match=reason):
        parse_command("command", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1.5G", int(1.5 * 1024**3)),
        ("64k", 65536),
        (1000, 1000),
        ("2gb", 2 * 1024**3),
    ],
)
def test_sizes(value: Any, expected: int) -> None:
    assert parse_size("mem_limit", value) == expected


@pytest.mark.parametrize("value", ["lots", "-1m", 0, True, "1t"])
def test_bad_sizes_say_what_a_size_looks_like(value: Any) -> None:
    with pytest.raises(ContainerSpecError, match=r"mem_limit=.*'512m'|greater than zero"):
        parse_size("mem_limit", value)


def test_env_file_content() -> None:
    text = "# comment\nexport A=1\nB='two words'\nC=\"x\"\n\nD=a=b\n"
    assert parse_env_file(text) == {"A": "1", "B": "two words", "C": "x", "D": "a=b"}
    with pytest.raises(ContainerSpecError, match="line 1 'not a pair' is not KEY=VALUE"):
        parse_env_file("not a pair")


def test_environment_precedence_and_secrets() -> None:
    s = spec(
        env_file="A=file\nB=file", environment={"B": "env", "N": 3, "X": None}, private_environment={"P": "hush-hush"}
    )
    assert s.environment == {"A": "file", "B": "env", "N": "3", "X": None, "P": "hush-hush"}
    assert s.secrets == frozenset({"hush-hush"})


def test_cpus_keep_airflows_meaning_and_cpu_limit_is_hard() -> None:
    s = spec(cpus=0.5, cpu_limit=1.5)
    assert (s.options.cpus, s.options.cpu_limit) == (0.5, 1.5)
    with pytest.raises(ContainerSpecError, match="task 't': cpus=0 is not valid: give a number greater than zero"):
        spec(cpus=0)


def test_port_bindings_with_host_network_is_refused() -> None:
    with pytest.raises(ContainerSpecError, match="port_bindings cannot be used with network_mode='host'"):
        spec(network_mode="host", port_bindings={"80/tcp": 8080})


def test_auto_remove_values() -> None:
    assert spec(auto_remove=True).auto_remove == "success"
    assert spec(auto_remove=False).auto_remove == "never"
    assert spec(auto_remove="force").auto_remove == "force"
    with pytest.raises(ContainerSpecError, match="auto_remove='sometimes' is not one of 'never', 'success', 'force'"):
        spec(auto_remove="sometimes")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("unix://var/run/docker.sock", "unix:///var/run/docker.sock"),
        ("unix:/var/run/docker.sock", "unix:///var/run/docker.sock"),
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
        ("tcp://10.0.0.1:2376", "tcp://10.0.0.1:2376"),
    ],
)
def test_docker_url_spellings(url: str, expected: str) -> None:
    assert spec(docker_url=url).engine.urls == (expected,)


def test_bad_docker_url() -> None:
    with pytest.raises(ContainerSpecError, match="is not a Docker engine URL"):
        spec(docker_url="localhost:2375")


def test_docker_url_list_is_kept_in_order() -> None:
    assert spec(docker_url=["tcp://a:1", "unix:///s"]).engine.urls == ("tcp://a:1", "unix:///s")


def test_dockyard_labels_win_over_user_labels() -> None:
    s = spec(labels={"team": "ml", "dockyard.task_id": "spoofed"})
    assert s.labels["team"] == "ml"
    assert s.labels["dockyard.task_id"] == "t"
    assert spec(labels=["flag"]).labels["flag"] == ""


def test_retrieve_output_needs_a_path() -> None:
    with pytest.raises(ContainerSpecError, match="needs retrieve_output_path"):
        spec(retrieve_output=True)


def test_log_options() -> None:
    options = spec(log_opts_max_size="10m", log_opts_max_file=3).options
    assert (options.log_opts_max_size, options.log_opts_max_file) == ("10m", "3")
    with pytest.raises(ContainerSpecError, match="log_opts_max_file='x' must be a whole number"):
        spec(log_opts_max_file="x")


@pytest.mark.parametrize("image", ["", "   ", None, 3])
def test_image_is_required(image: Any) -> None:
    with pytest.raises(ContainerSpecError, match="image must be a non-empty string"):
        build_spec({"image": image}, labels={}, default_docker_url=URL)

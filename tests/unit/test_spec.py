from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from docker.types import DeviceRequest, Ulimit
from hypothesis import given
from hypothesis import strategies as st

from dockyard import DockerOperator
from dockyard.container import ContainerOptions, DeviceRequestOption, MountOption, UlimitOption
from dockyard.container.options import OPTION_NAMES
from dockyard.container.spec import build_spec, labels_for
from dockyard.container.values import parse_command, parse_env_file, parse_size
from dockyard.errors import ContainerSpecError, DagDefinitionError

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


# -- ContainerOptions: one validated set of options for the operator, the store and the runtime ----------


def test_the_operator_signature_is_the_option_list_with_airflows_defaults() -> None:
    parameters = inspect.signature(DockerOperator.__init__).parameters
    names = [n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY and n != "volumes"]
    assert sorted(names) == sorted(OPTION_NAMES)
    defaults = {n: parameters[n].default for n in OPTION_NAMES if parameters[n].default is not inspect.Parameter.empty}
    assert ContainerOptions.from_values({"image": "i", **defaults}, rendered=False) == ContainerOptions(image="i")
    assert len(OPTION_NAMES) == 48  # Airflow's 47 arguments and cpu_limit


RICH: dict[str, Any] = {
    "image": "registry.example.com/etl:1.4",
    "command": "run --day 2024-01-31",
    "environment": {"A": "1", "N": 3, "X": None},
    "private_environment": {"TOKEN": "s3cret"},
    "env_file": "B=2\n",
    "container_name": "etl-1",
    "mounts": ["/srv:/data:ro", "scratch:/scratch", {"target": "/t", "type": "tmpfs", "tmpfs_size": 1024}],
    "api_version": "1.41",
    "cpus": 0.5,
    "cpu_limit": 2,
    "docker_url": ["tcp://10.0.0.1:2376", "unix:/var/run/docker.sock"],
    "mem_limit": "1g",
    "shm_size": 1024,
    "network_mode": "bridge",
    "tls_hostname": False,
    "user": 1000,
    "entrypoint": ["sh", "-c"],
    "dns": "10.0.0.2",
    "cap_add": ["NET_ADMIN"],
    "extra_hosts": {"db": "10.0.0.5"},
    "retrieve_output": True,
    "retrieve_output_path": "/tmp/out",
    "timeout": 30,
    "device_requests": [DeviceRequest(count=-1, capabilities=[["gpu"]])],
    "log_opts_max_size": "10m",
    "log_opts_max_file": 3,
    "skip_on_exit_code": [99, 100],
    "port_bindings": {8080: 18080, "53/udp": ("127.0.0.1", 5353)},
    "ulimits": [Ulimit(name="nofile", soft=1024, hard=2048)],
    "labels": ["flag"],
    "auto_remove": False,
}


@pytest.mark.parametrize("rendered", [True, False])
def test_options_survive_json(rendered: bool) -> None:
    options = ContainerOptions.from_values(RICH, task_id="t", rendered=rendered)
    data = json.loads(json.dumps(options.to_json()))
    assert ContainerOptions.from_json(data) == options
    assert options.mem_limit == 1024**3 and options.user == "1000" and options.auto_remove == "never"
    assert options.port_bindings == {"8080/tcp": (("", "18080"),), "53/udp": (("127.0.0.1", "5353"),)}
    assert options.device_requests == (DeviceRequestOption(count=-1, capabilities=(("gpu",),)),)
    assert options.ulimits == (UlimitOption(name="nofile", soft=1024, hard=2048),)


def test_templates_wait_for_rendering_and_are_checked_then() -> None:
    raw = {
        "image": "{{ params.image }}",
        "command": "echo '{{ ds }}",
        "mounts": ["/data/{{ ds }}:/in", {"target": "/o", "source": "/out/{{ ds }}", "type": "bind"}, "/x:/y"],
    }
    options = ContainerOptions.from_values(raw, task_id="t", rendered=False)
    assert options.mounts[:2] == (raw["mounts"][0], raw["mounts"][1])
    assert options.mounts[2] == MountOption(target="/y", source="/x", type="bind")
    assert ContainerOptions.from_json(json.loads(json.dumps(options.to_json()))) == options
    with pytest.raises(ContainerSpecError, match=r"task 't': command=\"echo '2024\" is not valid: .*check the quotes"):
        options.render({"image": "img", "command": "echo '2024", "mounts": []})
    done = options.render({"image": " img ", "command": "echo 2024", "mounts": ["/d/1:/in"]})
    assert (done.image, done.command, done.parsed_mounts, done.rendered) == (
        "img",
        ("echo", "2024"),
        (MountOption(target="/in", source="/d/1", type="bind"),),
        True,
    )


@pytest.mark.parametrize(
    ("option", "value", "right"),
    [
        ("mem_limit", "lots", "'512m'"),
        ("cpus", -1, "greater than zero"),
        ("tty", "false", "True or False"),
        ("docker_url", "localhost:2375", "unix:///var/run/docker.sock"),
        ("skip_on_exit_code", "99", "a list of exit codes"),
        ("port_bindings", {"http": 80}, "a container port such as 8080"),
        ("ulimits", [{"name": "nofile", "soft": "many"}], "{'name': 'nofile'"),
        ("device_requests", [{"gpus": 1}], "unknown key(s) gpus"),
        ("environment", {"A": [1]}, "environment['A'] is a list; give a string or a number"),
        ("auto_remove", "sometimes", "'never', 'success', 'force'"),
        ("api_version", "latest", "'1.41'"),
        ("extra_hosts", ["db:10.0.0.5"], "a dict of strings"),
        ("mounts", ["relative:path"], "Accepted forms"),
        ("tmp_dir", "scratch", "absolute path"),
    ],
)
def test_a_bad_option_names_the_task_the_option_the_value_and_what_is_right(
    option: str, value: Any, right: str
) -> None:
    with pytest.raises(DagDefinitionError) as info:
        DockerOperator(task_id="load", image="img", **{option: value})
    message = str(info.value)
    assert message.startswith("task 'load': ")
    shown = [repr(value), str(value), *(repr(item) for item in (value if isinstance(value, list) else [])), "['A']"]
    assert option in message and any(text in message for text in shown)
    assert right in message


def test_setting_an_option_later_is_checked_too() -> None:
    task = DockerOperator(task_id="t", image="img")
    task.mem_limit = "2g"
    assert task.options.mem_limit == 2 * 1024**3 and task.mem_limit == "2g"
    with pytest.raises(DagDefinitionError, match="task 't': mem_limit='huge' is not a size"):
        task.mem_limit = "huge"
    assert task.mem_limit == "2g"


def test_secrets_are_kept_apart() -> None:
    with pytest.raises(DagDefinitionError) as info:
        DockerOperator(task_id="t", image="i", private_environment={"OK": "hush-1", "BAD": ["hush-2"]})
    assert "hush" not in str(info.value) and "private_environment['BAD']" in str(info.value)
    options = ContainerOptions.from_values(RICH)
    assert options.secrets == frozenset({"s3cret"})
    assert options.redacted().private_environment == {"TOKEN": "***"}
    assert "s3cret" not in repr(options)


def test_build_spec_takes_options_too() -> None:
    options = DockerOperator(task_id="t", image="img", command="echo {{ ds }}").options
    s = build_spec(
        options.render({"command": "echo 2024"}), labels=labels_for("d", "t", "r", 1), default_docker_url=URL
    )
    assert s.command == ["echo", "2024"] and s.engine.urls == (URL,)
    with pytest.raises(ContainerSpecError, match="task 't': image must be a non-empty string"):
        build_spec(options.render({"image": " "}), labels=labels_for("d", "t", "r", 1), default_docker_url=URL)


path = st.lists(st.text(alphabet="abcxyz019_-", min_size=1, max_size=6), min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts)
)


@given(
    mem=st.one_of(st.none(), st.integers(1, 2**40), st.sampled_from(["512m", "1.5g", "64k"])),
    cpus=st.floats(0.01, 64),
    mounts=st.lists(st.tuples(path, path, st.sampled_from(["", ":ro", ":rw"])), max_size=3, unique_by=lambda m: m[1]),
    skip=st.one_of(st.none(), st.integers(0, 255), st.lists(st.integers(0, 255), max_size=3)),
    env=st.dictionaries(st.from_regex(r"[A-Z_]{1,6}", fullmatch=True), st.one_of(st.none(), st.text(max_size=8))),
    ports=st.dictionaries(st.integers(1, 65535), st.one_of(st.none(), st.integers(1, 65535)), max_size=2),
    rendered=st.booleans(),
)
def test_any_options_survive_json(
    mem: Any, cpus: float, mounts: list[tuple[str, str, str]], skip: Any, env: Any, ports: Any, rendered: bool
) -> None:
    values = {
        "image": "img",
        "mem_limit": mem,
        "cpus": cpus,
        "mounts": [f"{source}:{target}{mode}" for source, target, mode in mounts],
        "skip_on_exit_code": skip,
        "environment": env,
        "port_bindings": ports,
    }
    options = ContainerOptions.from_values(values, task_id="t", rendered=rendered)
    assert ContainerOptions.from_json(json.loads(json.dumps(options.to_json()))) == options


def test_checked_options_check_again_to_the_same() -> None:
    """A try's options are checked in the preparation child and again by the runtime: the checked form of
    every option must pass its own check unchanged."""
    from dockyard.container.options import ContainerOptions

    options = ContainerOptions.from_values(
        {"image": "busybox", "port_bindings": {8080: [("", 18080), ("127.0.0.1", 18081)], "53/udp": None}},
        task_id="t",
    )
    assert options.render({}) == options
    assert ContainerOptions.from_json(options.to_json()).render({}) == options

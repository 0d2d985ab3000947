"""Every DockerOperator option has its effect on the real engine: checked with `docker inspect` or
from inside the container."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.types import DeviceRequest, Mount, Ulimit

from dockyard.errors import DagDefinitionError, EngineError
from dockyard.states import TaskState
from tests.helpers import TEST_LABEL, TOKEN, RunTask, dag_id_of, labelled, output_lines

pytestmark = pytest.mark.engine


def inspect_kept(engine: docker.APIClient, run_task: RunTask, **kwargs: Any) -> tuple[dict[str, Any], list[str]]:
    outcome = run_task(auto_remove="never", **kwargs)
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.container_id is not None
    return engine.inspect_container(outcome.container_id), output_lines(outcome)


def test_command_forms_reach_the_engine_as_argument_lists(engine: docker.APIClient, run_task: RunTask) -> None:
    info, lines = inspect_kept(engine, run_task, command="sh -c 'echo \"a  b\"'")
    assert info["Config"]["Cmd"] == ["sh", "-c", 'echo "a  b"']
    assert lines == ["a  b"]
    info, lines = inspect_kept(engine, run_task, command="['echo', 'from', 'a list string']")
    assert info["Config"]["Cmd"] == ["echo", "from", "a list string"]
    assert lines == ["from a list string"]
    _, lines = inspect_kept(engine, run_task, command=["echo", "$HOME"])
    assert lines == ["$HOME"]  # no shell: nothing is expanded


def test_entrypoint_working_dir_user_hostname(engine: docker.APIClient, run_task: RunTask) -> None:
    info, lines = inspect_kept(
        engine,
        run_task,
        entrypoint=["sh", "-c"],
        command=["pwd; id -u; id -g; hostname"],
        working_dir="/tmp",
        user="65534:65534",
        hostname="worker-7",
    )
    assert info["Config"]["Entrypoint"] == ["sh", "-c"]
    assert lines == ["/tmp", "65534", "65534", "worker-7"]


def test_environment_env_file_and_private_environment(run_task: RunTask) -> None:
    outcome = run_task(
        command=["sh", "-c", "echo $FROM_FILE $SHARED $NUM; echo token=$TOKEN"],
        env_file="FROM_FILE=file\nSHARED=file",
        environment={"SHARED": "env", "NUM": 7},
        private_environment={"TOKEN": "tok-4f9a-secret"},
    )
    assert outcome.state is TaskState.SUCCESS, outcome.message
    lines = output_lines(outcome)
    assert lines == ["file env 7", "token=***"]
    assert outcome.xcom == "token=***" or outcome.xcom == "token=tok-4f9a-secret"
    assert "tok-4f9a-secret" not in outcome.log_path.read_text()  # type: ignore[union-attr]


def test_labels_include_dockyards_own(engine: docker.APIClient, run_task: RunTask) -> None:
    info, _ = inspect_kept(engine, run_task, command="true", labels={"team": "data"})
    labels = info["Config"]["Labels"]
    assert labels["team"] == "data"
    assert labels["dockyard.managed"] == "true"
    assert labels["dockyard.task_id"] == "task"
    assert labels["dockyard.try_number"] == "1"
    assert labels["dockyard.dag_id"].startswith("test_")
    assert labels["dockyard.run_id"].startswith("test_")


def test_tty_output_is_still_captured(engine: docker.APIClient, run_task: RunTask) -> None:
    info, lines = inspect_kept(engine, run_task, command=["sh", "-c", "test -t 1 && echo tty"], tty=True)
    assert info["Config"]["Tty"] is True
    assert lines == ["tty"]


def test_resources(engine: docker.APIClient, run_task: RunTask) -> None:
    info, lines = inspect_kept(
        engine,
        run_task,
        command=["sh", "-c", "ulimit -n; df -k /dev/shm | tail -1 | awk '{print $2}'"],
        mem_limit="96m",
        shm_size="32m",
        cpus=0.5,
        cpu_limit=1.5,
        ulimits=[Ulimit(name="nofile", soft=512, hard=1024)],
        ipc_mode="private",
    )
    host = info["HostConfig"]
    assert host["Memory"] == 96 * 1024**2
    assert host["ShmSize"] == 32 * 1024**2
    assert host["CpuShares"] == 512
    assert host["NanoCpus"] == 1_500_000_000
    assert host["IpcMode"] == "private"
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
    assert lines == ["512", str(32 * 1024)]


def test_ulimits_as_dicts(engine: docker.APIClient, run_task: RunTask) -> None:
    _, lines = inspect_kept(
        engine, run_task, command=["sh", "-c", "ulimit -n"], ulimits=[{"name": "nofile", "soft": 300, "hard": 400}]
    )
    assert lines == ["300"]


def test_privileged_and_cap_add(engine: docker.APIClient, run_task: RunTask) -> None:
    script = "grep CapEff /proc/self/status | awk '{print $2}'"
    _, plain = inspect_kept(engine, run_task, command=["sh", "-c", script])
    info, added = inspect_kept(engine, run_task, command=["sh", "-c", script], cap_add=["NET_ADMIN", "SYS_TIME"])
    assert info["HostConfig"]["CapAdd"] == ["NET_ADMIN", "SYS_TIME"]
    net_admin, sys_time = 1 << 12, 1 << 25
    assert int(plain[0], 16) & net_admin == 0
    assert int(added[0], 16) & (net_admin | sys_time) == net_admin | sys_time
    # This sandbox may refuse a privileged container (runc cannot apply every capability here); either
    # way the option must reach the engine, and a refusal must come back as the engine's own reason.
    outcome = run_task(command="true", auto_remove="never", privileged=True)
    if outcome.state is TaskState.FAILED:
        assert "could not start the container" in outcome.message and "caps" in outcome.message
    [found] = labelled(engine, dag_id=dag_id_of(outcome))
    container = engine.inspect_container(found["Id"])
    assert container["HostConfig"]["Privileged"] is True


def test_network_options(engine: docker.APIClient, run_task: RunTask) -> None:
    info, lines = inspect_kept(
        engine,
        run_task,
        command=["sh", "-c", "grep -E 'nameserver|search' /etc/resolv.conf; grep db.internal /etc/hosts"],
        network_mode="host",
        dns=["10.1.2.3"],
        dns_search=["corp.example"],
        extra_hosts={"db.internal": "10.9.8.7"},
    )
    host = info["HostConfig"]
    assert host["NetworkMode"] == "host"
    assert host["Dns"] == ["10.1.2.3"] and host["DnsSearch"] == ["corp.example"]
    assert host["ExtraHosts"] == ["db.internal:10.9.8.7"]
    assert "10.9.8.7\tdb.internal" in lines


def test_port_bindings(engine: docker.APIClient, run_task: RunTask) -> None:
    info, _ = inspect_kept(
        engine,
        run_task,
        command="true",
        network_mode=None,
        port_bindings={"8080/tcp": 18080, 8081: ("127.0.0.1", 18081), "53/udp": [None, 18053]},
    )
    assert info["HostConfig"]["PortBindings"] == {
        "8080/tcp": [{"HostIp": "", "HostPort": "18080"}],
        "8081/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18081"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}, {"HostIp": "", "HostPort": "18053"}],
    }
    assert set(info["Config"]["ExposedPorts"]) == {"8080/tcp", "8081/tcp", "53/udp"}


def test_port_bindings_with_host_network_fail_before_anything_starts(
    engine: docker.APIClient, run_task: RunTask
) -> None:
    before = len(labelled(engine))
    with pytest.raises(DagDefinitionError, match="port_bindings cannot be used with network_mode='host'"):
        run_task(command="true", network_mode="host", port_bindings={"80/tcp": 8080})
    assert len(labelled(engine)) == before


def test_log_options(engine: docker.APIClient, run_task: RunTask) -> None:
    info, _ = inspect_kept(engine, run_task, command="true", log_opts_max_size="1m", log_opts_max_file="2")
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "2", "max-size": "1m"}}


def test_device_requests_reach_the_engine(engine: docker.APIClient, run_task: RunTask) -> None:
    # No GPU on these machines: the engine refuses to start the container, and says why.
    outcome = run_task(
        command="true", auto_remove="never", device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])]
    )
    assert outcome.state is TaskState.FAILED
    assert isinstance(outcome.error, EngineError)
    assert "could not start the container" in outcome.message and "device driver" in outcome.message
    [container] = labelled(engine, dag_id=dag_id_of(outcome))
    requests = engine.inspect_container(container["Id"])["HostConfig"]["DeviceRequests"]
    assert requests[0]["Count"] == -1 and requests[0]["Capabilities"] == [["gpu"]]


def test_mount_forms(engine: docker.APIClient, run_task: RunTask, tmp_path: Path) -> None:
    readable = tmp_path / "in"
    writable = tmp_path / "out"
    readable.mkdir()
    writable.mkdir()
    (readable / "data.txt").write_text("input-data\n")
    volume = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    engine.create_volume(volume, labels={TEST_LABEL: TOKEN})
    script = (
        "cat /in/data.txt; echo written > /out/result.txt; "
        "touch /in/nope 2>/dev/null || echo read-only; "
        "echo v > /vol/file; echo a > /anon/file; cat /obj/data.txt; cat /dict/data.txt"
    )
    info, lines = inspect_kept(
        engine,
        run_task,
        command=["sh", "-c", script],
        mounts=[
            f"{readable}:/in:ro",
            f"{writable}:/out",
            f"{volume}:/vol",
            "/anon",
            Mount(target="/obj", source=str(readable), type="bind", read_only=True),
            {"target": "/dict", "source": str(readable), "type": "bind"},
        ],
    )
    assert lines == ["input-data", "read-only", "input-data", "input-data"]
    assert (writable / "result.txt").read_text() == "written\n"
    by_target = {m["Destination"]: m for m in info["Mounts"]}
    assert by_target["/in"]["RW"] is False and by_target["/out"]["RW"] is True
    assert by_target["/vol"]["Name"] == volume and by_target["/vol"]["Type"] == "volume"
    assert by_target["/anon"]["Type"] == "volume" and len(by_target["/anon"]["Name"]) == 64
    assert by_target["/obj"]["Type"] == "bind" and by_target["/obj"]["RW"] is False


def test_a_bad_mount_is_rejected_before_anything_starts(engine: docker.APIClient, run_task: RunTask) -> None:
    before = len(labelled(engine))
    outcome = run_task(command="true", mounts=["/data/{{ ds }}:relative"])  # templated: checked once rendered
    assert outcome.state is TaskState.FAILED
    assert "mount '/data/2024-01-31:relative' is not valid" in outcome.message
    assert "'/host:/ctr[:ro|rw]'" in outcome.message
    assert len(labelled(engine)) == before


def test_temporary_directory(engine: docker.APIClient, run_task: RunTask, tmp_path: Path) -> None:
    info, lines = inspect_kept(
        engine,
        run_task,
        command=["sh", "-c", "echo $AIRFLOW_TMP_DIR $DOCKYARD_TMP_DIR; echo x > $AIRFLOW_TMP_DIR/f && echo writable"],
        host_tmp_dir=str(tmp_path),
        tmp_dir="/scratch",
    )
    assert lines == ["/scratch /scratch", "writable"]
    [tmp_mount] = [m for m in info["Mounts"] if m["Destination"] == "/scratch"]
    assert tmp_mount["Source"].startswith(f"{tmp_path}/airflowtmp")
    assert not Path(tmp_mount["Source"]).exists()  # removed once the try ended
    info, lines = inspect_kept(engine, run_task, command=["sh", "-c", "echo [$AIRFLOW_TMP_DIR]"], mount_tmp_dir=False)
    assert lines == ["[]"]
    assert info["Mounts"] == []

"""A task try end to end on the real engine: output, XCom, exit codes, auto_remove, timeouts, errors."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path

import docker
import pytest

from dockyard.container import StopReason
from dockyard.errors import ContainerFailedError, EngineUnreachableError, ImageError, OutputError, TaskTimeoutError
from dockyard.states import TaskState
from tests.helpers import IMAGE, RunTask, dag_id_of, labelled, log_text, output_lines

pytestmark = pytest.mark.engine


def test_output_is_streamed_as_it_comes_with_timestamps(run_task: RunTask) -> None:
    arrivals: list[tuple[float, str]] = []
    outcome = run_task(
        command=["sh", "-c", "echo first; sleep 2; echo second >&2"],
        echo=lambda text: arrivals.extend((time.monotonic(), line) for line in text.splitlines()),
    )
    assert outcome.state is TaskState.SUCCESS, outcome.message
    first = next(t for t, line in arrivals if line.endswith(" first"))
    second = next(t for t, line in arrivals if line.endswith(" second"))
    assert second - first > 1.5  # the first line was seen while the container was still running
    stamped = [line for line in log_text(outcome).splitlines() if line.endswith((" first", " second"))]
    for line in stamped:
        stamp = line.split(" ", 1)[0]
        assert dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).year >= 2024
    assert outcome.xcom == "second"  # stderr is part of the output, as in Airflow


def test_a_hundred_megabytes_of_output_lose_nothing(run_task: RunTask) -> None:
    # 1,000,000 lines of 99 characters + newline = 100 MB.
    script = f"yes '{'x' * 99}' | head -n 1000000; echo end"
    outcome = run_task(command=["sh", "-c", script])
    assert outcome.state is TaskState.SUCCESS, outcome.message
    lines = output_lines(outcome)
    assert len(lines) == 1_000_001
    assert lines[-1] == "end"
    assert sum(len(line) + 1 for line in lines[:-1]) == 100_000_000
    assert set(lines[:-1]) == {"x" * 99}
    assert outcome.xcom == "end"


def test_very_long_lines_and_undecodable_bytes(run_task: RunTask) -> None:
    script = (
        "head -c 2000000 /dev/zero | tr '\\0' a; echo; printf 'bad \\377\\376 bytes\\n'; "
        "head -c 300000 /dev/zero | tr '\\0' b"
    )
    outcome = run_task(command=["sh", "-c", script], xcom_all=True)
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert output_lines(outcome) == ["a" * 2_000_000, "bad \ufffd\ufffd bytes", "b" * 300_000]
    assert outcome.xcom == ["a" * 2_000_000, "bad \ufffd\ufffd bytes", "b" * 300_000]


def test_xcom_rules(run_task: RunTask) -> None:
    command = ["sh", "-c", "echo one; echo '  two  '"]
    assert run_task(command=command).xcom == "two"
    assert run_task(command=command, xcom_all=True).xcom == ["one", "two"]
    assert run_task(command=command, do_xcom_push=False).xcom is None
    assert run_task(command="true").xcom is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"rows": 3, "ok": true}', {"rows": 3, "ok": True}),
        ("just text", "just text"),
    ],
)
def test_retrieve_output_reads_the_file(run_task: RunTask, content: str, expected: object) -> None:
    outcome = run_task(
        command=["sh", "-c", f"printf '%s' '{content}' > /tmp/result; echo log line"],
        retrieve_output=True,
        retrieve_output_path="/tmp/result",
    )
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.xcom == expected


def test_retrieve_output_pickles_plain_data_only(run_task: RunTask, tmp_path: Path) -> None:
    good = {"when": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), "values": [1, 2.5, None]}
    (tmp_path / "good.pkl").write_bytes(pickle.dumps(good))
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Path("/etc/passwd")))
    for name, expected in (("good.pkl", good), ("evil.pkl", None)):
        outcome = run_task(
            command=["cp", f"/in/{name}", "/tmp/result"],
            mounts=[f"{tmp_path}:/in:ro"],
            retrieve_output=True,
            retrieve_output_path="/tmp/result",
        )
        if expected is not None:
            assert outcome.state is TaskState.SUCCESS, outcome.message
            assert outcome.xcom == expected
        else:
            assert outcome.state is TaskState.FAILED
            assert isinstance(outcome.error, OutputError)
            assert "refers to pathlib" in outcome.message and "not plain data" in outcome.message


def test_retrieve_output_of_a_missing_file_is_none_with_a_warning(run_task: RunTask) -> None:
    outcome = run_task(command="true", retrieve_output=True, retrieve_output_path="/tmp/never-written")
    assert outcome.state is TaskState.SUCCESS
    assert outcome.xcom is None
    assert "WARNING: retrieve_output_path /tmp/never-written does not exist" in log_text(outcome)


def test_a_failure_carries_exit_code_image_command_and_last_lines(run_task: RunTask) -> None:
    outcome = run_task(command=["sh", "-c", "for i in $(seq 1 30); do echo line $i; done; exit 4"])
    assert outcome.state is TaskState.FAILED
    error = outcome.error
    assert isinstance(error, ContainerFailedError)
    assert error.exit_code == 4 and error.image == IMAGE
    assert error.last_lines == [f"line {i}" for i in range(11, 31)]
    assert "exited with code 4" in outcome.message and "for i in" in outcome.message
    assert "    line 30" in outcome.message and "line 10\n" not in outcome.message


def test_skip_on_exit_code(run_task: RunTask) -> None:
    assert run_task(command=["sh", "-c", "exit 99"], skip_on_exit_code=99).state is TaskState.SKIPPED
    assert run_task(command=["sh", "-c", "exit 98"], skip_on_exit_code=[97, 98]).state is TaskState.SKIPPED
    assert run_task(command=["sh", "-c", "exit 96"], skip_on_exit_code=[97, 98]).state is TaskState.FAILED


@pytest.mark.parametrize(
    ("auto_remove", "exit_code", "kept"),
    [
        ("never", 0, True),
        ("never", 1, True),
        ("success", 0, False),
        ("success", 1, True),
        ("force", 0, False),
        ("force", 1, False),
        (True, 0, False),
        (False, 0, True),
    ],
)
def test_auto_remove(
    engine: docker.APIClient, run_task: RunTask, auto_remove: object, exit_code: int, kept: bool
) -> None:
    outcome = run_task(command=["sh", "-c", f"exit {exit_code}"], auto_remove=auto_remove)
    left = labelled(engine, dag_id=dag_id_of(outcome))
    assert len(left) == (1 if kept else 0)
    assert all(c["State"] == "exited" for c in left)


@pytest.mark.parametrize(("auto_remove", "kept"), [("success", True), ("force", False)])
def test_execution_timeout_stops_the_container(
    engine: docker.APIClient, run_task: RunTask, auto_remove: str, kept: bool
) -> None:
    started = time.monotonic()
    outcome = run_task(
        command=["sh", "-c", "echo started; exec sleep 60"],
        execution_timeout=dt.timedelta(seconds=1.5),
        auto_remove=auto_remove,
    )
    assert time.monotonic() - started < 20
    assert outcome.state is TaskState.FAILED
    assert isinstance(outcome.error, TaskTimeoutError)
    assert outcome.error.stop_reason is StopReason.TIMEOUT and outcome.error.result.stop_reason is StopReason.TIMEOUT
    assert "longer than its execution_timeout of 1.5 s" in outcome.message
    left = labelled(engine, dag_id=dag_id_of(outcome))
    assert [c["State"] for c in left] == (["exited"] if kept else [])
    assert output_lines(outcome) == ["started"]


def test_an_unknown_image_is_a_clear_error(run_task: RunTask) -> None:
    outcome = run_task(image="dockyard/no-such-image:1.0", command="true")
    assert outcome.state is TaskState.FAILED
    assert isinstance(outcome.error, ImageError)
    assert "could not pull image 'dockyard/no-such-image:1.0' from docker.io" in outcome.message
    assert "Check the image name and tag" in outcome.message


def test_force_pull_pulls_even_a_local_image(run_task: RunTask) -> None:
    # No registry is reachable here, so the pull that force_pull asks for fails, and says where it went.
    outcome = run_task(command="true", force_pull=True)
    assert outcome.state is TaskState.FAILED
    assert isinstance(outcome.error, ImageError)
    assert f"could not pull image {IMAGE!r} from docker.io" in outcome.message
    assert "Pulling image dockyard/busybox:latest from docker.io" in log_text(outcome)


def test_an_unreachable_engine_names_the_urls_tried(run_task: RunTask, tmp_path: Path) -> None:
    missing = f"unix://{tmp_path}/no-engine.sock"
    outcome = run_task(command="true", docker_url=[missing, "tcp://127.0.0.1:1"])
    assert outcome.state is TaskState.FAILED
    assert isinstance(outcome.error, EngineUnreachableError)
    assert f"unix:///{str(tmp_path).lstrip('/')}/no-engine.sock" in outcome.message
    assert "tcp://127.0.0.1:1" in outcome.message
    assert "DOCKER_HOST" in outcome.message and "scripts/start-engine" in outcome.message


def test_docker_url_list_uses_the_first_engine_that_answers(run_task: RunTask, tmp_path: Path) -> None:
    outcome = run_task(command="echo ok", docker_url=[f"unix://{tmp_path}/none.sock", "unix:///var/run/docker.sock"])
    assert outcome.state is TaskState.SUCCESS, outcome.message
    assert outcome.xcom == "ok"


@pytest.mark.parametrize("api_version", ["auto", "1.41", None])
def test_api_version_and_timeout(run_task: RunTask, api_version: str | None) -> None:
    outcome = run_task(command="echo ok", api_version=api_version, timeout=30)
    assert outcome.state is TaskState.SUCCESS, outcome.message

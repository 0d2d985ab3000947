"""Preparation workers: a DAG file is imported once for many tries, and each try still renders in a process of
its own: edits are seen at the next try, a hanging, crashing or memory-hungry render fails only its own task, and
a worker that dies mid-request is a clear failure after which the next try works."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import DagDefinitionError
from dockyard.preparation import PreparedTry, TryContext, prepare_in_child
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.variables import Variables
from tests.helpers import wait_for

DAG_FILE = """
import os, pathlib, time
from datetime import datetime
from dockyard import DAG, DockerOperator
from helper import WORD

HERE = pathlib.Path(__file__).parent
with (HERE / "imports.log").open("a") as log:  # one line per import of this file
    log.write(f"{os.getpid()}\\n")

SEEN = []

def remember(value):
    SEEN.append(value)  # module-level state that a template changes
    return len(SEEN)

def hang():
    (HERE / "hanging.pids").write_text(f"{os.getppid()} {os.getpid()}")
    time.sleep(600)

def eat():
    return len(bytearray(2048 * 1024 * 1024))

macros = {"remember": remember, "hang": hang, "eat": eat, "crash": lambda: os._exit(3)}
with DAG("reuse", start_date=datetime(2024, 1, 1), schedule=None, user_defined_macros=macros) as dag:
    DockerOperator(
        task_id="plain",
        image="busybox",
        command="echo {{ ds }} seen={{ remember(ds) }} colour={{ var.value.get('colour', 'none') }} " + WORD,
    )
    DockerOperator(task_id="hangs", image="busybox", command="{{ hang() }}")
    DockerOperator(task_id="eats", image="busybox", command="{{ eat() }}")
    DockerOperator(task_id="crashes", image="busybox", command="{{ crash() }}")
"""


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "helper.py").write_text('WORD = "one"\n')
    (dags / "reuse.py").write_text(DAG_FILE)
    yield dags


@pytest.fixture
def settings(tmp_path: Path, folder: Path) -> Iterator[Settings]:
    found = Settings.from_env({"DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_DAGS_FOLDER": str(folder)})
    found = dataclasses.replace(found, dag_file_processor_timeout=3, dag_file_memory_mb=400)
    found.home.mkdir()
    Store.open(found).close()
    yield found


def _command(settings: Settings, task_id: str, day: int = 1) -> str:
    """The rendered command of a try of ``task_id`` on day ``day`` of January 2024."""
    return " ".join(_try(settings, task_id, day).options["command"])


def _try(settings: Settings, task_id: str, day: int = 1) -> PreparedTry:
    logical = dt.datetime(2024, 1, day, tzinfo=dt.UTC)
    context = TryContext("reuse", task_id, f"manual__{logical.isoformat()}", logical, fileloc=_file(settings))
    return prepare_in_child(settings, context)


def _file(settings: Settings) -> str:
    return str((settings.dags_folder / "reuse.py").resolve())


def _imports(settings: Settings) -> int:
    return len((settings.dags_folder / "imports.log").read_text().splitlines())


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that nobody reaped yet has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _touch_later(path: Path, text: str) -> None:
    """Rewrite ``path`` so that its time of change differs even on a file system with coarse times."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_a_dag_file_is_imported_once_for_many_tries_and_each_try_renders_afresh(settings: Settings) -> None:
    store = Store.open(settings, migrate_schema=False)
    try:
        commands = []
        for day in range(1, 6):
            if day == 4:  # a variable changed between tries: the next render sees the new value
                Variables(settings, store).set("colour", "blue")
            commands.append(_command(settings, "plain", day))
    finally:
        store.close()
    assert _imports(settings) == 1
    # each try has its own context, and sees the module as imported: one try's change (SEEN) does not leak
    assert commands == [
        "echo 2024-01-01 seen=1 colour=none one",
        "echo 2024-01-02 seen=1 colour=none one",
        "echo 2024-01-03 seen=1 colour=none one",
        "echo 2024-01-04 seen=1 colour=blue one",
        "echo 2024-01-05 seen=1 colour=blue one",
    ]


def test_without_workers_every_try_imports_the_file(settings: Settings) -> None:
    settings = dataclasses.replace(settings, preparation_workers=0)
    assert _command(settings, "plain") == "echo 2024-01-01 seen=1 colour=none one"
    assert _command(settings, "plain", 2) == "echo 2024-01-02 seen=1 colour=none one"
    assert _imports(settings) == 2


def test_an_edited_dag_file_or_helper_module_is_imported_again_at_the_next_try(settings: Settings) -> None:
    assert _command(settings, "plain").endswith(" one")
    path = settings.dags_folder / "reuse.py"
    _touch_later(path, DAG_FILE.replace("echo {{ ds }}", "echo edited {{ ds }}"))
    assert _command(settings, "plain").startswith("echo edited 2024-01-01")
    assert _imports(settings) == 2
    _touch_later(settings.dags_folder / "helper.py", 'WORD = "two"\n')
    assert _command(settings, "plain").endswith(" two")
    assert _imports(settings) == 3
    path.write_text("raise RuntimeError('broken on purpose')\n")
    with pytest.raises(DagDefinitionError, match="broken on purpose"):
        _try(settings, "plain")


def test_a_hanging_render_fails_only_its_own_task(settings: Settings) -> None:
    _try(settings, "plain")
    started = time.monotonic()
    with pytest.raises(DagDefinitionError, match=r"task 'hangs' could not be prepared: timed out after 3 s"):
        _try(settings, "hangs")
    assert time.monotonic() - started < 3 + 5
    worker, child = map(int, (settings.dags_folder / "hanging.pids").read_text().split())
    assert not _running(child)
    assert _running(worker)  # the worker is kept: the next try needs no import
    assert _command(settings, "plain", 2).startswith("echo 2024-01-02")
    assert _imports(settings) == 1


def test_a_render_that_crashes_or_eats_memory_fails_only_its_own_task(settings: Settings) -> None:
    with pytest.raises(DagDefinitionError, match=r"task 'crashes' could not be prepared: exited with status 3"):
        _try(settings, "crashes")
    with pytest.raises(DagDefinitionError, match=r"task 'eats' could not be prepared: killed: used more than 400 MB"):
        _try(settings, "eats")
    assert _command(settings, "plain").startswith("echo 2024-01-01")
    assert _imports(settings) == 1


def test_a_worker_killed_mid_request_is_a_clear_failure_and_the_next_try_works(settings: Settings) -> None:
    settings = dataclasses.replace(settings, dag_file_processor_timeout=60)
    failures: list[BaseException] = []

    def hang() -> None:
        try:
            _try(settings, "hangs")
        except DagDefinitionError as exc:
            failures.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    pids = settings.dags_folder / "hanging.pids"
    wait_for(lambda: pids.exists() and pids.read_text(), timeout=30, what="the hanging render")
    worker, child = map(int, pids.read_text().split())
    os.kill(worker, signal.SIGKILL)  # as the kernel's OOM killer or a person would
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(failures) == 1
    assert "task 'hangs' could not be prepared: killed (SIGKILL)" in str(failures[0])
    wait_for(lambda: not _running(child), timeout=10, what="the request's child to be stopped with its worker")
    assert _command(settings, "plain").startswith("echo 2024-01-01")
    assert _imports(settings) == 2


def test_a_dag_file_whose_import_hangs_times_out_and_a_fixed_file_prepares(settings: Settings) -> None:
    path = settings.dags_folder / "reuse.py"
    original = path.read_text()
    path.write_text("import time\nfrom dockyard import DAG\nwhile True:\n    time.sleep(0.5)\n")
    started = time.monotonic()
    with pytest.raises(DagDefinitionError, match=r"timed out after 3 s"):
        _try(settings, "plain")
    assert time.monotonic() - started < 3 + 5
    _touch_later(path, original)
    assert _command(settings, "plain").startswith("echo 2024-01-01")


GROWN = """
import pathlib
from datetime import datetime
from airflow.models import Variable
from dockyard import DAG, DockerOperator

with (pathlib.Path(__file__).parent / "imports.log").open("a") as log:
    log.write("import\\n")
with DAG("grown", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for name in Variable.get("steps", default_var="a").split(","):
        DockerOperator(task_id=name, image="busybox", command=f"echo {name}")
"""


def test_a_task_the_workers_import_lacks_is_prepared_from_a_fresh_import(settings: Settings) -> None:
    """A file whose tasks come from a Variable read at its top: the scheduler may know a task (the DAG processor
    parsed the file again) that the worker's import does not have; that try imports the file afresh."""
    path = settings.dags_folder / "grown.py"
    path.write_text(GROWN)
    logical = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def command(task_id: str) -> str:
        context = TryContext("grown", task_id, "manual__1", logical, fileloc=str(path.resolve()))
        return " ".join(prepare_in_child(settings, context).options["command"])

    assert command("a") == "echo a"
    store = Store.open(settings, migrate_schema=False)
    try:
        Variables(settings, store).set("steps", "a,b")
    finally:
        store.close()
    assert command("b") == "echo b"  # not in the worker's import: imported again for this try
    assert command("a") == "echo a"
    assert _imports(settings) == 2  # the worker's import and the one fresh import

"""The DAG processor: every DAG file is parsed in a child process; whatever a file does is its own import
error, and the rest of the folder is parsed and stored as usual."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from dockyard.cli.common import load_dag
from dockyard.errors import DagDefinitionError, DagFileError
from dockyard.processor import DagProcessor
from dockyard.settings import Settings
from dockyard.store import Store

GOOD = """
from datetime import datetime
from dockyard import DAG, DockerOperator
with DAG("good", start_date=datetime(2024, 1, 1), schedule="@daily", tags=["t"]) as dag:
    first = DockerOperator(task_id="a", image="busybox", command="echo {{ ds }}")
    first >> DockerOperator(task_id="b", image="busybox")
"""

BROKEN = {
    "hangs.py": "import time\nfrom dockyard import DAG\nwhile True:\n    time.sleep(0.5)\n",
    "exits.py": "import os\nfrom dockyard import DAG\nos._exit(0)\n",
    "crashes.py": "import os, signal\nfrom dockyard import DAG\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "eats.py": "from dockyard import DAG\nblocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n",
    "raises.py": "from dockyard import DAG\nraise RuntimeError('boom')\n",
}


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, Store, Path]:
    folder = tmp_path / "dags"
    folder.mkdir()
    settings = Settings.from_env({"DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_DAGS_FOLDER": str(folder)})
    settings = dataclasses.replace(settings, dag_file_processor_timeout=3, dag_file_memory_mb=400)
    settings.home.mkdir()
    store = Store.open(settings)
    yield settings, store, folder
    store.close()


def test_a_file_that_hangs_exits_crashes_or_eats_memory_is_an_import_error_of_its_own(
    setup: tuple[Settings, Store, Path],
) -> None:
    settings, store, folder = setup
    _write(folder, "good.py", GOOD)
    for name, text in BROKEN.items():
        _write(folder, name, text)
    started = time.monotonic()
    report = DagProcessor(settings, store).refresh()
    elapsed = time.monotonic() - started
    assert report is not None
    assert sorted(report.dags) == ["good"], report.import_errors
    assert report.dags["good"].task("b").upstream == ("a",)
    errors = {Path(k).name: v for k, v in report.import_errors.items()}
    assert sorted(errors) == sorted(BROKEN)
    assert "timed out after 3 s while being imported" in errors["hangs.py"]
    assert "exited with status 0 while being imported" in errors["exits.py"]
    assert "crashed (SIGSEGV) while being imported" in errors["crashes.py"]
    assert "used more than 400 MB" in errors["eats.py"]
    assert "raises.py:2: RuntimeError: boom" in errors["raises.py"]
    assert elapsed < 15, f"the folder took {elapsed:.1f} s: one hanging file must cost only its own time limit"
    stored = {row.filename: row.message for row in store.list_import_errors()}
    assert {Path(k).name for k in stored} == set(BROKEN)


def test_every_problem_of_a_file_is_reported_and_its_good_dags_still_load(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, folder = setup
    _write(
        folder,
        "mixed.py",
        """
from datetime import datetime
from dockyard import DAG, EmptyOperator
with DAG("fine", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="x")
with DAG("loops", start_date=datetime(2024, 1, 1), schedule=None):
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b >> a
with DAG("loops_too", start_date=datetime(2024, 1, 1), schedule=None):
    c = EmptyOperator(task_id="c")
    c >> c
""",
    )
    report = DagProcessor(settings, store).refresh()
    assert report is not None
    assert sorted(report.dags) == ["fine"]
    (message,) = report.import_errors.values()
    assert len(message.splitlines()) == 2
    assert "'loops'" in message and "'loops_too'" in message and "cycle" in message


def test_only_changed_files_are_parsed_again_and_helpers_are_read_fresh(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, folder = setup
    _write(folder, "helper_values.py", "TAG = 'first'\n")
    dag_file = _write(
        folder,
        "uses_helper.py",
        """
from datetime import datetime
from dockyard import DAG, EmptyOperator
from helper_values import TAG
with DAG("helped", start_date=datetime(2024, 1, 1), schedule=None, tags=[TAG]):
    EmptyOperator(task_id="x")
""",
    )
    _write(folder, "good.py", GOOD)
    processor = DagProcessor(settings, store)
    first = processor.refresh()
    assert first is not None and first.dags["helped"].tags == ("first",)
    assert processor.refresh() is None  # nothing changed: nothing parsed
    dag_file.write_text(dag_file.read_text() + "\n# touched\n")
    again = processor.refresh()
    assert again is not None and again.parsed == 1
    _write(folder, "helper_values.py", "TAG = 'second'\n")
    helped = processor.refresh()
    assert helped is not None and helped.dags["helped"].tags == ("second",)
    # A second processor (the CLI beside a running scheduler) starts from what the store recorded.
    assert DagProcessor(settings, store).refresh() is None


def test_removed_files_and_duplicate_dag_ids(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, folder = setup
    _write(folder, "a_good.py", GOOD)
    copy = _write(folder, "b_copy.py", GOOD)
    processor = DagProcessor(settings, store)
    report = processor.refresh()
    assert report is not None
    assert report.dags["good"].fileloc.endswith("a_good.py")
    assert "already defined in" in report.import_errors[str(copy.resolve())]
    copy.unlink()
    (folder / "a_good.py").unlink()
    report = processor.refresh()
    assert report is not None and report.dags == {} and report.import_errors == {}
    assert [d.dag_id for d in store.list_dags(active_only=False) if d.is_active] == []


def test_variables_are_read_at_parse_time(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, folder = setup
    store.set_variable("team", "data")
    _write(
        folder,
        "var.py",
        """
from datetime import datetime
from airflow import DAG
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator
with DAG("with_var", start_date=datetime(2024, 1, 1), schedule=None, tags=[Variable.get("team")]):
    EmptyOperator(task_id="x")
""",
    )
    report = DagProcessor(settings, store).refresh()
    assert report is not None and report.dags["with_var"].tags == ("data",), report.import_errors


def test_the_cli_finds_a_dag_by_file_or_id_through_the_processor(setup: tuple[Settings, Store, Path]) -> None:
    settings, _, folder = setup
    path = _write(folder, "etl.py", GOOD.replace('"good"', '"etl"'))
    assert load_dag(settings, str(path)).dag_id == "etl"
    assert load_dag(settings, "etl").task("b").upstream == ("a",)
    with pytest.raises(DagDefinitionError, match="no DAG 'etx'.*did you mean 'etl'"):
        load_dag(settings, "etx")
    with pytest.raises(DagFileError, match="no such file"):
        load_dag(settings, str(folder / "missing.py"))


def test_arguments_accepted_but_not_enforced_warn_at_load(setup: tuple[Settings, Store, Path]) -> None:
    settings, store, folder = setup
    _write(
        folder,
        "with_sla.py",
        """
from datetime import datetime, timedelta
from dockyard import DAG, EmptyOperator
with DAG("with_sla", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="x", sla=timedelta(hours=1))
""",
    )
    report = DagProcessor(settings, store).refresh()
    assert report is not None and "with_sla" in report.dags
    (warning,) = report.warnings
    assert "'sla' is accepted but not enforced" in warning and "execution_timeout" in warning

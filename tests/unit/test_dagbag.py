from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.dagbag import DagBag, load_dag_file
from dockyard.errors import DagFileError

GOOD = """
from datetime import datetime
from dockyard import DAG, DockerOperator
with DAG("{dag_id}", start_date=datetime(2024, 1, 1)) as dag:
    DockerOperator(task_id="a", image="i")
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_broken_file_is_reported_with_its_line_and_does_not_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path, "good.py", GOOD.format(dag_id="good"))
    write(tmp_path, "syntax.py", "from dockyard import DAG\nx = (\n")
    write(tmp_path, "name.py", "from dockyard import DAG\n\nundefined_name()\n")
    write(tmp_path, "cycle.py", GOOD.format(dag_id="cyc") + "    a = dag.get_task('a')\n    a >> a\n")
    write(tmp_path, "helper.py", "X = 1\n")  # no DAG: not even imported
    bag = DagBag.from_folder(tmp_path)
    assert sorted(bag.dags) == ["good"]
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert sorted(errors) == ["cycle.py", "name.py", "syntax.py"]
    assert "name.py:3: NameError: name 'undefined_name' is not defined" in errors["name.py"]
    assert "syntax.py:2: SyntaxError" in errors["syntax.py"]
    assert "has a cycle: a <- a" in errors["cycle.py"]


def test_bad_operator_arguments_point_at_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "bad.py", GOOD.format(dag_id="bad") + "    DockerOperator(task_id='b', image='i', mem_limt='1g')\n"
    )
    with pytest.raises(DagFileError) as info:
        load_dag_file(path)
    assert info.value.lineno == 6
    assert "unknown argument 'mem_limt'" in str(info.value) and "did you mean 'mem_limit'" in str(info.value)


def test_duplicate_dag_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.py", GOOD.format(dag_id="same"))
    write(tmp_path, "b.py", GOOD.format(dag_id="same"))
    bag = DagBag.from_folder(tmp_path)
    assert list(bag.dags) == ["same"]
    assert "the dag_id 'same' is already defined in" in next(iter(bag.import_errors.values()))


def test_dags_made_in_a_function_are_found(tmp_path: Path) -> None:
    text = (
        "from datetime import datetime\nfrom dockyard import DAG\n\n"
        "def make():\n    DAG('inner', start_date=datetime(2024, 1, 1))\n\nmake()\n"
    )
    assert [d.dag_id for d in load_dag_file(write(tmp_path, "f.py", text))] == ["inner"]


def test_local_helper_modules_can_be_imported(tmp_path: Path) -> None:
    write(tmp_path, "_common.py", "IMAGE = 'shared:1'\n")
    text = (
        GOOD.format(dag_id="h")
        .replace('image="i"', "image=_common.IMAGE")
        .replace("from dockyard", "import _common\nfrom dockyard")
    )
    dag = load_dag_file(write(tmp_path, "h.py", text))[0]
    assert dag.get_task("a").image == "shared:1"  # type: ignore[attr-defined]

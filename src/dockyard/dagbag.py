"""Loading DAG files: a file that fails to import, or defines a broken DAG, is reported with its
file, line and reason, and never stops the other files from loading.

Example::

    bag = DagBag.from_folder(Path("dags"))
    bag.dags["etl"]               # <DAG etl>
    bag.import_errors             # {'dags/broken.py': 'dags/broken.py:3: NameError: ...'}
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.compat import airflow as airflow_compat
from dockyard.dag import DAG, collecting_dags
from dockyard.errors import DagDefinitionError, DagFileError

log = logging.getLogger(__name__)


def _line_in(path: Path, exc: BaseException) -> int | None:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return exc.lineno
    lineno = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            lineno = frame.lineno
    return lineno


def import_dag_file(path: Path) -> list[DAG]:
    """Import one DAG file and return the DAGs it defines (not yet validated).

    Raises :class:`DagFileError` naming the file, the line and the reason when the file does not import.
    """
    path = path.resolve()
    airflow_compat.install()
    if not path.is_file():
        raise DagFileError(str(path), "no such file; give the path of a Python DAG file or a dag_id")
    module_name = "dockyard_dag_" + hashlib.sha1(str(path).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DagFileError(str(path), "cannot be imported as Python (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module
    try:
        with collecting_dags() as created:
            spec.loader.exec_module(module)
    except DagDefinitionError as exc:
        raise DagFileError(str(path), str(exc), _line_in(path, exc)) from exc
    except (KeyboardInterrupt, MemoryError):
        raise  # the process's own limits: its parent reports them
    except BaseException as exc:  # any error in a user's file (even SystemExit) is reported, not raised through
        reason = f"{type(exc).__name__}: {exc}"
        raise DagFileError(str(path), reason, _line_in(path, exc)) from exc
    finally:
        sys.modules.pop(module_name, None)
        try:
            sys.path.remove(str(path.parent))
        except ValueError:
            pass
    found: dict[str, DAG] = {}
    for candidate in [*created, *(v for v in vars(module).values() if isinstance(v, DAG))]:
        if candidate.dag_id in found and found[candidate.dag_id] is not candidate:
            raise DagFileError(str(path), f"two DAGs have the dag_id {candidate.dag_id!r}; every dag_id must be unique")
        found[candidate.dag_id] = candidate
    for dag in found.values():
        dag.fileloc = str(path)
    return list(found.values())


def load_dag_file(path: Path) -> list[DAG]:
    """Import one DAG file and return the DAGs it defines, each checked for cycles.

    Raises :class:`DagFileError` naming the file, the line and the reason when the file does not load.
    """
    dags = import_dag_file(path)
    for dag in dags:
        try:
            dag.validate()
        except DagDefinitionError as exc:
            raise DagFileError(str(path.resolve()), str(exc)) from exc
    return dags


def load_valid_dags(path: Path) -> tuple[list[DAG], list[str]]:
    """The DAGs of a file that are valid, and every problem found (the import's, or one per broken DAG).

    A file whose import fails has one problem; a file that imports has one per DAG that does not validate,
    so a person sees them all at once.
    """
    try:
        dags = import_dag_file(path)
    except DagFileError as exc:
        return [], [str(exc)]
    valid, problems = [], []
    for dag in dags:
        try:
            dag.validate()
        except DagDefinitionError as exc:
            problems.append(str(DagFileError(str(path.resolve()), str(exc))))
        else:
            valid.append(dag)
    return valid, problems


@dataclass
class DagBag:
    """The DAGs of a folder, and the files that failed to load."""

    folder: Path
    dags: dict[str, DAG] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path) -> DagBag:
        bag = cls(folder=folder)
        if not folder.is_dir():
            return bag
        for path in sorted(folder.rglob("*.py")):
            if any(part.startswith((".", "_")) for part in path.relative_to(folder).parts):
                continue
            try:
                text = path.read_bytes()
            except OSError as exc:
                bag.import_errors[str(path)] = f"{path}: cannot be read: {exc}"
                continue
            if b"DAG" not in text and b"dag" not in text:
                continue  # not a DAG file (a helper module next to the DAGs)
            try:
                dags = load_dag_file(path)
            except DagFileError as exc:
                bag.import_errors[str(path)] = str(exc)
                log.warning("%s", exc)
                continue
            for dag in dags:
                if dag.dag_id in bag.dags:
                    other = bag.dags[dag.dag_id].fileloc
                    bag.import_errors[str(path)] = f"{path}: the dag_id {dag.dag_id!r} is already defined in {other}"
                    continue
                bag.dags[dag.dag_id] = dag
        return bag

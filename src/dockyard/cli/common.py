"""What every command shares: settings, the store, the DAG folder, errors printed as one clear line."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from dockyard.cli.audit import cancelled
from dockyard.compat import airflow as airflow_compat
from dockyard.connections import Connections
from dockyard.dag import closest
from dockyard.errors import DagDefinitionError, DagFileError, DockyardError
from dockyard.processor import DagProcessor, Report, dag_files, parse_files, parse_one
from dockyard.serialized import SerializedDag
from dockyard.settings import Settings
from dockyard.store import Store
from dockyard.variables import variable_source

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


def friendly(function: F) -> F:
    """Turn dockyard's errors into one red line and exit code 1, instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except DockyardError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def open_store(settings: Settings) -> Store:
    """The store, with Airflow DAG files' ``Variable.get`` and ``BaseHook.get_connection`` pointed at it."""
    store = Store.open(settings)
    context = click.get_current_context(silent=True)
    if context is not None:  # the database connections close with the command, not at garbage collection
        context.call_on_close(store.close)
    airflow_compat.configure(variables=variable_source(settings, store), connections=Connections(settings, store).get)
    return store


def load_folder(settings: Settings, store: Store) -> Report:
    """The DAG folder as the scheduler sees it: changed files parsed by the DAG processor (in child
    processes), then the DAGs and import errors as stored."""
    processor = DagProcessor(settings, store)
    report = processor.refresh() or processor.report()
    for warning in report.warnings:
        click.secho(f"Warning: {warning}", fg="yellow", err=True)
    return report


def load_dag(settings: Settings, dag_file_or_id: str) -> SerializedDag:
    """A DAG from a file path (its only DAG, or the one whose id is the file's stem) or by id from the folder."""
    candidate = Path(dag_file_or_id)
    if candidate.suffix == ".py" or candidate.is_file():
        if not candidate.is_file():
            raise DagFileError(str(candidate), "no such file; give the path of a Python DAG file or a dag_id")
        result = parse_one(candidate, settings)
        dags, problems = result.dags, result.problems
        for problem in [*problems, *result.warnings]:
            click.secho(problem, fg="yellow", err=True)
        if not dags:
            if problems:
                raise DagDefinitionError("\n".join(problems))
            raise DagFileError(str(candidate), "defines no DAG; create one with `with DAG(...) as dag:`")
        if len(dags) == 1:
            return dags[0]
        by_stem = [d for d in dags if d.dag_id == candidate.stem]
        if by_stem:
            return by_stem[0]
        raise DagFileError(
            str(candidate),
            f"defines several DAGs ({', '.join(d.dag_id for d in dags)}); pass the dag_id and set DOCKYARD_DAGS_FOLDER",
        )
    report = load_folder(settings, open_store(settings))
    return dag_in(report, dag_file_or_id, settings)


def dag_in(report: Report, dag_id: str, settings: Settings) -> SerializedDag:
    """``dag_id`` from a folder's report, or an error naming the known DAGs and the import errors."""
    if dag_id in report.dags:
        return report.dags[dag_id]
    hint = closest(dag_id, sorted(report.dags))
    errors = (
        f"; {len(report.import_errors)} file(s) failed to load (dockyard dags list-import-errors)"
        if report.import_errors
        else ""
    )
    raise DagDefinitionError(
        f"no DAG {dag_id!r} in {settings.dags_folder}{hint}{errors}. "
        f"Known DAGs: {', '.join(sorted(report.dags)) or '(none)'}"
    )


def parse_logical_date(value: str | None, *, hint: str = "LOGICAL_DATE") -> dt.datetime:
    """``2024-01-31`` or an ISO datetime; naive values are UTC. Default: now, to the second."""
    if value is None:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use 2024-01-31 or 2024-01-31T06:00:00+00:00", param_hint=hint
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def date_or_none(text: str) -> dt.datetime | None:
    """``text`` as a date if it is one (Airflow's ``EXECUTION_DATE_OR_RUN_ID``), else None: then it is a run id."""
    try:
        return parse_logical_date(text)
    except click.BadParameter:
        return None


def parse_conf(text: str | None, hint: str = "--conf") -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON ({exc}); e.g. '{{\"n\": 3}}'", param_hint=hint) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object, e.g. '{\"n\": 3}'", param_hint=hint)
    return value


subdir_option = click.option(
    "-S",
    "--subdir",
    type=click.Path(exists=True, path_type=Path),
    help="The DAG folder or file to look in (default $DOCKYARD_DAGS_FOLDER).",
)
"""Airflow's ``-S/--subdir``: where DAG files are read from for this command."""


def is_dags_folder(settings: Settings, subdir: Path | None) -> bool:
    return subdir is None or subdir.resolve() == settings.dags_folder.resolve()


def read_dags(settings: Settings, subdir: Path | None) -> tuple[Report, Store]:
    """The DAGs and import errors of ``subdir`` (default: the DAG folder) and the store.

    The DAG folder is synchronised with the store, as the scheduler does. Another folder or a single file
    (``-S``) is parsed on its own and recorded nowhere: looking at other files must not make the folder's DAGs
    look deleted to the scheduler.
    """
    store = open_store(settings)
    if is_dags_folder(settings, subdir):
        return load_folder(settings, store), store
    assert subdir is not None
    files = [subdir.resolve()] if subdir.is_file() else [p.resolve() for p in dag_files(subdir)]
    started = time.monotonic()
    results = parse_files([str(p) for p in files], settings)
    dags: dict[str, SerializedDag] = {}
    errors: dict[str, str] = {}
    for path, result in results.items():
        for dag in result.dags:
            dags.setdefault(dag.dag_id, dag)
        if result.problems:
            errors[path] = "\n".join(result.problems)
        for warning in result.warnings:
            click.secho(f"Warning: {warning}", fg="yellow", err=True)
    return Report(dags=dags, import_errors=errors, parsed=len(files), seconds=time.monotonic() - started), store


def dag_from(settings: Settings, dag_id: str, subdir: Path | None) -> tuple[SerializedDag, Store]:
    """DAG ``dag_id`` from ``subdir`` (a folder or a file; default the DAG folder) and the store."""
    report, store = read_dags(settings, subdir)
    return dag_in(report, dag_id, settings.with_dags_folder(subdir) if subdir else settings), store


def matching_dag_ids(store: Store, dag_id: str, as_regex: bool) -> list[str]:
    """``dag_id`` itself, or with ``--treat-dag-id-as-regex`` every stored DAG id the expression finds."""
    if not as_regex:
        store.get_dag(dag_id)
        return [dag_id]
    try:
        pattern = re.compile(dag_id)
    except re.error as exc:
        raise click.BadParameter(f"{dag_id!r} is not a regular expression ({exc})", param_hint="DAG_ID") from None
    return [row.dag_id for row in store.list_dags() if pattern.search(row.dag_id)]


def confirm_or_stop(question: str, yes: bool) -> bool:
    """Airflow's ``-y/--yes``: ask unless ``yes``; False (and "Cancelled.") when the answer is no."""
    if yes or click.confirm(question, default=False):
        return True
    click.echo("Cancelled.")
    cancelled()
    return False

"""Unchanged Airflow DAG files: an ``airflow`` package served by dockyard when Airflow is not installed.

:func:`install` adds a module finder at the *end* of ``sys.meta_path``, so a real Airflow installation,
found first by the ordinary finders, is never shadowed. The import paths of Airflow 1.10, 2.x and 3.x
that DAG files use for Docker pipelines resolve to dockyard's authoring API; any other ``airflow.*``
module imports fine too (real DAG files import what they never use), and its operators raise one clear
error naming the operator, the DAG file and line, and what to use instead, when a DAG uses them.
"""

from __future__ import annotations

import datetime as dt
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
import traceback
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pendulum

from dockyard import datasets, timetables
from dockyard.dag import DAG
from dockyard.errors import DagDefinitionError, DockyardError, TaskSkipped
from dockyard.macros import MACROS
from dockyard.operators.base import BaseOperator, EmptyOperator, TriggerRule, chain, cross_downstream
from dockyard.operators.bash import BashOperator
from dockyard.operators.branch import (
    BaseBranchOperator,
    BranchExternalPythonOperator,
    BranchPythonOperator,
    BranchPythonVirtualenvOperator,
    ShortCircuitOperator,
)
from dockyard.operators.docker import DockerOperator
from dockyard.operators.docker_swarm import DockerSwarmOperator
from dockyard.operators.edges import EdgeModifier, Label
from dockyard.operators.orchestration import EmailOperator, LatestOnlyOperator, TriggerDagRunOperator
from dockyard.operators.python import PythonOperator
from dockyard.operators.python_env import ExternalPythonOperator, PythonVirtualenvOperator
from dockyard.params import Param
from dockyard.taskgroup import TaskGroup, task_group
from dockyard.timetable import DagRunInfo, DataInterval, TimeRestriction, Timetable, coerce, to_utc

_sources: dict[str, Callable[[str], Any]] = {}


def configure(
    *, variables: Callable[[str], str | None] | None = None, connections: Callable[[str], Any] | None = None
) -> None:
    """Where ``Variable.get`` and ``BaseHook.get_connection`` look (the CLI and the scheduler set them)."""
    if variables is not None:
        _sources["variables"] = variables
    if connections is not None:
        _sources["connections"] = connections


class AirflowException(DockyardError):
    """Airflow's base exception, for DAG files that raise or catch it."""


class AirflowSkipException(TaskSkipped):
    pass


class AirflowFailException(AirflowException):
    """Raised by a callable to fail its task without retries."""


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> dt.datetime:
    """Midnight UTC ``n`` days ago (Airflow's deprecated helper, still common in DAG files)."""
    today = dt.datetime.now(dt.timezone.utc).replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - dt.timedelta(days=n)


def _timezone_datetime(*args: Any, **kwargs: Any) -> dt.datetime:
    """``airflow.utils.timezone.datetime``: a ``datetime`` in UTC unless ``tzinfo`` is given."""
    kwargs.setdefault("tzinfo", dt.timezone.utc)
    return dt.datetime(*args, **kwargs)


TIMEZONE = {
    "utc": pendulum.UTC,
    "utcnow": lambda: pendulum.now("UTC"),
    "datetime": _timezone_datetime,
    "parse": pendulum.parse,
    "coerce_datetime": lambda value: None if value is None else coerce(value),
    "convert_to_utc": lambda value: None if value is None else to_utc(value),
    "make_aware": lambda value, timezone=None: pendulum.instance(value.replace(tzinfo=None), tz=timezone or "UTC"),
}

_NOT_SET = object()


class Variable:
    """``Variable.get(key, default_var=None, deserialize_json=False)`` at parse time."""

    @staticmethod
    def get(key: str, default_var: Any = _NOT_SET, deserialize_json: bool = False) -> Any:
        lookup = _sources.get("variables")
        value = lookup(key) if lookup is not None else None
        if value is None:
            if default_var is _NOT_SET:
                raise KeyError(f"Variable {key} does not exist; set it with `dockyard variables set {key} VALUE`")
            return default_var
        return json.loads(value) if deserialize_json else value


class BaseHook:
    @staticmethod
    def get_connection(conn_id: str) -> Any:
        lookup = _sources.get("connections")
        if lookup is None:
            raise AirflowException(f"connection {conn_id!r} cannot be looked up here")
        return lookup(conn_id)


def _caller() -> str:
    """``file:line`` of the DAG file line that is running now."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "dockyard" not in frame.filename.split("/")[-3:-1] and not frame.filename.startswith("<"):
            return f"{frame.filename}:{frame.lineno}"
    return "the DAG file"


def unsupported(name: str, advice: str = "") -> type:
    """A placeholder class: importing it works, using it is one clear error."""

    def fail(*args: Any, **kwargs: Any) -> None:
        raise DagDefinitionError(
            f"{name} is not supported by dockyard ({_caller()}): every dockyard task runs in a container. "
            + (advice or "Move the work into an image and use DockerOperator, or EmptyOperator for a no-op.")
        )

    return type(name, (), {"__init__": fail, "__doc__": f"Not supported by dockyard: {name}."})


def _warn_dummy(*args: Any, **kwargs: Any) -> EmptyOperator:
    warnings.warn("DummyOperator is deprecated, use EmptyOperator", DeprecationWarning, stacklevel=2)
    return EmptyOperator(*args, **kwargs)


class _TaskDecorator:
    """``@task`` (a PythonOperator: the function runs in the task image) and ``@task.docker`` (a function
    run inside the image it names)."""

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        from dockyard.decorators import python_task

        return python_task(python_callable, **kwargs)

    def python(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self(python_callable, **kwargs)

    def docker(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        from dockyard.decorators import docker_task

        return docker_task(python_callable, **kwargs)

    def branch(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.branch``: returns the task id(s) or group id(s) to follow."""
        return self(python_callable, operator_class=BranchPythonOperator, **kwargs)

    def short_circuit(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.short_circuit``: a false result skips what comes after."""
        return self(python_callable, operator_class=ShortCircuitOperator, **kwargs)

    def virtualenv(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self(python_callable, operator_class=PythonVirtualenvOperator, **kwargs)

    def external_python(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self(python_callable, operator_class=ExternalPythonOperator, **kwargs)

    def branch_virtualenv(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self(python_callable, operator_class=BranchPythonVirtualenvOperator, **kwargs)

    def branch_external_python(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self(python_callable, operator_class=BranchExternalPythonOperator, **kwargs)

    def bash(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.bash``: the function returns the Bash command to run in the task image."""
        from dockyard.operators.python_env import BashDecoratedOperator

        return self(python_callable, operator_class=BashDecoratedOperator, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise DagDefinitionError(
            f"@task.{name} is not supported by dockyard ({_caller()}); use @task, @task.branch, "
            "@task.short_circuit, @task.bash, @task.virtualenv, @task.external_python (the task image) or "
            "@task.docker"
        )


task = _TaskDecorator()


def dag(*dag_args: Any, **dag_kwargs: Any) -> Any:
    """``@dag``: calling the decorated function builds the DAG, the function's name as its default id."""

    def wrap(function: Callable[..., Any]) -> Callable[..., DAG]:
        def build(*args: Any, **kwargs: Any) -> DAG:
            dag_id = dag_kwargs.pop("dag_id", None) or (dag_args[0] if dag_args else function.__name__)
            with DAG(dag_id, **dag_kwargs) as built:
                function(*args, **kwargs)
            return built

        build.__name__ = function.__name__
        return build

    if len(dag_args) == 1 and callable(dag_args[0]) and not dag_kwargs:
        function, dag_args = dag_args[0], ()
        return wrap(function)
    return wrap


def get_current_context() -> Any:
    """Airflow's ``get_current_context``: only a running callable has a context (in its container)."""
    raise AirflowException(
        f"get_current_context() was called while the DAG file is parsed ({_caller()}); call it inside the task's "
        "callable, where it returns the running task's context"
    )


def _module(name: str, **attributes: Any) -> dict[str, Any]:
    return {"__name__": name, **attributes}


def _setup(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    from dockyard.decorators import setup_task

    return setup_task(python_callable, **kwargs)


def _teardown(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    from dockyard.decorators import teardown_task

    return teardown_task(python_callable, **kwargs)


DOCKER = {"DockerOperator": DockerOperator}
BASH = {"BashOperator": BashOperator}
PYTHON = {
    "PythonOperator": PythonOperator,
    "BranchPythonOperator": BranchPythonOperator,
    "ShortCircuitOperator": ShortCircuitOperator,
    "PythonVirtualenvOperator": PythonVirtualenvOperator,
    "ExternalPythonOperator": ExternalPythonOperator,
    "BranchPythonVirtualenvOperator": BranchPythonVirtualenvOperator,
    "BranchExternalPythonOperator": BranchExternalPythonOperator,
    "get_current_context": get_current_context,
}
LATEST_ONLY = {"LatestOnlyOperator": LatestOnlyOperator}
TRIGGER = {"TriggerDagRunOperator": TriggerDagRunOperator}
EMAIL = {"EmailOperator": EmailOperator}
EDGES = {"Label": Label, "EdgeModifier": EdgeModifier}
DECORATORS = {"task": task, "task_group": task_group, "setup": _setup, "teardown": _teardown}
DATASETS = {"Dataset": datasets.Dataset, "DatasetAll": datasets.DatasetAll, "DatasetAny": datasets.DatasetAny}
ASSETS = {"Asset": datasets.Asset, "AssetAll": datasets.AssetAll, "AssetAny": datasets.AssetAny}
MODULES: dict[str, dict[str, Any]] = {
    "airflow": {"DAG": DAG, "AirflowException": AirflowException, "__version__": "2.10.0+dockyard"},
    "airflow.models": {"DAG": DAG, "BaseOperator": BaseOperator, "Variable": Variable, "Param": Param},
    "airflow.models.dag": {"DAG": DAG},
    "airflow.models.baseoperator": {"BaseOperator": BaseOperator, "chain": chain, "cross_downstream": cross_downstream},
    "airflow.models.param": {"Param": Param},
    "airflow.models.variable": {"Variable": Variable},
    "airflow.sdk": {
        "DAG": DAG,
        "dag": dag,
        "task": task,
        "Param": Param,
        "Variable": Variable,
        "TaskGroup": TaskGroup,
        "chain": chain,
        "BaseOperator": BaseOperator,
        "BaseHook": BaseHook,
        "get_current_context": get_current_context,
        "task_group": task_group,
        "setup": _setup,
        "teardown": _teardown,
        "Label": Label,
        "EdgeModifier": EdgeModifier,
        "TriggerRule": TriggerRule,
        **ASSETS,
    },
    "airflow.decorators": {**DECORATORS, "dag": dag},
    "airflow.decorators.task_group": {"task_group": task_group},
    "airflow.decorators.setup_teardown": {"setup_task": _setup, "teardown_task": _teardown},
    "airflow.utils.edgemodifier": EDGES,
    "airflow.operators.latest_only": LATEST_ONLY,
    "airflow.operators.latest_only_operator": LATEST_ONLY,
    "airflow.providers.standard.operators.latest_only": LATEST_ONLY,
    "airflow.operators.trigger_dagrun": TRIGGER,
    "airflow.operators.dagrun_operator": TRIGGER,
    "airflow.providers.standard.operators.trigger_dagrun": TRIGGER,
    "airflow.operators.email": EMAIL,
    "airflow.operators.email_operator": EMAIL,
    "airflow.providers.smtp": {},
    "airflow.providers.smtp.operators": {},
    "airflow.providers.smtp.operators.smtp": EMAIL,
    "airflow.providers": {},
    "airflow.providers.docker": {},
    "airflow.providers.docker.operators": {},
    "airflow.providers.docker.operators.docker": DOCKER,
    "airflow.providers.docker.operators.docker_swarm": {"DockerSwarmOperator": DockerSwarmOperator},
    "airflow.operators": {},
    "airflow.operators.docker_operator": DOCKER,
    "airflow.operators.empty": {"EmptyOperator": EmptyOperator},
    "airflow.operators.bash": BASH,
    "airflow.operators.bash_operator": BASH,
    "airflow.operators.python": PYTHON,
    "airflow.operators.python_operator": PYTHON,
    "airflow.providers.standard.operators.bash": BASH,
    "airflow.providers.standard.operators.python": PYTHON,
    "airflow.operators.dummy": {"DummyOperator": _warn_dummy},
    "airflow.operators.dummy_operator": {"DummyOperator": _warn_dummy},
    "airflow.providers.standard": {},
    "airflow.providers.standard.operators": {},
    "airflow.providers.standard.operators.empty": {"EmptyOperator": EmptyOperator},
    "airflow.utils": {},
    "airflow.utils.dates": {"days_ago": days_ago},
    "airflow.utils.timezone": TIMEZONE,
    "airflow.macros": vars(MACROS),
    "airflow.utils.trigger_rule": {"TriggerRule": TriggerRule},
    "airflow.utils.task_group": {"TaskGroup": TaskGroup},
    "airflow.utils.helpers": {"chain": chain, "cross_downstream": cross_downstream},
    "airflow.exceptions": {
        "AirflowException": AirflowException,
        "AirflowSkipException": AirflowSkipException,
        "AirflowFailException": AirflowFailException,
    },
    "airflow.timetables": {},
    "airflow.timetables.base": {
        "Timetable": Timetable,
        "DataInterval": DataInterval,
        "DagRunInfo": DagRunInfo,
        "TimeRestriction": TimeRestriction,
    },
    "airflow.timetables.interval": {
        "CronDataIntervalTimetable": timetables.CronDataIntervalTimetable,
        "DeltaDataIntervalTimetable": timetables.DeltaDataIntervalTimetable,
    },
    "airflow.timetables.trigger": {
        "CronTriggerTimetable": timetables.CronTriggerTimetable,
        "DeltaTriggerTimetable": timetables.DeltaTriggerTimetable,
        "MultipleCronTriggerTimetable": timetables.MultipleCronTriggerTimetable,
    },
    "airflow.timetables.events": {"EventsTimetable": timetables.EventsTimetable},
    "airflow.timetables.simple": {
        "NullTimetable": timetables.NullTimetable,
        "OnceTimetable": timetables.OnceTimetable,
        "ContinuousTimetable": timetables.ContinuousTimetable,
    },
    "airflow.datasets": DATASETS,
    "airflow.sdk.definitions": {},
    "airflow.sdk.definitions.asset": ASSETS,
    "airflow.timetables.datasets": {"DatasetOrTimeSchedule": datasets.DatasetOrTimeSchedule},
    "airflow.timetables.assets": {"AssetOrTimeSchedule": datasets.DatasetOrTimeSchedule},
    "airflow.hooks": {},
    "airflow.hooks.base": {"BaseHook": BaseHook},
    "airflow.hooks.base_hook": {"BaseHook": BaseHook},
}
ADVICE = {
    "DatasetAlias": "Name the Dataset itself in outlets and schedules; dataset aliases are not supported.",
    "AssetAlias": "Name the Asset itself in outlets and schedules; asset aliases are not supported.",
}
PARTIAL = frozenset(
    {
        "airflow.operators.python",
        "airflow.operators.python_operator",
        "airflow.providers.standard.operators.python",
        "airflow.datasets",
        "airflow.sdk.definitions.asset",
    }
)
"""Served modules in which the names dockyard does not provide are placeholders (BranchPythonOperator ...)."""


class _PlaceholderModule(types.ModuleType):
    """An ``airflow.*`` module dockyard does not provide: any name in it is an unsupported placeholder."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = unsupported(name, ADVICE.get(name, ""))
        setattr(self, name, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None) -> Any:
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        known = MODULES.get(spec.name)
        plain = known is not None and spec.name not in PARTIAL
        module = types.ModuleType(spec.name) if plain else _PlaceholderModule(spec.name)
        module.__path__ = []
        module.__dict__.update(known or {})
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


_finder = _Finder()


def real_airflow_installed() -> bool:
    """Whether an actual Apache Airflow is importable (then dockyard stays out of its way)."""
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.remove(_finder)
        try:
            return importlib.util.find_spec("airflow") is not None
        finally:
            sys.meta_path.append(_finder)
    return importlib.util.find_spec("airflow") is not None


def install() -> bool:
    """Serve ``airflow`` imports from dockyard unless Airflow itself is installed; True if installed."""
    if _finder in sys.meta_path:
        return True
    if importlib.util.find_spec("airflow") is not None:
        return False
    sys.meta_path.append(_finder)
    return True


# -- sensors: their import paths in Airflow 1.10, 2.x and 3.x -------------------------------------
def _sensor_modules() -> dict[str, dict[str, Any]]:
    from dockyard.operators import scheduler_sensors as clock
    from dockyard.operators import sensors
    from dockyard.sensor_program import PokeReturnValue

    base: dict[str, Any] = {"BaseSensorOperator": sensors.BaseSensorOperator, "PokeReturnValue": PokeReturnValue}
    python = {"PythonSensor": sensors.PythonSensor}
    bash = {"BashSensor": sensors.BashSensor}
    filesystem = {"FileSensor": sensors.FileSensor}
    base["poke_mode_only"] = sensors.poke_mode_only
    time_delta = {"TimeDeltaSensor": clock.TimeDeltaSensor, "TimeDeltaSensorAsync": clock.TimeDeltaSensorAsync}
    date_time = {"DateTimeSensor": clock.DateTimeSensor, "DateTimeSensorAsync": clock.DateTimeSensorAsync}
    time_sensor = {"TimeSensor": clock.TimeSensor, "TimeSensorAsync": clock.TimeSensorAsync}
    external = {"ExternalTaskSensor": clock.ExternalTaskSensor, "ExternalTaskMarker": clock.ExternalTaskMarker}
    paths: dict[str, dict[str, Any]] = {
        "airflow.sensors": {},
        "airflow.sensors.base": base,
        "airflow.sensors.base_sensor_operator": base,
        "airflow.sensors.python": python,
        "airflow.sensors.bash": bash,
        "airflow.contrib.sensors.bash_sensor": bash,
        "airflow.providers.standard.sensors.bash": bash,
        "airflow.contrib.sensors.python_sensor": python,
        "airflow.sensors.filesystem": filesystem,
        "airflow.contrib.sensors.file_sensor": filesystem,
        "airflow.sensors.time_delta": time_delta,
        "airflow.sensors.time_delta_sensor": time_delta,
        "airflow.sensors.date_time": date_time,
        "airflow.sensors.date_time_sensor": date_time,
        "airflow.sensors.time_sensor": time_sensor,
        "airflow.sensors.external_task": external,
        "airflow.sensors.external_task_sensor": external,
        "airflow.providers.standard.sensors": {},
        "airflow.providers.standard.sensors.python": python,
        "airflow.providers.standard.sensors.filesystem": filesystem,
        "airflow.providers.standard.sensors.time_delta": time_delta,
        "airflow.providers.standard.sensors.date_time": date_time,
        "airflow.providers.standard.sensors.time": time_sensor,
        "airflow.providers.standard.sensors.external_task": external,
        "airflow.sdk.bases": {},
        "airflow.sdk.bases.sensor": base,
    }
    return paths


MODULES.update(_sensor_modules())
MODULES["airflow.sdk"].update(BaseSensorOperator=MODULES["airflow.sensors.base"]["BaseSensorOperator"])
MODULES["airflow.sdk"].update(PokeReturnValue=MODULES["airflow.sensors.base"]["PokeReturnValue"])
MODULES["airflow.exceptions"].update(AirflowSensorTimeout=type("AirflowSensorTimeout", (AirflowException,), {}))
BRANCH = {"BaseBranchOperator": BaseBranchOperator}
MODULES.update(
    {
        "airflow.operators.branch": BRANCH,  # Airflow 2
        "airflow.operators.branch_operator": BRANCH,  # Airflow 1.10
        "airflow.providers.standard.operators.branch": BRANCH,  # Airflow 3
    }
)


def _sensor_decorator(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@task.sensor``: a PythonSensor whose callable is the function (it runs in the task image)."""
    from dockyard.operators.sensors import sensor_task

    return sensor_task(python_callable, **kwargs)


setattr(task, "sensor", _sensor_decorator)  # noqa: B010 - an attribute of the one decorator object, in this block

"""The program a Python task's container runs: import the DAG file, call the task's callable, write its result.

dockyard never imports this module: :mod:`dockyard.operators.python` sends its text into the container
(``python3 -c``), so the task image needs only ``python3`` and what the user's own code imports, not
dockyard. It uses the standard library only.

The DAG file imports ``airflow`` or ``dockyard`` (and often ``pendulum`` or ``docker.types``) to *describe*
the DAG; inside the task nothing of that description is needed, only the user's functions. So those
packages, when the image does not have them, are served by inert stand-ins: every operator, DAG and
decorator accepts anything and does nothing, except that ``@task``, ``@dag``, ``@task_group`` and
``python_callable=...`` note the functions they are given. The callable is then found by what identifies
it in both processes: its qualified name, its first line and its file.

What comes in (the ``DOCKYARD_TASK`` variable, JSON): the DAG file, the callable, the rendered
``op_args``/``op_kwargs``/``templates_dict``, the context as plain values and the upstream XComs. What goes
out: the return value as JSON in ``result_path`` (read back by ``retrieve_output``; with what the callable
pushed by ``ti.xcom_push``, both in an envelope, see :mod:`dockyard.xcom_envelope`), exit code 99 when the
callable raises ``AirflowSkipException``, exit code 1 with a clear message otherwise.

It runs once per task try, in a fresh interpreter, often in an image without compiled bytecode for the
standard library: every module it imports is paid for by every task. So it imports what a callable needs
and no more (no ``inspect``, ``typing``, ``subprocess``, ``importlib.abc`` or ``importlib.util`` unless a
task needs them), and the context's dates become datetimes only when the callable asks for them.

Two variants: with ``virtualenv`` requirements the runner first makes a virtualenv in the container, installs
them and runs itself again with that interpreter (``PythonVirtualenvOperator``); with ``bash_from_result`` the
callable's return value is a Bash command, run in the container, whose last line is the result (``@task.bash``).
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # only for the type checker: every import costs each task's container its start-up time
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

SKIP_EXIT_CODE = 99
PUSHED = "__dockyard_pushed_xcoms__"
RESULT = "__dockyard_result__"
"""The envelope's keys when the callable pushed XComs (:mod:`dockyard.xcom_envelope` opens it)."""
STUBBED = ("airflow", "dockyard", "pendulum", "docker")
"""Top-level packages served by stand-ins when the image does not have them."""

_seen: list[Callable[..., Any]] = []
_context: dict[str, Any] = {}
_decoded: list[bool] = []
"""Whether :data:`_context`'s dates were made datetimes (only when the callable asks: ``datetime`` takes a
task's container longer to import than a small callable takes to run)."""


class AirflowException(Exception):
    """Airflow's base exception, for callables that raise or catch it."""


class AirflowSkipException(AirflowException):
    """Raised by a callable to skip its task."""


class AirflowFailException(AirflowException):
    """Raised by a callable to fail its task without retries."""


def _note(values: Any) -> None:
    for value in values:
        if isinstance(value, (types.FunctionType, types.MethodType)):
            _seen.append(value)
        elif isinstance(value, (list, tuple)):
            _note(value)
        elif isinstance(value, dict):
            _note(value.values())


class InertType(type):
    """Class attributes of the stand-ins are inert too: ``BashOperator.partial(...).expand(...)``."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Inert()


class Inert(metaclass=InertType):
    """Anything a DAG file builds (a DAG, a task, a group, a date): inert in the task's container."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _note(args)
        _note(kwargs.values())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _note(args)
        _note(kwargs.values())
        if len(args) == 1 and not kwargs and isinstance(args[0], types.FunctionType):
            return Decorated(args[0])
        return Inert()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Inert()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __rshift__(self, other: Any) -> Any:
        return other

    __lshift__ = __rshift__

    def __rrshift__(self, other: Any) -> Any:
        return self

    __rlshift__ = __rrshift__

    def __getitem__(self, key: Any) -> Any:
        return Inert()

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __bool__(self) -> bool:
        return True

    def _same(self, *other: Any) -> Any:
        return Inert()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __or__ = __ror__ = __and__ = __rand__ = _same

    def __str__(self) -> str:
        return ""

    def __format__(self, spec: str) -> str:
        return ""


class Decorated(Inert):
    """A function under ``@task`` (or another decorator of the stand-ins): noted, and inert when called."""

    def __init__(self, function: Callable[..., Any]) -> None:
        _seen.append(function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return Inert()


def _decorator(*args: Any, **kwargs: Any) -> Any:
    """``@task``, ``@task(...)``, ``@task.docker(...)``: note the function."""
    if len(args) == 1 and not kwargs and callable(args[0]):
        return Decorated(args[0])
    return _decorator


class _TaskDecorator:
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _decorator(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _decorator


def _building(*args: Any, **kwargs: Any) -> Any:
    """``@dag`` and ``@task_group``: calling the decorated function runs its body, which defines the tasks."""

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        _seen.append(function)

        def build(*call_args: Any, **call_kwargs: Any) -> Any:
            function(*call_args, **call_kwargs)
            return Inert()

        return build

    if len(args) == 1 and not kwargs and callable(args[0]):
        return wrap(args[0])
    return wrap


def get_current_context() -> dict[str, Any]:
    """The running task's context (Airflow's ``get_current_context``), its dates as datetimes."""
    if not _decoded:
        _context.update({name: _dates(value) for name, value in _context.items()})
        _decoded.append(True)
    return _context


class Variable(Inert):
    @staticmethod
    def get(key: str, default_var: Any = None, deserialize_json: bool = False) -> Any:
        if default_var is not None:
            return default_var
        raise AirflowException(
            f"Variable.get({key!r}) cannot be read inside a task's container; pass it in through a template, "
            f"e.g. op_kwargs={{'value': '{{{{ var.value.{key} }}}}'}}"
        )


SPECIAL: dict[str, Any] = {
    "task": _TaskDecorator(),
    "dag": _building,
    "task_group": _building,
    "chain": lambda *a, **k: None,
    "cross_downstream": lambda *a, **k: None,
    "get_current_context": get_current_context,
    "AirflowException": AirflowException,
    "AirflowSkipException": AirflowSkipException,
    "AirflowFailException": AirflowFailException,
    "DockyardError": AirflowException,
    "Variable": Variable,
}


class StandIn(types.ModuleType):
    """A module of the stand-ins: any name in it is an inert class (or one of :data:`SPECIAL`)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = SPECIAL.get(name) or type(name, (Inert,), {})
        setattr(self, name, value)
        return value


class Finder:
    """Serves the stand-ins; placed last, so a package the image has is imported for real."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None) -> Any:
        if fullname.split(".")[0] not in STUBBED:
            return None
        # a loader by its methods: subclassing importlib.abc's would import importlib.resources and pathlib
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)  # type: ignore[arg-type]

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = StandIn(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class Facts:
    """Plain facts as attributes (``dag_run.conf``, ``ti.try_number``); a date becomes a datetime when read."""

    def __init__(self, facts: dict[str, Any]) -> None:
        self._facts = facts

    def __getattr__(self, name: str) -> Any:
        facts = self.__dict__.get("_facts") or {}
        if name.startswith("__") or name not in facts:
            raise AttributeError(name)
        value = _dates(facts[name])
        setattr(self, name, value)
        return value


class TaskInstance(Facts):
    """``ti``: which try this is, the XComs it can pull, and those it pushes (``ti.xcom_push``).

    It can pull the return values of the task's upstream tasks and the XComs its upstream tasks (direct or
    not) pushed under other keys; what it pushes travels back with the result (see :func:`write_result`)."""

    def __init__(self, facts: dict[str, Any], xcoms: dict[str, Any], keyed: list[Any] | None = None) -> None:
        super().__init__(facts)
        self._xcoms = xcoms
        self._keyed = keyed or []
        self.pushed: dict[str, Any] = {}

    def xcom_pull(
        self,
        task_ids: Any = None,
        dag_id: Any = None,
        key: str = "return_value",
        include_prior_dates: bool = False,
        *,
        default: Any = None,
        **_: Any,
    ) -> Any:
        """Airflow's order of arguments; ``default`` where nothing was pushed."""
        if isinstance(task_ids, (list, tuple)):
            return [self.xcom_pull(t, dag_id, key, include_prior_dates, default=default) for t in task_ids]
        own = getattr(self, "task_id", None)
        if task_ids in (None, own) and key in self.pushed:
            return self.pushed[key]
        if key == "return_value" and task_ids in self._xcoms:
            return self._xcoms[task_ids]
        for task_id, pushed_key, value in reversed(self._keyed):  # the latest push first, as Airflow orders
            if pushed_key == key and task_ids in (None, task_id):
                return value
        if key == "return_value" and task_ids is not None:
            raise AirflowException(
                f"ti.xcom_pull(task_ids={task_ids!r}): inside a task's container the return values of its upstream "
                f"tasks ({', '.join(sorted(self._xcoms)) or 'none'}) can be pulled, and the XComs pushed under "
                "other keys; make the task downstream of it, or pass the value in through a template in op_kwargs"
            )
        return default

    def xcom_push(self, key: str, value: Any, *_: Any, **__: Any) -> None:
        """Airflow's ``ti.xcom_push``: the value is stored under ``key`` when the try succeeds."""
        if not isinstance(key, str) or not key:
            raise AirflowException(f"ti.xcom_push: the key must be a non-empty string, got {key!r}")
        try:
            text = json.dumps(value, default=_plain)
        except (TypeError, ValueError) as exc:
            raise AirflowException(
                f"ti.xcom_push(key={key!r}): a value of type {type(value).__name__!r} cannot be stored as an XCom "
                f"(JSON; {exc} is not JSON): push plain data (dict, list, str, int, float, bool, None)"
            ) from None
        self.pushed[key] = json.loads(text)


def _dates(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$date"}:
            import datetime

            return datetime.datetime.fromisoformat(value["$date"])
        return {k: _dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


def build_context(payload: dict[str, Any], *, decode: bool = True) -> dict[str, Any]:
    """The callable's context; with ``decode=False`` its dates stay as sent until the callable asks for them
    (:func:`arguments`, :func:`get_current_context`)."""
    context: dict[str, Any] = _dates(payload["context"]) if decode else dict(payload["context"])
    ti = TaskInstance(payload["ti"], payload["xcoms"], payload.get("keyed_xcoms"))
    context.update(
        ti=ti,
        task_instance=ti,
        dag_run=Facts(payload["dag_run"]),
        dag=Facts({"dag_id": payload["ti"]["dag_id"]}),
        task=Facts({"task_id": payload["ti"]["task_id"]}),
        templates_dict=payload.get("templates_dict"),
    )
    return context


def load_dag_file(path: str) -> types.ModuleType:
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    # the machinery's loader, not importlib.util (which imports contextlib and more in every task's container)
    loader = importlib.machinery.SourceFileLoader("dockyard_dag_file", path)
    module = types.ModuleType(loader.name)
    module.__file__, module.__loader__ = path, loader
    module.__spec__ = importlib.machinery.ModuleSpec(loader.name, loader, origin=path)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


def find_callable(target: dict[str, Any], module: types.ModuleType) -> Callable[..., Any]:
    """The function with the target's qualified name, first line and file (as the scheduler saw it)."""
    candidates: list[Callable[..., Any]] = [
        *_seen,
        *(v for v in vars(module).values() if isinstance(v, types.FunctionType)),
    ]
    owner, _, name = target["qualname"].rpartition(".")
    if owner and "<locals>" not in owner:  # a method of a class in the DAG file (an operator's choose_branch)
        found: Any = module
        for part in owner.split("."):
            found = getattr(found, part, None)
        if isinstance(found, type) and isinstance(vars(found).get(name), types.FunctionType):
            candidates.append(vars(found)[name])
    for candidate in candidates:
        function = unwrap(candidate)
        code = getattr(function, "__code__", None)
        if (
            code is not None
            and function.__qualname__ == target["qualname"]
            and code.co_firstlineno == target["line"]
            and (target["file"] is None or os.path.realpath(code.co_filename) == target["file"])
        ):
            return candidate
    if "<locals>" not in target["qualname"]:  # a function of an installed package, imported by name
        try:
            found = importlib.import_module(target["module"])
            for part in target["qualname"].split("."):
                found = getattr(found, part)
            if callable(found):
                return found  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            pass
    raise SystemExit(
        f"dockyard: the callable {target['qualname']} (line {target['line']} of {target['file'] or target['module']}) "
        "was not found after importing the DAG file in the container"
    )


def method_owner(payload: dict[str, Any], module: types.ModuleType) -> Any:
    """The ``self`` of an operator method the task calls (``choose_branch``): an object of the class in the
    DAG file (or a module beside it), holding the task's attributes as the scheduler sent them."""
    target = payload["callable"]
    owner: Any = module
    for part in target["qualname"].split(".")[:-1]:
        owner = getattr(owner, part, None)
    if not isinstance(owner, type) and "<locals>" not in target["qualname"]:
        try:
            owner = importlib.import_module(target["module"])
            for part in target["qualname"].split(".")[:-1]:
                owner = getattr(owner, part)
        except (ImportError, AttributeError):
            owner = None
    if not isinstance(owner, type):
        raise SystemExit(
            f"dockyard: the class of {target['qualname']} (line {target['line']} of "
            f"{target['file'] or target['module']}) was not found after importing the DAG file in the container"
        )
    import logging

    instance: Any = object.__new__(owner)
    instance.__dict__.update(_dates(payload["method"]["attributes"]))
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s - %(message)s")
    instance.__dict__["log"] = logging.getLogger(f"dockyard.task.{payload['ti']['task_id']}")
    return instance


def arguments(function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], context: dict[str, Any]) -> None:
    """Add the context keys ``function`` asks for to ``kwargs``, as Airflow does: all of them for
    ``**kwargs``, else those named by its parameters (and not already given)."""
    found = parameters(function)
    if found is None:
        return
    names, by_keyword, takes_all = found
    positional = names[: len(args)]
    for name, value in context.items():
        if name in kwargs or name in positional:
            continue
        if takes_all or name in by_keyword:
            kwargs[name] = _dates(value)


def unwrap(function: Any) -> Any:
    """``inspect.unwrap``: the function under its decorators' ``__wrapped__``."""
    seen = {id(function)}
    while hasattr(function, "__wrapped__") and id(function.__wrapped__) not in seen:
        function = function.__wrapped__
        seen.add(id(function))
    return function


def parameters(function: Any) -> tuple[list[str], set[str], bool] | None:
    """``(names in order, names a keyword can fill, takes **kwargs)`` of ``function``'s signature: read from
    its code object for plain functions and methods (``inspect`` alone costs a task's container more time
    to import than most callables take to run), from ``inspect.signature`` for anything else."""
    target = unwrap(function)
    bound = isinstance(target, types.MethodType)
    code = getattr(target.__func__ if bound else target, "__code__", None)
    if isinstance(code, types.CodeType) and not hasattr(target, "__signature__"):
        count, keyword_only = code.co_argcount, code.co_kwonlyargcount
        names = list(code.co_varnames[:count])
        if code.co_flags & 0x04:  # CO_VARARGS
            names.append(code.co_varnames[count + keyword_only])
        names += code.co_varnames[count : count + keyword_only]
        if code.co_flags & 0x08:  # CO_VARKEYWORDS
            names.append(code.co_varnames[count + keyword_only + (1 if code.co_flags & 0x04 else 0)])
        by_keyword = {*code.co_varnames[code.co_posonlyargcount : count + keyword_only]}
        if bound:
            by_keyword.discard(names.pop(0))
        return names, by_keyword, bool(code.co_flags & 0x08)
    import inspect

    try:
        signature = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return (
        list(signature),
        {name for name, p in signature.items() if p.kind in kinds},
        any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()),
    )


def _plain(value: Any) -> Any:
    datetime = sys.modules.get("datetime")  # not imported: the value cannot be a date
    if datetime is not None and isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


VENV_PATH = "/tmp/dockyard-venv"


def enter_virtualenv(spec: dict[str, Any]) -> None:
    """``PythonVirtualenvOperator``: create a virtualenv in the container, install its requirements, and
    run this program again with the virtualenv's python. Offline, or with a requirement pip cannot find,
    the task fails with the requirements named."""
    requirements = [str(r) for r in spec.get("requirements") or []]
    command = [sys.executable, "-m", "venv"]
    if spec.get("system_site_packages", True):
        command.append("--system-site-packages")
    import subprocess

    created = subprocess.run([*command, VENV_PATH], capture_output=True, text=True)
    if created.returncode != 0:
        fail(
            f"cannot create the task's virtualenv for the requirements {requirements} with {' '.join(command)} "
            f"(the task image needs Python's venv module and ensurepip, or the requirements installed in it): "
            f"{created.stderr.strip()[-500:]}"
        )
    pip = [f"{VENV_PATH}/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    for url in spec.get("index_urls") or []:
        pip += ["--index-url" if url == (spec.get("index_urls") or [None])[0] else "--extra-index-url", str(url)]
    installed = subprocess.run([*pip, *[str(o) for o in spec.get("pip_install_options") or []], *requirements])
    if installed.returncode != 0:
        fail(
            f"could not install the requirements {requirements} into the task's virtualenv (pip exited with "
            f"{installed.returncode}); put them into the task image, or give the container a package index"
        )
    os.environ["DOCKYARD_IN_VENV"] = "1"
    os.execv(f"{VENV_PATH}/bin/python", [f"{VENV_PATH}/bin/python", "-c", os.environ["DOCKYARD_START"]])


def main() -> None:
    payload = json.loads(os.environ["DOCKYARD_TASK"])
    venv = payload.get("virtualenv")
    if venv and venv.get("requirements") and not os.environ.get("DOCKYARD_IN_VENV"):
        enter_virtualenv(venv)
    sys.meta_path.append(Finder())
    module = load_dag_file(payload["dag_file"])
    function = find_callable(payload["callable"], module)
    _context.update(build_context(payload, decode=False))
    args = list(payload["op_args"])
    kwargs = dict(payload["op_kwargs"])
    if payload.get("method") is not None:  # BaseBranchOperator.choose_branch(self, context)
        args = [method_owner(payload, module), get_current_context()]
    else:
        arguments(function, args, kwargs, _context)
    task_id = payload["ti"]["task_id"]
    try:
        if payload.get("bash_command") is not None:  # a BashOperator's output_processor
            args = [run_bash(payload["bash_command"])]
            kwargs = {}
        result = function(*args, **kwargs)
        if payload.get("bash_from_result"):  # @task.bash: the function returns the command to run
            if not isinstance(result, str) or not result.strip():
                fail(
                    f"task {task_id!r}: a @task.bash function must return a non-empty string, the Bash command "
                    f"to run; got {result!r}"
                )
            result = run_bash(result)
    except Exception as exc:
        # by name: an image with Airflow installed raises Airflow's own class, not the stand-in's
        if not any(k.__name__ in ("AirflowSkipException", "TaskSkipped") for k in type(exc).__mro__):
            raise
        print(f"dockyard: {target_name(payload)} raised {type(exc).__name__} ({exc}): the task is skipped", flush=True)
        sys.exit(SKIP_EXIT_CODE)
    write_result(payload, result, _context["ti"].pushed)


def write_result(payload: dict[str, Any], result: Any, pushed: dict[str, Any]) -> None:
    """The return value as JSON in the result file; with XComs the callable pushed, both in an envelope
    (``{PUSHED: {...}, RESULT: ...}``) that dockyard opens. Nothing when there is nothing to store."""
    task_id = payload["ti"]["task_id"]
    if not payload["push"]:
        result = None
        if not pushed:
            return
    elif payload["multiple_outputs"] and not (isinstance(result, dict) and all(isinstance(k, str) for k in result)):
        fail(
            f"task {task_id!r}: multiple_outputs=True needs the callable to return a dict with string keys, "
            f"got a value of type {type(result).__name__!r}"
        )
    try:
        text = json.dumps(result, default=_plain)
    except (TypeError, ValueError) as exc:
        fail(
            f"task {task_id!r}: {target_name(payload)} returned a value of type {type(result).__name__!r} that "
            f"cannot be stored as an XCom (JSON; {exc} is not JSON): return plain data (dict, list, str, int, "
            "float, bool, None) or set do_xcom_push=False"
        )
    if payload["push"]:  # the return value is pushed after the callable's own pushes, as in Airflow
        pushed = {k: v for k, v in pushed.items() if k != "return_value"}
    if pushed:
        text = json.dumps({PUSHED: pushed, RESULT: json.loads(text)})
    with open(payload["result_path"], "w", encoding="utf-8") as handle:
        handle.write(text)


def run_bash(command: str) -> str:
    """Run ``bash -c command``, its output passed through; its last line (Airflow's ``output_processor``
    input). A non-zero exit code ends the runner with the same code (so 99 still skips)."""
    import subprocess

    try:
        process = subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except FileNotFoundError:
        fail("the task image has no bash; BashOperator runs bash inside the task image")
        raise
    last = ""
    assert process.stdout is not None
    for raw in process.stdout:
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        last = raw.decode("utf-8", "replace").rstrip()
    code = process.wait()
    if code:
        sys.exit(code)
    return last


def target_name(payload: dict[str, Any]) -> str:
    return f"{payload['callable']['qualname']}()"


def fail(message: str) -> None:
    print(f"dockyard: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()

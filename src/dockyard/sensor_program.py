"""A sensor's timing (Airflow's rules), and the program that pokes inside a sensor's container.

This module uses the standard library only, because its text runs in two places: dockyard imports it to
decide when a rescheduled sensor pokes next and when it has timed out, and a container of the task image
runs it (after :mod:`dockyard.task_runner`, whose stand-ins and loaders it borrows) to call the user's
``poke()`` or ``python_callable``. One copy of the rules, so the scheduler and the container agree.

The container writes one *verdict* to the result file (read back with ``retrieve_output``)::

    {"sensor": "done", "xcom": ...}       # poke returned True (or PokeReturnValue(True, xcom_value))
    {"sensor": "waiting"}                 # reschedule mode: not yet; the scheduler decides the next poke
    {"sensor": "timeout", "message": ...} # poke mode: the timeout passed (soft_fail makes it a skip)
    {"sensor": "fail", "message": ...}    # poke raised AirflowFailException or AirflowSensorTimeout

each with the sensor's timing under ``"timing"`` (:func:`with_timing`),
and exits 99 (skipped) when poke raises ``AirflowSkipException``, or when it raises anything with
``never_fail=True``. Any other error ends the container with exit code 1: the task fails and is retried
as its ``retries`` allow, as in Airflow.

Example::

    next_poke_interval({"poke_interval": 60, "exponential_backoff": False, ...}, "2024-01-31T00:00:00", 3, 120.0)
    # 60
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

DONE = "done"
WAITING = "waiting"
TIMEOUT = "timeout"
FAIL = "fail"
SKIP_EXIT_CODE = 99
LONGEST_INTERVAL = datetime.timedelta.max.total_seconds() - 1
"""The longest wait exponential backoff can reach (Airflow caps it at what a ``timedelta`` holds)."""
TIMING = (
    "mode",
    "poke_interval",
    "timeout",
    "exponential_backoff",
    "max_wait",
    "soft_fail",
    "silent_fail",
    "never_fail",
)
"""The timing every verdict carries back, so that it is settled by the timing of the instance that poked (the
instances of a mapped sensor may each have their own, e.g. ``.expand(timeout=[60, 600])``)."""


# -- timing: pure rules, shared with the scheduler ---------------------------------------------
def timed_out(timing: Mapping[str, Any], run_duration: float) -> bool:
    """Whether a sensor that has waited ``run_duration`` seconds since its first poke has passed ``timeout``."""
    return run_duration > float(timing["timeout"])


def next_poke_interval(timing: Mapping[str, Any], started_at: str, poke_count: int, run_duration: float) -> float:
    """Seconds until the next poke, after ``poke_count`` pokes (Airflow's rule).

    Without ``exponential_backoff`` it is ``poke_interval``. With it, the wait doubles with every poke, from
    half the interval at the first: ``floor = max(int(poke_interval * 2 ** (poke_count - 2)), 1)``, plus a
    jitter below ``floor`` taken from a hash of the DAG, task, start and count (so two sensors started
    together do not poke in step); never past the timeout, and never above ``max_wait``.
    """
    interval = float(timing["poke_interval"])
    if not timing.get("exponential_backoff"):
        return interval
    floor = max(int(interval * 2 ** (poke_count - 2)), 1)
    seed = f"{timing['dag_id']}#{timing['task_id']}#{started_at}#{poke_count}"
    jitter = int(hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest(), 16) % floor
    wait = min(float(floor + jitter), LONGEST_INTERVAL, float(timing["timeout"]) - int(run_duration))
    if timing.get("max_wait") is not None:
        wait = min(float(timing["max_wait"]), wait)
    return max(wait, 0.0)


def timeout_message(timing: Mapping[str, Any], run_duration: float) -> str:
    return (
        f"Sensor has timed out; run duration of {run_duration:.1f} seconds exceeds the specified timeout of "
        f"{float(timing['timeout']):g}."
    )


def with_timing(verdict: Mapping[str, Any], timing: Mapping[str, Any]) -> dict[str, Any]:
    """``verdict`` with the sensor's own timing (:data:`TIMING`) in it, under ``"timing"``."""
    return {**verdict, "timing": {k: timing[k] for k in TIMING if k in timing}}


def verdict_of(value: Any) -> tuple[bool, Any]:
    """``(done, xcom)`` from what poke returned: a truth value, or a ``PokeReturnValue``."""
    if hasattr(value, "is_done"):
        return bool(value.is_done), getattr(value, "xcom_value", None)
    return bool(value), None


# -- the container's side ----------------------------------------------------------------------
_RUNNER: dict[str, Any] = {}
"""The task runner's names, once :func:`poke_loop` has them (``ti.xcom_push`` values travel like a task's)."""


class PokeReturnValue:
    """Airflow's ``PokeReturnValue(is_done, xcom_value=None)``, for DAG files whose image has no Airflow."""

    def __init__(self, is_done: bool, xcom_value: Any = None) -> None:
        self.is_done = is_done
        self.xcom_value = xcom_value

    def __bool__(self) -> bool:
        return bool(self.is_done)


def file_present(path: str, recursive: bool) -> bool:
    """Airflow's ``FileSensor``: a file matches the glob ``path``, or a matching folder holds a file."""
    for found in glob.glob(path, recursive=recursive):
        if os.path.isfile(found):
            return True
        for _, _, files in os.walk(found):
            if files:
                return True
    return False


def bash_done(command: str, retry_exit_code: int | None, fail: type[Exception]) -> bool:
    """Airflow's ``BashSensor``: exit code 0 is done; with ``retry_exit_code``, only that code means "not yet"
    and any other fails the task; without it, every non-zero code means "not yet"."""
    code = subprocess.run(["bash", "-c", command], check=False).returncode
    print(f"dockyard: the command exited with return code {code}", flush=True)
    if code == 0:
        return True
    if retry_exit_code is not None and code != retry_exit_code:
        raise fail(f"Command exited with return code {code}")
    return False


def _walk(owner: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    return owner


def _sensor_class(target: Mapping[str, Any], module: Any) -> Any:
    """The class whose ``poke`` the task runs: in the DAG file, or in a module next to it."""
    owner = target["qualname"].rsplit(".", 1)[0]
    found = _walk(module, owner)
    if found is None:
        import importlib

        try:
            found = _walk(importlib.import_module(target["module"]), owner)
        except ImportError:
            found = None
    if found is None:
        raise SystemExit(
            f"dockyard: the sensor class {owner} (line {target['line']} of {target['file'] or target['module']}) "
            "was not found after importing the DAG file in the container"
        )
    return found


def _poke_function(runner: Mapping[str, Any], payload: dict[str, Any], module: Any) -> Callable[[], Any]:
    sensor = payload["sensor"]
    context = runner["_context"]
    if sensor["kind"] == "file":
        return lambda: file_present(sensor["path"], bool(sensor["recursive"]))
    if sensor["kind"] == "bash":
        return lambda: bash_done(sensor["command"], sensor["retry_exit_code"], runner["AirflowFailException"])
    if sensor["kind"] == "method":
        cls = _sensor_class(payload["callable"], module)
        instance = cls.__new__(cls)
        instance.__dict__.update(runner["_dates"](sensor["attributes"]))
        import logging

        logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s - %(message)s")
        instance.__dict__["log"] = logging.getLogger(f"dockyard.sensor.{payload['ti']['task_id']}")
        return lambda: cls.poke(instance, context)
    function = runner["find_callable"](payload["callable"], module)
    args = list(payload["op_args"])
    kwargs = dict(payload["op_kwargs"])
    runner["arguments"](function, args, kwargs, context)
    return lambda: function(*args, **kwargs)


def _finish(payload: dict[str, Any], verdict: dict[str, Any]) -> None:
    verdict = with_timing(verdict, payload["sensor"])
    pushed = getattr(_RUNNER.get("_context", {}).get("ti"), "pushed", None)
    if pushed and verdict["sensor"] == DONE:  # ti.xcom_push in poke(): kept when the sensor succeeds
        verdict = {_RUNNER["PUSHED"]: pushed, _RUNNER["RESULT"]: verdict}
    try:
        text = json.dumps(verdict, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else repr(v))
    except (TypeError, ValueError) as exc:
        print(f"dockyard: the sensor's xcom_value cannot be stored as an XCom (JSON): {exc}", file=sys.stderr)
        sys.exit(1)
    with open(payload["result_path"], "w", encoding="utf-8") as handle:
        handle.write(text)


def _named(exc: BaseException, *names: str) -> bool:
    """Airflow's exceptions by name: an image with Airflow installed raises its own classes."""
    return any(k.__name__ in names for k in type(exc).__mro__)


def poke_loop(runner: Mapping[str, Any]) -> None:
    """Poke until done (poke mode: sleeping between pokes, up to the timeout), or once (reschedule mode)."""
    payload = json.loads(os.environ["DOCKYARD_TASK"])
    sensor = payload["sensor"]
    _RUNNER.update(runner)
    runner["SPECIAL"]["PokeReturnValue"] = PokeReturnValue
    runner["SPECIAL"]["AirflowSensorTimeout"] = type("AirflowSensorTimeout", (runner["AirflowException"],), {})
    sys.meta_path.append(runner["Finder"]())
    module = runner["load_dag_file"](payload["dag_file"])
    runner["_context"].update(runner["build_context"](payload))
    poke = _poke_function(runner, payload, module)
    started = time.monotonic()
    count = 1
    while True:
        try:
            value = poke()
        except Exception as exc:
            if _named(exc, "AirflowSkipException", "TaskSkipped"):
                print(f"dockyard: poke raised {type(exc).__name__} ({exc}): the task is skipped", flush=True)
                sys.exit(SKIP_EXIT_CODE)
            if _named(exc, "AirflowSensorTimeout", "AirflowFailException"):
                _finish(payload, {"sensor": FAIL, "message": f"{type(exc).__name__}: {exc}"})
                return
            if sensor["never_fail"]:
                print(f"dockyard: poke raised {type(exc).__name__} ({exc}); never_fail: the task is skipped")
                sys.exit(SKIP_EXIT_CODE)
            if not sensor["silent_fail"]:
                raise
            print(f"dockyard: poke failed (silent_fail, poking on):\n{traceback.format_exc()}", flush=True)
            value = False
        done, xcom = verdict_of(value)
        if done:
            print(f"dockyard: poke {count}: the condition is met", flush=True)
            _finish(payload, {"sensor": DONE, "xcom": xcom})
            return
        if sensor["mode"] == "reschedule":
            print("dockyard: poke: not yet; the sensor is rescheduled", flush=True)
            _finish(payload, {"sensor": WAITING})
            return
        elapsed = time.monotonic() - started
        if timed_out(sensor, elapsed):
            _finish(payload, {"sensor": TIMEOUT, "message": timeout_message(sensor, elapsed)})
            return
        wait = next_poke_interval(sensor, sensor["started_at"], count, elapsed)
        print(f"dockyard: poke {count}: not yet; next poke in {wait:g} s", flush=True)
        time.sleep(wait)
        count += 1


if __name__ == "__main__":
    poke_loop(globals()["RUNNER"])

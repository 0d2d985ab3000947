"""Schedules and data intervals, with Airflow's semantics and Airflow's ``Timetable`` API.

A scheduled run covers a *data interval*; with a cron string or a ``timedelta`` (Airflow 2's data-interval
timetables) its ``logical_date`` is the interval's start and it runs once the interval has ended: ``@daily``
for 2024-01-31 covers [2024-01-31 00:00, 2024-02-01 00:00) and runs just after midnight on 2024-02-01.

Every timetable implements Airflow's two methods, ``next_dagrun_info(last_automated_data_interval=,
restriction=)`` and ``infer_manual_data_interval(run_after=)``, so a user's own ``Timetable`` subclass
(imported from ``airflow.timetables.base``) works as in Airflow. The scheduler uses the methods below them
(:meth:`Timetable.next_interval`, :meth:`Timetable.next_run_after`, :meth:`Timetable.manual_interval`),
which are built on those two and take "now" as an argument so that a test can fix the clock.

Schedules (:func:`timetable_for`): a cron string or preset (``@hourly @daily @weekly @monthly @quarterly
@yearly``), ``@once``, ``@continuous``, a ``timedelta`` or ``dateutil.relativedelta``, ``None`` (manual
runs only) or a timetable object (:mod:`dockyard.timetables` has the built-ins). Cron schedules are
evaluated in the timezone of the DAG's ``start_date`` (UTC when it is naive), so ``0 6 * * *`` in
Europe/Amsterdam stays at 06:00 local time across DST.

Example::

    tt = timetable_for("@daily")
    tt.next_interval(after=None, start_date=datetime(2024, 1, 1, tzinfo=UTC), catchup=True, now=...)
    # DataInterval(start=2024-01-01 00:00+00:00, end=2024-01-02 00:00+00:00)

A DAG's timetable is stored as JSON (:func:`serialize_timetable`) and rebuilt without the DAG file
(:func:`deserialize_timetable`). A user's own timetable class is stored by its import path with its
``serialize()`` output, so it must live in a module the scheduler can import: a module in the DAG folder
(not the DAG file itself) or an installed package.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pendulum
from dateutil.relativedelta import relativedelta

from dockyard.errors import DagDefinitionError

UTC = dt.timezone.utc

Delta = dt.timedelta | relativedelta

_now: contextvars.ContextVar[pendulum.DateTime | None] = contextvars.ContextVar("dockyard_timetable_now", default=None)


def utcnow() -> pendulum.DateTime:
    """The current time, or the time the scheduler asked about (see :meth:`Timetable.next_interval`)."""
    frozen = _now.get()
    return frozen if frozen is not None else pendulum.now("UTC")


@contextlib.contextmanager
def clock(now: dt.datetime) -> Iterator[None]:
    """Within this block the built-in timetables take ``now`` as the current time (a scheduler tick's time)."""
    token = _now.set(coerce(now))
    try:
        yield
    finally:
        _now.reset(token)


def coerce(value: dt.datetime) -> pendulum.DateTime:
    """A pendulum ``DateTime``; a naive value is taken as UTC (Airflow's default timezone)."""
    if isinstance(value, pendulum.DateTime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return pendulum.instance(value)


def coerce_optional(value: dt.datetime | None) -> pendulum.DateTime | None:
    return None if value is None else coerce(value)


def to_utc(value: dt.datetime) -> pendulum.DateTime:
    return pendulum.instance(coerce(value).astimezone(pendulum.UTC))


def pendulum_timezone(tz: Any) -> pendulum.Timezone | pendulum.FixedTimezone:
    """A pendulum timezone for a name, a ``zoneinfo``, a ``datetime.timezone`` or a pendulum timezone."""
    if isinstance(tz, (pendulum.Timezone, pendulum.FixedTimezone)):
        return tz
    if tz is None or tz is UTC:
        return pendulum.UTC
    if isinstance(tz, str):
        try:
            return pendulum.timezone(tz)
        except Exception as exc:  # pendulum raises its own not-found error type
            raise DagDefinitionError(f"timezone {tz!r} is not known; use an IANA name like 'Europe/Amsterdam'") from exc
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if isinstance(key, str):
        return pendulum_timezone(key)
    offset = tz.utcoffset(None) if isinstance(tz, dt.tzinfo) else None
    if offset is not None:
        return pendulum.UTC if not offset else pendulum.FixedTimezone(int(offset.total_seconds()))
    raise DagDefinitionError(f"timezone {tz!r} is not understood; use an IANA name like 'Europe/Amsterdam'")


def encode_timezone(tz: pendulum.Timezone | pendulum.FixedTimezone) -> str | int:
    """A timezone as JSON: its IANA name, or its offset in seconds for a fixed offset (as Airflow stores it)."""
    if isinstance(tz, pendulum.Timezone):
        return tz.name
    offset = tz.utcoffset(None)
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return "UTC" if seconds == 0 else seconds


def decode_timezone(value: str | int) -> pendulum.Timezone | pendulum.FixedTimezone:
    return pendulum.FixedTimezone(value) if isinstance(value, int) else pendulum_timezone(value)


def encode_delta(delta: Delta) -> float | dict[str, Any]:
    """A ``timedelta`` as seconds, a ``relativedelta`` as its non-zero fields (Airflow's encoding)."""
    if isinstance(delta, dt.timedelta):
        return delta.total_seconds()
    fields = {k: v for k, v in vars(delta).items() if not k.startswith("_") and v and k != "weekday"}
    if delta.weekday is not None:
        fields["weekday"] = [delta.weekday.weekday, delta.weekday.n]
    return fields


def decode_delta(value: float | dict[str, Any]) -> Delta:
    if isinstance(value, dict):
        fields = dict(value)
        if "weekday" in fields:
            from dateutil.relativedelta import weekday

            day, n = fields["weekday"]
            fields["weekday"] = weekday(day, n)
        return relativedelta(**fields)
    return dt.timedelta(seconds=value)


@dataclass(frozen=True)
class DataInterval:
    """The span of data a run covers: ``start`` (inclusive, its logical date) to ``end`` (exclusive)."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def exact(cls, at: dt.datetime) -> DataInterval:
        return cls(at, at)

    def __iter__(self) -> Iterator[dt.datetime]:
        return iter((self.start, self.end))


@dataclass(frozen=True)
class TimeRestriction:
    """What bounds the runs a timetable may create: the DAG's start and end dates and ``catchup``."""

    earliest: dt.datetime | None
    latest: dt.datetime | None
    catchup: bool


@dataclass(frozen=True)
class DagRunInfo:
    """A run a timetable wants: when it may start (``run_after``) and the data it covers."""

    run_after: dt.datetime
    data_interval: DataInterval

    @classmethod
    def exact(cls, at: dt.datetime) -> DagRunInfo:
        return cls(run_after=at, data_interval=DataInterval.exact(at))

    @classmethod
    def interval(cls, start: dt.datetime, end: dt.datetime) -> DagRunInfo:
        return cls(run_after=end, data_interval=DataInterval(start, end))

    @property
    def logical_date(self) -> dt.datetime:
        return self.data_interval.start


class Timetable:
    """When runs happen: Airflow's ``Timetable`` API, and the scheduler's view of it.

    Subclasses implement :meth:`next_dagrun_info` and :meth:`infer_manual_data_interval` (and, to be
    stored, :meth:`serialize` / :meth:`deserialize`).
    """

    description: str = ""
    periodic: bool = True
    can_be_scheduled: bool = True
    run_ordering: tuple[str, ...] = ("data_interval_end", "execution_date")
    active_runs_limit: int | None = None

    # Airflow's API -----------------------------------------------------------------------------------

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {}

    def validate(self) -> None:
        """Raise if the timetable cannot work (called when the DAG is created)."""

    @property
    def summary(self) -> str:
        return self.description or type(self).__name__

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        return None

    # The scheduler's view ------------------------------------------------------------------------------

    def next_interval(
        self,
        *,
        after: DataInterval | None,
        start_date: dt.datetime | None,
        end_date: dt.datetime | None = None,
        catchup: bool,
        now: dt.datetime,
    ) -> DataInterval | None:
        """The next run's interval, if it is due by ``now``; ``after`` is the last scheduled run's interval."""
        info = self._next_info(after, start_date, end_date, catchup, now)
        if info is None or coerce(info.run_after) > coerce(now):
            return None
        interval = DataInterval(to_utc(info.data_interval.start), to_utc(info.data_interval.end))
        if after is not None and interval == DataInterval(to_utc(after.start), to_utc(after.end)):
            return None  # no progress (a continuous schedule asked again at the same instant)
        return interval

    def next_run_after(
        self,
        *,
        after: DataInterval | None,
        start_date: dt.datetime | None,
        catchup: bool,
        now: dt.datetime,
        end_date: dt.datetime | None = None,
    ) -> dt.datetime | None:
        """When the next scheduled run becomes due (for display and for the scheduler's sleep)."""
        info = self._next_info(after, start_date, end_date, catchup, now)
        return None if info is None else to_utc(info.run_after)

    def manual_interval(self, run_after: dt.datetime) -> DataInterval:
        """The interval of a run triggered by hand at ``run_after`` (Airflow's inference)."""
        interval = self.infer_manual_data_interval(run_after=coerce(run_after))
        return DataInterval(to_utc(interval.start), to_utc(interval.end))

    def automated_interval(self, logical_date: dt.datetime) -> DataInterval:
        """The data interval a scheduled run with ``logical_date`` has (for runs stored without one)."""
        return DataInterval.exact(coerce(logical_date))

    def next_logical_date(
        self, logical_date: dt.datetime, data_interval: DataInterval | None = None
    ) -> dt.datetime | None:
        """The logical date of the scheduled run after this one, ignoring start/end dates (``next_ds``)."""
        last = data_interval or self.automated_interval(logical_date)
        last = DataInterval(coerce(last.start), coerce(last.end))
        info = self.next_dagrun_info(
            last_automated_data_interval=last, restriction=TimeRestriction(None, None, catchup=True)
        )
        return None if info is None else to_utc(info.logical_date)

    def prev_logical_date(self, logical_date: dt.datetime) -> dt.datetime | None:
        """The schedule point before ``logical_date`` (``prev_ds``); None where the schedule has no such notion."""
        return None

    def _next_info(
        self,
        after: DataInterval | None,
        start_date: dt.datetime | None,
        end_date: dt.datetime | None,
        catchup: bool,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        last = None if after is None else DataInterval(coerce(after.start), coerce(after.end))
        restriction = TimeRestriction(coerce_optional(start_date), coerce_optional(end_date), catchup)
        with clock(now):
            return self.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)


def _import_class(path: str) -> type[Timetable]:
    module_name, _, name = path.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DagDefinitionError(
            f"timetable class {path!r} cannot be imported ({exc}); define it in a module next to the DAG files "
            "(not in the DAG file itself) or in an installed package, so the scheduler can import it"
        ) from exc
    if not (isinstance(value, type) and issubclass(value, Timetable)):
        raise DagDefinitionError(f"{path!r} is not a Timetable subclass")
    return value


def serialize_timetable(tt: Timetable) -> dict[str, Any]:
    """A timetable as JSON: ``{"type": ..., "data": tt.serialize()}`` (see :func:`deserialize_timetable`)."""
    from dockyard.timetables import BUILT_IN

    cls = type(tt)
    name = cls.__name__ if BUILT_IN.get(cls.__name__) is cls else f"{cls.__module__}.{cls.__qualname__}"
    if "<locals>" in name or cls.__module__.startswith(("dockyard_dag_", "__main__")):
        raise DagDefinitionError(
            f"timetable class {cls.__qualname__!r} is defined in the DAG file (or inside a function); define it in "
            "a module next to the DAG files or in an installed package, so the scheduler can import it"
        )
    return {"type": name, "data": tt.serialize()}


def deserialize_timetable(data: dict[str, Any]) -> Timetable:
    """The timetable :func:`serialize_timetable` stored; a user's class is imported by its path."""
    from dockyard.timetables import BUILT_IN

    name = data["type"]
    cls = BUILT_IN.get(name) or _import_class(name)
    return cls.deserialize(data.get("data") or {})


def timetable_for(schedule: Any, start_date: dt.datetime | None = None) -> Timetable:
    """The timetable of a DAG's ``schedule``; a bad schedule is an error naming it and the accepted forms."""
    from dockyard import timetables as t

    timezone = pendulum_timezone(start_date.tzinfo if start_date is not None else None)
    if schedule is None:
        return t.NullTimetable()
    if isinstance(schedule, Timetable):
        schedule.validate()
        return schedule
    if isinstance(schedule, (dt.timedelta, relativedelta)):
        return t.DeltaDataIntervalTimetable(schedule)
    if isinstance(schedule, str):
        text = schedule.strip()
        if text == "@once":
            return t.OnceTimetable()
        if text == "@continuous":
            return t.ContinuousTimetable()
        if text.startswith("@") and text not in t.PRESETS:
            raise DagDefinitionError(
                f"schedule {schedule!r} is not a preset; use one of @once, @continuous, {', '.join(t.PRESETS)}, "
                "a cron expression, a timedelta or None"
            )
        return t.CronDataIntervalTimetable(text, timezone)
    from dockyard.datasets import dataset_timetable, is_dataset_schedule

    if is_dataset_schedule(schedule) or isinstance(schedule, (list, tuple)):
        return dataset_timetable(schedule)  # data-aware scheduling (a list that is not of datasets is refused)
    raise DagDefinitionError(
        f"schedule {schedule!r} is not understood; use a cron string, a preset like @daily, a timedelta, "
        "a relativedelta, a Timetable or None"
    )


def __getattr__(name: str) -> Any:
    """The built-in timetables by name (``from dockyard.timetable import CronTimetable`` keeps working)."""
    from dockyard import timetables

    if name in timetables.BUILT_IN or name in ("CronTimetable", "DeltaTimetable", "PRESETS"):
        return getattr(timetables, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

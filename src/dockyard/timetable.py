"""Schedules and data intervals, with Airflow's semantics.

A scheduled run covers a *data interval*; its ``logical_date`` is the interval's start and it runs once
the interval has ended. ``@daily`` for 2024-01-31 covers [2024-01-31 00:00, 2024-02-01 00:00) and
runs just after midnight on 2024-02-01.

Schedules: a cron string (``"0 6 * * 1-5"``), a preset (``@once @hourly @daily @weekly @monthly
@quarterly @yearly @annually``, plus ``@continuous`` refused with a clear error), a ``timedelta``, or
``None`` (manual runs only). Cron schedules are evaluated in the timezone of the DAG's ``start_date``
(UTC when it is naive), so ``0 6 * * *`` in Europe/Amsterdam stays at 06:00 local time across DST.

Example::

    tt = timetable_for("@daily")
    tt.next_interval(after=None, start_date=datetime(2024, 1, 1, tzinfo=UTC), catchup=True, now=...)
    # DataInterval(start=2024-01-01 00:00+00:00, end=2024-01-02 00:00+00:00)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from dockyard.errors import DagDefinitionError

UTC = dt.timezone.utc

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True)
class DataInterval:
    start: dt.datetime
    end: dt.datetime


class Timetable:
    """When runs happen. Subclasses implement the interval arithmetic."""

    description = "manual only"
    periodic = False

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
        return None

    def manual_interval(self, run_after: dt.datetime) -> DataInterval:
        """The interval of a run triggered by hand at ``run_after`` (Airflow's inference)."""
        return DataInterval(run_after, run_after)

    def next_logical_date(self, logical_date: dt.datetime) -> dt.datetime | None:
        return None

    def prev_logical_date(self, logical_date: dt.datetime) -> dt.datetime | None:
        return None

    def next_run_after(
        self, *, after: DataInterval | None, start_date: dt.datetime | None, catchup: bool, now: dt.datetime
    ) -> dt.datetime | None:
        """When the next scheduled run becomes due (for display and for the scheduler's sleep)."""
        return None


class NullTimetable(Timetable):
    """``schedule=None``: runs only when triggered."""


class OnceTimetable(Timetable):
    """``@once``: a single run at ``start_date``."""

    description = "@once"

    def next_interval(
        self,
        *,
        after: DataInterval | None,
        start_date: dt.datetime | None,
        end_date: dt.datetime | None = None,
        catchup: bool,
        now: dt.datetime,
    ) -> DataInterval | None:
        if after is not None or start_date is None or start_date > now:
            return None
        return DataInterval(start_date, start_date)

    def next_run_after(
        self, *, after: DataInterval | None, start_date: dt.datetime | None, catchup: bool, now: dt.datetime
    ) -> dt.datetime | None:
        return start_date if after is None else None


class _PeriodicTimetable(Timetable):
    periodic = True

    def _next(self, when: dt.datetime) -> dt.datetime:
        raise NotImplementedError

    def _prev(self, when: dt.datetime) -> dt.datetime:
        raise NotImplementedError

    def _align(self, when: dt.datetime) -> dt.datetime:
        """The first schedule point at or after ``when``."""
        raise NotImplementedError

    def next_interval(
        self,
        *,
        after: DataInterval | None,
        start_date: dt.datetime | None,
        end_date: dt.datetime | None = None,
        catchup: bool,
        now: dt.datetime,
    ) -> DataInterval | None:
        if after is not None:
            start = after.end
        elif start_date is not None:
            start = self._align(start_date)
        else:
            return None
        if not catchup:
            # Only the latest complete interval: skip everything that ended before it.
            latest_end = self._prev(now) if self._align(now) != now else now
            latest_start = self._prev(latest_end)
            if latest_start > start:
                start = latest_start
        end = self._next(start)
        if end > now:
            return None
        if end_date is not None and start > end_date:
            return None
        return DataInterval(start, end)

    def next_run_after(
        self, *, after: DataInterval | None, start_date: dt.datetime | None, catchup: bool, now: dt.datetime
    ) -> dt.datetime | None:
        if after is not None:
            return self._next(after.end)
        if start_date is None:
            return None
        start = self._align(start_date)
        return self._next(start) if catchup or self._next(start) > now else self._align(now)

    def manual_interval(self, run_after: dt.datetime) -> DataInterval:
        end = run_after if self._align(run_after) == run_after else self._prev(run_after)
        return DataInterval(self._prev(end), end)

    def next_logical_date(self, logical_date: dt.datetime) -> dt.datetime | None:
        return self._next(logical_date)

    def prev_logical_date(self, logical_date: dt.datetime) -> dt.datetime | None:
        return self._prev(logical_date)


class CronTimetable(_PeriodicTimetable):
    """A cron expression, evaluated in ``timezone``; intervals go from one cron point to the next."""

    def __init__(self, expression: str, timezone: dt.tzinfo = UTC, description: str | None = None) -> None:
        if not croniter.is_valid(expression):
            raise DagDefinitionError(
                f"schedule {description or expression!r} is not a valid cron expression; use five fields like "
                "'0 6 * * 1-5' or a preset such as @daily"
            )
        self.expression = expression
        self.timezone = timezone
        self.description = description or expression

    def _local(self, when: dt.datetime) -> dt.datetime:
        return when.astimezone(self.timezone)

    def _next(self, when: dt.datetime) -> dt.datetime:
        value = croniter(self.expression, self._local(when)).get_next(dt.datetime)
        return _to_utc(value)

    def _prev(self, when: dt.datetime) -> dt.datetime:
        value = croniter(self.expression, self._local(when)).get_prev(dt.datetime)
        return _to_utc(value)

    def _align(self, when: dt.datetime) -> dt.datetime:
        if croniter.match(self.expression, self._local(when)) and when.second == 0 and when.microsecond == 0:
            return when.astimezone(UTC)
        return self._next(when)


class DeltaTimetable(_PeriodicTimetable):
    """A fixed ``timedelta`` between runs, counted from ``start_date``."""

    def __init__(self, delta: dt.timedelta) -> None:
        if delta <= dt.timedelta(0):
            raise DagDefinitionError(f"schedule {delta!r} must be a positive timedelta")
        self.delta = delta
        self.description = str(delta)
        self.anchor: dt.datetime | None = None

    def _next(self, when: dt.datetime) -> dt.datetime:
        return when + self.delta

    def _prev(self, when: dt.datetime) -> dt.datetime:
        return when - self.delta

    def _align(self, when: dt.datetime) -> dt.datetime:
        if self.anchor is None:
            return when
        steps = -((self.anchor - when) // self.delta)  # ceil((when - anchor) / delta)
        return self.anchor + steps * self.delta

    def manual_interval(self, run_after: dt.datetime) -> DataInterval:
        return DataInterval(run_after - self.delta, run_after)


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC).replace(fold=0)


def timetable_for(schedule: Any, start_date: dt.datetime | None = None) -> Timetable:
    """The timetable of a DAG's ``schedule``; a bad schedule is an error naming it and the accepted forms."""
    timezone = start_date.tzinfo if start_date is not None and start_date.tzinfo is not None else UTC
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, dt.timedelta):
        table = DeltaTimetable(schedule)
        table.anchor = start_date
        return table
    if isinstance(schedule, str):
        text = schedule.strip()
        if text == "@once":
            return OnceTimetable()
        if text == "@continuous":
            raise DagDefinitionError("schedule '@continuous' is not supported; use a cron expression or a timedelta")
        if text in PRESETS:
            return CronTimetable(PRESETS[text], timezone, description=text)
        if text.startswith("@"):
            raise DagDefinitionError(
                f"schedule {schedule!r} is not a preset; use one of @once, {', '.join(PRESETS)}, a cron expression, "
                "a timedelta or None"
            )
        return CronTimetable(text, timezone)
    raise DagDefinitionError(
        f"schedule {schedule!r} is not understood; use a cron string, a preset like @daily, a timedelta or None"
    )


def _zone_name(zone: dt.tzinfo) -> str | int:
    key = getattr(zone, "key", None) or getattr(zone, "name", None)
    if isinstance(key, str):
        return key
    offset = zone.utcoffset(None)
    return int(offset.total_seconds()) if offset is not None else "UTC"


def _zone(name: str | int) -> dt.tzinfo:
    if isinstance(name, int):
        return dt.timezone(dt.timedelta(seconds=name))
    if name == "UTC":
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def serialize_timetable(table: Timetable) -> dict[str, Any]:
    """The timetable as JSON, so the scheduler rebuilds it from the store without importing the DAG file."""
    if isinstance(table, CronTimetable):
        return {
            "type": "cron",
            "expression": table.expression,
            "timezone": _zone_name(table.timezone),
            "description": table.description,
        }
    if isinstance(table, DeltaTimetable):
        anchor = table.anchor.isoformat() if table.anchor else None
        return {"type": "delta", "seconds": table.delta.total_seconds(), "anchor": anchor}
    if isinstance(table, OnceTimetable):
        return {"type": "once"}
    if type(table) is NullTimetable:
        return {"type": "null"}
    raise DagDefinitionError(f"the timetable {type(table).__name__} cannot be stored; use a cron string or a timedelta")


def deserialize_timetable(data: dict[str, Any]) -> Timetable:
    """The inverse of :func:`serialize_timetable`."""
    kind = data.get("type")
    if kind == "cron":
        return CronTimetable(data["expression"], _zone(data["timezone"]), description=data.get("description"))
    if kind == "delta":
        table = DeltaTimetable(dt.timedelta(seconds=data["seconds"]))
        table.anchor = dt.datetime.fromisoformat(data["anchor"]) if data.get("anchor") else None
        return table
    if kind == "once":
        return OnceTimetable()
    return NullTimetable()

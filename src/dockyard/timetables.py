"""The built-in timetables, with the names, arguments and run semantics of Airflow's.

* ``CronDataIntervalTimetable`` (a cron string), ``DeltaDataIntervalTimetable`` (a ``timedelta`` or
  ``relativedelta``): a run covers the interval between two schedule points and starts when it ends.
* ``CronTriggerTimetable``, ``DeltaTriggerTimetable``, ``MultipleCronTriggerTimetable``: a run starts at
  each schedule point and covers the ``interval`` before it (empty by default).
* ``EventsTimetable``: runs at listed moments. ``OnceTimetable``, ``ContinuousTimetable``, ``NullTimetable``.

Example::

    CronTriggerTimetable("0 6 * * 1-5", timezone="Europe/Amsterdam", interval=timedelta(hours=24))
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Iterable
from typing import Any

import pendulum
from croniter import croniter

from dockyard.errors import DagDefinitionError
from dockyard.timetable import (
    DagRunInfo,
    DataInterval,
    Delta,
    TimeRestriction,
    Timetable,
    coerce,
    decode_delta,
    decode_timezone,
    encode_delta,
    encode_timezone,
    pendulum_timezone,
    to_utc,
    utcnow,
)

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


class _TrivialTimetable(Timetable):
    periodic = False
    run_ordering = ("execution_date",)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class NullTimetable(_TrivialTimetable):
    """``schedule=None``: runs only when triggered."""

    can_be_scheduled = False
    description = "Never, external triggers only"

    @property
    def summary(self) -> str:
        return "None"


class OnceTimetable(_TrivialTimetable):
    """``@once``: a single run at ``start_date``."""

    description = "@once"

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None or restriction.earliest is None:
            return None
        if restriction.latest is not None and restriction.earliest > restriction.latest:
            return None
        return DagRunInfo.exact(restriction.earliest)


class ContinuousTimetable(_TrivialTimetable):
    """``@continuous``: a new run as soon as the last one ends, one at a time (``max_active_runs=1``)."""

    description = "@continuous"
    active_runs_limit = 1

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if restriction.earliest is None:
            return None
        now = utcnow()
        if last_automated_data_interval is not None:
            start, end = last_automated_data_interval.end, now
        else:
            start, end = restriction.earliest, max(coerce(restriction.earliest), now)
        if restriction.latest is not None and end > restriction.latest:
            return None
        return DagRunInfo.interval(start, end)


class _Schedule(Timetable):
    """Stepping from one schedule point to the next or previous (cron or delta)."""

    def _get_next(self, current: pendulum.DateTime) -> pendulum.DateTime:
        raise NotImplementedError

    def _get_prev(self, current: pendulum.DateTime) -> pendulum.DateTime:
        raise NotImplementedError

    def _align_to_next(self, current: pendulum.DateTime) -> pendulum.DateTime:
        return current

    def _align_to_prev(self, current: pendulum.DateTime) -> pendulum.DateTime:
        return current


class _Cron(_Schedule):
    """A cron expression in a timezone; wall-clock times survive DST as Airflow's do."""

    def __init__(self, cron: str, timezone: Any) -> None:
        self._given = cron.strip()
        self._expression = PRESETS.get(self._given, self._given)
        self._timezone = pendulum_timezone(timezone)
        if not croniter.is_valid(self._expression) or len(croniter(self._expression).expanded) > 5:
            raise DagDefinitionError(
                f"schedule {cron!r} is not a valid cron expression; use five fields like '0 6 * * 1-5' or a "
                "preset such as @daily"
            )
        # Schedules that fire every hour step by elapsed time so the repeated hour of a DST fold is not skipped.
        self._every_hour = croniter(self._expression).expanded[1] == ["*"]
        self.description = self._given

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._expression == other._expression and self._timezone == other._timezone

    __hash__ = Timetable.__hash__

    @property
    def summary(self) -> str:
        return self._expression

    def _naive(self, current: pendulum.DateTime) -> dt.datetime:
        local = current.astimezone(self._timezone)
        return dt.datetime(*local.timetuple()[:6], local.microsecond)

    def _aware(self, naive: dt.datetime) -> pendulum.DateTime:
        # On a DST fold the later of the two wall-clock times is taken, as Airflow does.
        return to_utc(self._timezone.convert(naive.replace(fold=1)))

    def _get_next(self, current: pendulum.DateTime) -> pendulum.DateTime:
        naive = self._naive(current)
        scheduled = croniter(self._expression, start_time=naive).get_next(dt.datetime)
        if not self._every_hour:
            return self._aware(scheduled)
        return to_utc(current.in_timezone(self._timezone) + (scheduled - naive))

    def _get_prev(self, current: pendulum.DateTime) -> pendulum.DateTime:
        naive = self._naive(current)
        scheduled = croniter(self._expression, start_time=naive).get_prev(dt.datetime)
        if not self._every_hour:
            return self._aware(scheduled)
        return to_utc(current.in_timezone(self._timezone) - (naive - scheduled))

    def _align_to_next(self, current: pendulum.DateTime) -> pendulum.DateTime:
        following = self._get_next(current)
        return following if self._get_prev(following) != current else current

    def _align_to_prev(self, current: pendulum.DateTime) -> pendulum.DateTime:
        previous = self._get_prev(current)
        return previous if self._get_next(previous) != current else current


class _Delta(_Schedule):
    def __init__(self, delta: Delta) -> None:
        now = dt.datetime(2000, 1, 1)
        if now + delta <= now:
            raise DagDefinitionError(f"schedule {delta!r} must be a positive timedelta or relativedelta")
        self._delta = delta
        self.description = str(delta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return bool(self._delta == other._delta)

    __hash__ = Timetable.__hash__

    @property
    def delta(self) -> Delta:
        return self._delta

    def _get_next(self, current: pendulum.DateTime) -> pendulum.DateTime:
        return to_utc(current + self._delta)

    def _get_prev(self, current: pendulum.DateTime) -> pendulum.DateTime:
        return to_utc(current - self._delta)


class _DataIntervalTimetable(_Schedule):
    """Runs cover the interval between two schedule points and start when it ends (Airflow 2's default)."""

    def _skip_to_latest(self, earliest: pendulum.DateTime | None) -> pendulum.DateTime:
        raise NotImplementedError

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        earliest = coerce(restriction.earliest) if restriction.earliest is not None else None
        if not restriction.catchup:
            earliest = self._skip_to_latest(earliest)
        elif earliest is not None:
            earliest = self._align_to_next(earliest)
        if last_automated_data_interval is None:
            if earliest is None:
                return None
            start = earliest
        else:
            # Aligned again in case the schedule changed since the last run.
            start = self._align_to_prev(coerce(last_automated_data_interval.end))
            if earliest is not None:
                start = max(start, earliest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start, self._get_next(start))

    def automated_interval(self, logical_date: dt.datetime) -> DataInterval:
        start = coerce(logical_date)
        return DataInterval(start, self._get_next(start))

    def prev_logical_date(self, logical_date: dt.datetime) -> dt.datetime | None:
        return self._get_prev(coerce(logical_date))


class CronDataIntervalTimetable(_Cron, _DataIntervalTimetable):
    """A cron schedule whose runs cover the time between two cron points (what a cron string means)."""

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(data["expression"], decode_timezone(data["timezone"]))

    def serialize(self) -> dict[str, Any]:
        return {"expression": self._given, "timezone": encode_timezone(self._timezone)}

    def _skip_to_latest(self, earliest: pendulum.DateTime | None) -> pendulum.DateTime:
        # Without catchup the first run is the latest interval that has already ended.
        now = utcnow()
        last_start = self._get_prev(now)
        new_start = last_start if self._get_next(last_start) == now else self._get_prev(last_start)
        return new_start if earliest is None else max(new_start, self._align_to_next(earliest))

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        end = self._align_to_prev(coerce(run_after))
        return DataInterval(self._get_prev(end), end)


class DeltaDataIntervalTimetable(_Delta, _DataIntervalTimetable):
    """A fixed ``timedelta`` (or ``relativedelta``) between runs, counted from ``start_date``."""

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(decode_delta(data["delta"]))

    def serialize(self) -> dict[str, Any]:
        return {"delta": encode_delta(self._delta)}

    def _seconds(self) -> float:
        if isinstance(self._delta, dt.timedelta):
            return self._delta.total_seconds()
        d = self._delta  # Airflow's approximation: a month is 30 days, a year 365
        return float(((d.years * 365 + d.months * 30 + d.days) * 24 + d.hours) * 3600 + d.minutes * 60 + d.seconds)

    def _skip_to_latest(self, earliest: pendulum.DateTime | None) -> pendulum.DateTime:
        # Without catchup: the interval that ended at the last multiple of the delta since the epoch.
        now = utcnow()
        stamp = now.timestamp()
        rounded = pendulum.from_timestamp(stamp - stamp % self._seconds(), tz=pendulum.UTC)
        new_start = self._get_prev(rounded)
        return new_start if earliest is None else max(new_start, earliest)

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        return DataInterval(self._get_prev(coerce(run_after)), coerce(run_after))


class _TriggerTimetable(_Schedule):
    """Runs start at each schedule point and cover ``interval`` before it."""

    _interval: Delta = dt.timedelta()

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        return DataInterval(coerce(run_after) - self._interval, coerce(run_after))

    def _first_run(self) -> pendulum.DateTime:
        return self._align_to_next(utcnow())

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        last = last_automated_data_interval
        earliest = coerce(restriction.earliest) if restriction.earliest is not None else None
        if restriction.catchup:
            if last is not None:
                start = self._get_next(coerce(last.end))
            elif earliest is None:
                start = self._first_run()
            else:
                start = self._align_to_next(earliest)
        else:
            candidates = [self._align_to_prev(utcnow())]
            if last is not None:
                candidates.append(self._get_next(coerce(last.end)))
            elif earliest is None:
                candidates.append(self._first_run())
            if earliest is not None:
                candidates.append(self._align_to_next(earliest))
            start = max(candidates)
        if restriction.latest is not None and restriction.latest < start:
            return None
        return DagRunInfo.interval(to_utc(start - self._interval), start)

    def automated_interval(self, logical_date: dt.datetime) -> DataInterval:
        start = coerce(logical_date)
        return DataInterval(start, to_utc(start + self._interval))


class CronTriggerTimetable(_Cron, _TriggerTimetable):
    """A run at each cron point (Airflow 3's default for cron strings); ``run_immediately`` as in Airflow 3."""

    def __init__(
        self, cron: str, *, timezone: Any, interval: Delta = dt.timedelta(), run_immediately: bool | Delta = False
    ) -> None:
        super().__init__(cron, timezone)
        self._interval = interval
        self._run_immediately = run_immediately

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        immediately = data.get("run_immediately", False)
        return cls(
            data["expression"],
            timezone=decode_timezone(data["timezone"]),
            interval=decode_delta(data["interval"]),
            run_immediately=immediately if isinstance(immediately, bool) else decode_delta(immediately),
        )

    def serialize(self) -> dict[str, Any]:
        immediately = self._run_immediately
        return {
            "expression": self._given,
            "timezone": encode_timezone(self._timezone),
            "interval": encode_delta(self._interval),
            "run_immediately": immediately if isinstance(immediately, bool) else encode_delta(immediately),
        }

    def _first_run(self) -> pendulum.DateTime:
        now = utcnow()
        past, following = self._align_to_prev(now), self._align_to_next(now)
        if self._run_immediately is True:
            return past
        if isinstance(self._run_immediately, dt.timedelta):
            buffer = self._run_immediately
        else:
            buffer = max((following - past) / 10, dt.timedelta(minutes=5))
        return past if now - past <= buffer else following


class DeltaTriggerTimetable(_Delta, _TriggerTimetable):
    """A run every ``delta`` from ``start_date``, covering ``interval`` before it."""

    def __init__(self, delta: Delta, *, interval: Delta = dt.timedelta()) -> None:
        super().__init__(delta)
        self._interval = interval

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(decode_delta(data["delta"]), interval=decode_delta(data["interval"]))

    def serialize(self) -> dict[str, Any]:
        return {"delta": encode_delta(self._delta), "interval": encode_delta(self._interval)}


class MultipleCronTriggerTimetable(Timetable):
    """Runs at the points of several cron expressions; one run when more than one fires at once."""

    def __init__(
        self, *crons: str, timezone: Any, interval: Delta = dt.timedelta(), run_immediately: bool | Delta = False
    ) -> None:
        if not crons:
            raise DagDefinitionError("MultipleCronTriggerTimetable needs at least one cron expression")
        self._tables = [
            CronTriggerTimetable(c, timezone=timezone, interval=interval, run_immediately=run_immediately)
            for c in crons
        ]
        self.description = ", ".join(t.description for t in self._tables)

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        first = CronTriggerTimetable.deserialize({"expression": "@daily", **data})
        assert isinstance(first, CronTriggerTimetable)
        return cls(
            *data["expressions"],
            timezone=first._timezone,
            interval=first._interval,
            run_immediately=first._run_immediately,
        )

    def serialize(self) -> dict[str, Any]:
        shared = self._tables[0].serialize()
        del shared["expression"]
        return {"expressions": [t._given for t in self._tables], **shared}

    @property
    def summary(self) -> str:
        return ", ".join(t.summary for t in self._tables)

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        intervals = [t.infer_manual_data_interval(run_after=run_after) for t in self._tables]
        return min(intervals, key=lambda i: i.start)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        infos = [
            t.next_dagrun_info(last_automated_data_interval=last_automated_data_interval, restriction=restriction)
            for t in self._tables
        ]
        if restriction.catchup:
            return min(infos, key=_earliest)
        return min(infos, key=functools.partial(_latest_past_else_earliest, now=utcnow().timestamp()))

    def automated_interval(self, logical_date: dt.datetime) -> DataInterval:
        return self._tables[0].automated_interval(logical_date)


def _earliest(info: DagRunInfo | None) -> float:
    return math.inf if info is None else info.logical_date.timestamp()


def _latest_past_else_earliest(info: DagRunInfo | None, *, now: float) -> float:
    """Without catchup: the latest run not after now, else the soonest one."""
    if info is None:
        return math.inf
    stamp = info.logical_date.timestamp()
    return -stamp if stamp <= now else stamp


class EventsTimetable(Timetable):
    """Runs at listed moments; manual runs take the latest event before them with ``restrict_to_events``."""

    def __init__(
        self,
        event_dates: Iterable[dt.datetime],
        restrict_to_events: bool = False,
        presorted: bool = False,
        description: str | None = None,
    ) -> None:
        self.event_dates = [coerce(d) for d in event_dates]
        if not presorted:
            self.event_dates.sort()
        self.restrict_to_events = restrict_to_events
        if description is not None:
            self._summary = self.description = description
        elif self.event_dates:
            first, last = self.event_dates[0], self.event_dates[-1]
            self.description = f"{len(self.event_dates)} events between {first} and {last}"
            self._summary = f"{len(self.event_dates)} events"
        else:
            self.description, self._summary = "No events", "0 events"

    @property
    def summary(self) -> str:
        return self._summary

    def serialize(self) -> dict[str, Any]:
        return {
            "event_dates": [d.isoformat() for d in self.event_dates],
            "restrict_to_events": self.restrict_to_events,
            "description": self.description,
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        dates = [pendulum.DateTime.fromisoformat(d) for d in data["event_dates"]]
        return cls(
            dates,
            data["restrict_to_events"],
            presorted=True,
            description=data.get("description"),
        )

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        earliest = restriction.earliest
        if not restriction.catchup:
            now = utcnow()
            if earliest is None or now > earliest:
                earliest = now
        for event in self.event_dates:
            if earliest is not None and event < earliest:
                continue
            if last_automated_data_interval is not None and event <= last_automated_data_interval.end:
                continue
            if restriction.latest is not None and event > restriction.latest:
                return None
            return DagRunInfo.exact(event)
        return None

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        if not self.restrict_to_events or not self.event_dates:
            return DataInterval.exact(run_after)
        if run_after < self.event_dates[0]:
            return DataInterval.exact(self.event_dates[0])
        past = itertools.dropwhile(lambda when: when > run_after, reversed(self.event_dates))
        return DataInterval.exact(next(past))


# Older names of the data-interval timetables, kept for code that imports them.
CronTimetable = CronDataIntervalTimetable
DeltaTimetable = DeltaDataIntervalTimetable

BUILT_IN: dict[str, type[Timetable]] = {
    cls.__name__: cls
    for cls in (
        NullTimetable,
        OnceTimetable,
        ContinuousTimetable,
        CronDataIntervalTimetable,
        DeltaDataIntervalTimetable,
        CronTriggerTimetable,
        DeltaTriggerTimetable,
        MultipleCronTriggerTimetable,
        EventsTimetable,
    )
}
"""The timetables :func:`~dockyard.timetable.deserialize_timetable` rebuilds by name."""

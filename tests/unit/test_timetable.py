"""Schedules and data intervals against Airflow's documented semantics."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dockyard.errors import DagDefinitionError
from dockyard.timetable import CronTimetable, DataInterval, DeltaTimetable, NullTimetable, OnceTimetable, timetable_for

UTC = dt.timezone.utc
AMS = ZoneInfo("Europe/Amsterdam")


def d(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def intervals(
    schedule: object, start: dt.datetime, now: dt.datetime, catchup: bool = True, end: dt.datetime | None = None
) -> list[DataInterval]:
    table = timetable_for(schedule, start)
    found: list[DataInterval] = []
    after = None
    while True:
        nxt = table.next_interval(after=after, start_date=start, end_date=end, catchup=catchup, now=now)
        if nxt is None:
            return found
        found.append(nxt)
        after = nxt


def test_daily_runs_cover_each_day_and_run_after_it_ends() -> None:
    found = intervals("@daily", d(2024, 1, 30), now=d(2024, 2, 1, 0, 30))
    assert found == [DataInterval(d(2024, 1, 30), d(2024, 1, 31)), DataInterval(d(2024, 1, 31), d(2024, 2, 1))]
    # The run for 2024-02-01 is not due until 2024-02-02 00:00.
    assert intervals("@daily", d(2024, 2, 1), now=d(2024, 2, 1, 23, 59)) == []


def test_a_start_date_off_the_schedule_aligns_to_the_next_point() -> None:
    found = intervals("@daily", d(2024, 1, 30, 15), now=d(2024, 2, 1, 1))
    assert found == [DataInterval(d(2024, 1, 31), d(2024, 2, 1))]


def test_catchup_false_creates_only_the_latest_interval() -> None:
    found = intervals("@daily", d(2024, 1, 1), now=d(2024, 3, 10, 12), catchup=False)
    assert found == [DataInterval(d(2024, 3, 9), d(2024, 3, 10))]


def test_end_date_stops_the_schedule() -> None:
    found = intervals("@daily", d(2024, 1, 1), now=d(2024, 2, 1), end=d(2024, 1, 3))
    assert [i.start.day for i in found] == [1, 2, 3]


def test_monthly_across_month_ends_and_a_leap_year() -> None:
    found = intervals("@monthly", d(2024, 1, 1), now=d(2024, 4, 1))
    assert [(i.start.date().isoformat(), i.end.date().isoformat()) for i in found] == [
        ("2024-01-01", "2024-02-01"),
        ("2024-02-01", "2024-03-01"),
        ("2024-03-01", "2024-04-01"),
    ]
    table = timetable_for("@monthly", d(2024, 1, 1))
    assert table.next_logical_date(d(2024, 1, 1)) == d(2024, 2, 1)
    assert table.prev_logical_date(d(2024, 3, 1)) == d(2024, 2, 1)


def test_cron_in_a_timezone_keeps_local_time_across_dst() -> None:
    start = dt.datetime(2024, 3, 30, tzinfo=AMS)
    found = intervals("0 6 * * *", start, now=d(2024, 4, 2, 5))
    # 06:00 in Amsterdam is 05:00 UTC before 31 March 2024 and 04:00 UTC after.
    assert [i.start for i in found] == [d(2024, 3, 30, 5), d(2024, 3, 31, 4), d(2024, 4, 1, 4)]
    autumn = intervals("0 6 * * *", dt.datetime(2024, 10, 26, tzinfo=AMS), now=d(2024, 10, 29, 6))
    assert [i.start for i in autumn] == [d(2024, 10, 26, 4), d(2024, 10, 27, 5), d(2024, 10, 28, 5)]


def test_timedelta_schedules_count_from_the_start_date() -> None:
    found = intervals(dt.timedelta(hours=8), d(2024, 1, 1, 2), now=d(2024, 1, 2, 3))
    assert [i.start.hour for i in found] == [2, 10, 18]
    assert all(i.end - i.start == dt.timedelta(hours=8) for i in found)


def test_once_and_none() -> None:
    assert intervals("@once", d(2024, 1, 1), now=d(2024, 1, 5)) == [DataInterval(d(2024, 1, 1), d(2024, 1, 1))]
    assert intervals(None, d(2024, 1, 1), now=d(2024, 1, 5)) == []
    assert isinstance(timetable_for(None), NullTimetable) and isinstance(timetable_for("@once"), OnceTimetable)


def test_manual_runs_get_the_last_complete_interval() -> None:
    assert timetable_for("@daily").manual_interval(d(2024, 1, 31, 15)) == DataInterval(d(2024, 1, 30), d(2024, 1, 31))
    at = d(2024, 1, 31, 15)
    assert timetable_for(None).manual_interval(at) == DataInterval(at, at)
    assert DeltaTimetable(dt.timedelta(hours=1)).manual_interval(d(2024, 1, 31, 15)).start == d(2024, 1, 31, 14)


def test_presets_and_descriptions() -> None:
    assert isinstance(timetable_for("@hourly"), CronTimetable)
    assert timetable_for("@weekly").description == "@weekly"
    assert timetable_for("*/5 * * * *").description == "*/5 * * * *"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("@fortnightly", "is not a preset"),
        ("61 * * * *", "is not a valid cron expression"),
        ("every day", "is not a valid cron expression"),
        (42, "is not understood"),
        (dt.timedelta(0), "must be a positive timedelta"),
        ("@continuous", "is not supported"),
    ],
)
def test_bad_schedules(schedule: object, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        timetable_for(schedule)

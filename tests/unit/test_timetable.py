"""Schedules and data intervals against Airflow's documented semantics."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
import pytest
from dateutil.relativedelta import relativedelta

from dockyard.compat import airflow as compat
from dockyard.errors import DagDefinitionError
from dockyard.timetable import (
    DataInterval,
    TimeRestriction,
    Timetable,
    clock,
    deserialize_timetable,
    serialize_timetable,
    timetable_for,
)
from dockyard.timetables import CronTimetable, DeltaTimetable, NullTimetable, OnceTimetable

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
        (relativedelta(months=-1), "must be a positive timedelta"),
        ("0 0 * * * *", "is not a valid cron expression"),
        ([object()], "a list schedule holds datasets"),
    ],
)
def test_bad_schedules(schedule: object, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        timetable_for(schedule)


# Airflow's own answers, captured from Apache Airflow (see tests/data/capture_airflow.py) --------------------

DATA = Path(__file__).parent.parent / "data"
CAPTURED = json.loads((DATA / "airflow_timetables.json").read_text())
NOW = pendulum.parse(CAPTURED["now"])


def _schedule(case: dict[str, Any]) -> Any:
    schedule = case["schedule"]
    if isinstance(schedule, dict) and "timedelta" in schedule:
        return dt.timedelta(seconds=schedule["timedelta"])
    if isinstance(schedule, dict):
        return relativedelta(**schedule["relativedelta"])
    return schedule


def _delta(value: Any) -> Any:
    return relativedelta(**value) if isinstance(value, dict) else dt.timedelta(seconds=value)


def build(case: dict[str, Any]) -> Timetable:
    """The timetable of a captured case, built the way a DAG file would (through the ``airflow`` imports)."""
    compat.install()
    start = pendulum.parse(case["start"]).in_timezone(case["start_tz"])
    kind, args = case.get("kind"), dict(case.get("args") or {})
    if kind is None:
        return timetable_for(_schedule(case), start)
    from airflow.timetables.events import EventsTimetable  # type: ignore[import-not-found]
    from airflow.timetables.trigger import CronTriggerTimetable, DeltaTriggerTimetable  # type: ignore[import-not-found]

    if kind == "CronTriggerTimetable":
        interval = _delta(args.pop("interval", 0))
        return CronTriggerTimetable(args.pop("cron"), interval=interval, **args)  # type: ignore[no-any-return]
    if kind == "DeltaTriggerTimetable":
        return DeltaTriggerTimetable(_delta(args["delta"]), interval=_delta(args.get("interval", 0)))  # type: ignore[no-any-return]
    if kind == "EventsTimetable":
        dates = [pendulum.parse(d) for d in args["event_dates"]]
        return EventsTimetable(dates, restrict_to_events=args["restrict_to_events"])  # type: ignore[no-any-return]
    sys.path.insert(0, str(DATA))
    try:
        from workday_timetable import AfterWorkdayTimetable  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DATA))
    return AfterWorkdayTimetable(**args)  # type: ignore[no-any-return]


def iso(value: dt.datetime) -> str:
    return pendulum.instance(value).in_timezone("UTC").isoformat()


def airflow_sequence(table: Timetable, start: Any, end: Any, catchup: bool) -> list[list[str]]:
    found: list[list[str]] = []
    last = None
    restriction = TimeRestriction(earliest=start, latest=end, catchup=catchup)
    with clock(NOW):
        for _ in range(6):
            info = table.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
            if info is None:
                break
            found.append([iso(info.run_after), iso(info.data_interval.start), iso(info.data_interval.end)])
            last = info.data_interval
    return found


def case_id(case: dict[str, Any]) -> str:
    return f"{case.get('kind') or case['schedule']}-{case['start']}"


@pytest.mark.parametrize("case", CAPTURED["cases"], ids=case_id)
def test_runs_match_airflow(case: dict[str, Any]) -> None:
    table = build(case)
    start = pendulum.parse(case["start"]).in_timezone(case["start_tz"])
    assert airflow_sequence(table, start, None, True) == case["catchup"]
    assert airflow_sequence(table, start, pendulum.parse(case["end_date"]), True) == case["catchup_with_end"]
    if "no_catchup" in case:
        assert airflow_sequence(table, start, None, False) == case["no_catchup"]
    manual = {at: [iso(v) for v in table.manual_interval(pendulum.parse(at))] for at in case["manual"]}
    assert manual == case["manual"]
    assert table.summary == case["summary"]


@pytest.mark.parametrize("case", CAPTURED["cases"], ids=case_id)
def test_the_scheduler_view_creates_the_due_runs_airflow_creates(case: dict[str, Any]) -> None:
    """``next_interval`` (what the scheduler calls) yields Airflow's runs whose run_after has come."""
    table = build(case)
    start = pendulum.parse(case["start"]).in_timezone(case["start_tz"])
    for catchup, key in ((True, "catchup"), (False, "no_catchup")):
        if key not in case:
            continue
        expected = [run[1:] for run in case[key] if pendulum.parse(run[0]) <= NOW]
        found: list[list[str]] = []
        after = None
        while len(found) < len(case[key]):
            interval = table.next_interval(after=after, start_date=start, catchup=catchup, now=NOW)
            if interval is None:
                break
            found.append([iso(interval.start), iso(interval.end)])
            after = interval
        if case.get("schedule") == "@continuous":
            expected = expected[:2]  # one run after another: no second run at the same instant
        assert found == expected, key
        due = [run for run in case[key] if pendulum.parse(run[0]) > NOW]
        following = table.next_run_after(after=after, start_date=start, catchup=catchup, now=NOW)
        if due and case.get("schedule") != "@continuous":
            assert following is not None and iso(following) == due[0][0]


@pytest.mark.parametrize("case", CAPTURED["cases"], ids=case_id)
def test_every_timetable_survives_json(case: dict[str, Any]) -> None:
    table = build(case)
    stored = json.loads(json.dumps(serialize_timetable(table)))
    again = deserialize_timetable(stored)
    assert type(again) is type(table)
    start = pendulum.parse(case["start"]).in_timezone(case["start_tz"])
    assert airflow_sequence(again, start, None, True) == case["catchup"]
    assert again.description == table.description


def test_a_user_timetable_is_stored_by_its_import_path() -> None:
    table = build(next(c for c in CAPTURED["cases"] if c.get("kind") == "AfterWorkdayTimetable"))
    assert serialize_timetable(table) == {"type": "workday_timetable.AfterWorkdayTimetable", "data": {"hour": 0}}
    with pytest.raises(DagDefinitionError, match="cannot be imported.*module next to the DAG files"):
        deserialize_timetable({"type": "no_such_module.Table", "data": {}})
    with pytest.raises(DagDefinitionError, match="is not a Timetable subclass"):
        deserialize_timetable({"type": "datetime.datetime", "data": {}})


def test_multiple_cron_trigger_takes_the_earliest_point() -> None:
    compat.install()
    from airflow.timetables.trigger import MultipleCronTriggerTimetable  # type: ignore[import-not-found]

    table = MultipleCronTriggerTimetable("0 6 * * *", "30 18 * * *", timezone="UTC")
    starts = [i.start.isoformat() for i in intervals(table, d(2024, 3, 1, 12), now=d(2024, 3, 2, 19))]
    assert starts == ["2024-03-01T18:30:00+00:00", "2024-03-02T06:00:00+00:00", "2024-03-02T18:30:00+00:00"]
    assert table.summary == "0 6 * * *, 30 18 * * *"
    # Without catchup: the latest point that has passed, not the backlog.
    late = table.next_interval(after=None, start_date=d(2024, 3, 1), catchup=False, now=d(2024, 3, 5, 7))
    assert late is not None and late.start == d(2024, 3, 5, 6)
    again = deserialize_timetable(json.loads(json.dumps(serialize_timetable(table))))
    assert again.summary == table.summary


def test_pendulum_start_dates_and_relativedelta_schedules() -> None:
    start = pendulum.datetime(2024, 1, 31, tz="Europe/Amsterdam")
    found = intervals(relativedelta(months=1), start, now=d(2024, 4, 1))
    assert [i.end - i.start for i in found][:1] == [dt.timedelta(days=29)]
    yesterday = pendulum.today("UTC").add(days=-1)
    assert intervals("@daily", yesterday, now=pendulum.now("UTC"))[0].start == yesterday


def test_next_and_previous_logical_dates() -> None:
    daily = timetable_for("@daily")
    assert daily.next_logical_date(d(2024, 3, 10)) == d(2024, 3, 11)
    assert daily.prev_logical_date(d(2024, 3, 10)) == d(2024, 3, 9)
    trigger = build(next(c for c in CAPTURED["cases"] if c.get("kind") == "CronTriggerTimetable"))
    assert trigger.prev_logical_date(d(2024, 3, 10, 5)) is None  # Airflow: no previous schedule for triggers
    assert trigger.next_logical_date(d(2024, 3, 10, 5)) == d(2024, 3, 11, 5)

"""A user's own timetable, written against Airflow's ``Timetable`` API: one run after each workday.

The run for a Monday..Friday covers that day (midnight to midnight UTC) and starts once the day is over;
weekends get no runs. The same file loads under Apache Airflow and under dockyard's ``airflow`` package.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable  # type: ignore[import-not-found]

DAY = timedelta(days=1)


def _midnight(when: Any) -> Any:
    return pendulum.instance(when).in_timezone("UTC").start_of("day")


def _skip_weekend(day: Any) -> Any:
    while day.weekday() >= 5:
        day = day + DAY
    return day


class AfterWorkdayTimetable(Timetable):  # type: ignore[misc]
    def __init__(self, hour: int = 0) -> None:
        self.hour = hour

    def serialize(self) -> dict[str, Any]:
        return {"hour": self.hour}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> AfterWorkdayTimetable:
        return cls(int(data["hour"]))

    def infer_manual_data_interval(self, *, run_after: Any) -> Any:
        start = _midnight(run_after) - DAY
        while start.weekday() >= 5:
            start = start - DAY
        return DataInterval(start=start.add(hours=self.hour), end=(start + DAY).add(hours=self.hour))

    def next_dagrun_info(self, *, last_automated_data_interval: Any, restriction: TimeRestriction) -> Any:
        if last_automated_data_interval is not None:
            start = _skip_weekend(_midnight(last_automated_data_interval.end))
        else:
            if restriction.earliest is None:
                return None
            start = _midnight(restriction.earliest)
            if start != restriction.earliest:
                start = start + DAY
            if not restriction.catchup:
                start = max(start, _midnight(pendulum.now("UTC")) - DAY)
            start = _skip_weekend(start)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start=start.add(hours=self.hour), end=(start + DAY).add(hours=self.hour))

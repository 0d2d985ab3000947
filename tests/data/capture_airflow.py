"""Capture Apache Airflow's answers for tests/data/airflow_*.json (run with Airflow installed, not dockyard).

    python -m venv /tmp/af && /tmp/af/bin/pip install "apache-airflow==2.11.*"
    AIRFLOW_HOME=/tmp/afhome /tmp/af/bin/airflow db migrate
    AIRFLOW_HOME=/tmp/afhome /tmp/af/bin/python tests/data/capture_airflow.py

Writes ``airflow_context.json`` (templates rendered for a scheduled, a manual and a backfill run of the same
DAG) and ``airflow_timetables.json`` (the runs each schedule creates, and manual runs' data intervals).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import airflow
import pendulum
from airflow.models import DAG, DagRun, TaskInstance
from airflow.models.param import Param
from airflow.operators.bash import BashOperator
from airflow.timetables import interval as interval_module
from airflow.timetables import trigger as trigger_module
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.events import EventsTimetable
from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable
from airflow.timetables.simple import ContinuousTimetable, NullTimetable, OnceTimetable
from airflow.timetables.trigger import CronTriggerTimetable, DeltaTriggerTimetable
from airflow.utils import timezone
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState, TaskInstanceState
from airflow.utils.types import DagRunType
from dateutil.relativedelta import relativedelta

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from workday_timetable import AfterWorkdayTimetable  # noqa: E402

UTC = pendulum.UTC
EXPRESSIONS = [line for line in (HERE / "template_expressions.txt").read_text().splitlines() if line.strip()]


def iso(value: Any) -> str | None:
    return None if value is None else pendulum.instance(value).in_timezone("UTC").isoformat()


def capture_context() -> dict[str, Any]:
    dag_id = "ctx_capture"

    def make_dag() -> tuple[DAG, BashOperator]:
        # A fresh DAG for every run: Airflow's params of one run must not leak into the next.
        with DAG(
            dag_id,
            start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
            schedule="@daily",
            params={"n": Param(3, type="integer"), "who": "dag"},
            catchup=True,
        ) as dag:
            task = BashOperator(task_id="t", bash_command="true", retries=2, params={"who": "task"})
        return dag, task

    dag, task = make_dag()
    dag.sync_to_db()
    runs: dict[str, Any] = {
        "previous_success": {
            "run_type": "scheduled",
            "logical_date": "2024-03-09T00:00:00+00:00",
            "data_interval": ["2024-03-09T00:00:00+00:00", "2024-03-10T00:00:00+00:00"],
            "start_date": "2024-03-10T00:00:07.250000+00:00",
            "end_date": "2024-03-10T00:05:00+00:00",
            "state": "success",
        },
        "scheduled": {
            "run_type": "scheduled",
            "logical_date": "2024-03-10T00:00:00+00:00",
            "data_interval": ["2024-03-10T00:00:00+00:00", "2024-03-11T00:00:00+00:00"],
        },
        "manual": {
            "run_type": "manual",
            "logical_date": "2024-03-11T12:34:56.789012+00:00",
            "conf": {"n": 5},
        },
        "backfill": {
            "run_type": "backfill",
            "logical_date": "2024-02-01T00:00:00+00:00",
            "data_interval": ["2024-02-01T00:00:00+00:00", "2024-02-02T00:00:00+00:00"],
        },
    }
    run_start = "2024-03-11T12:35:00.100000+00:00"
    queued_at = "2024-03-11T12:34:59+00:00"
    ti_start = "2024-03-11T12:35:01.500000+00:00"
    out: dict[str, Any] = {
        "airflow_version": airflow.__version__,
        "dag": {"dag_id": dag_id, "task_id": "t", "schedule": "@daily", "start_date": "2024-01-01T00:00:00+00:00"},
        "ti": {"hostname": "worker-1", "try_number": 1, "max_tries": 2, "start_date": ti_start, "state": "running"},
        "dag_run": {"start_date": run_start, "queued_at": queued_at, "state": "running"},
        "runs": {},
    }
    with create_session() as session:
        session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id).delete()
        session.query(DagRun).filter(DagRun.dag_id == dag_id).delete()
    for name, run in runs.items():
        dag, task = make_dag()
        when = pendulum.parse(run["logical_date"])
        run_type = DagRunType(run["run_type"])
        if "data_interval" in run:
            interval = DataInterval(*(pendulum.parse(v) for v in run["data_interval"]))
        else:
            interval = dag.timetable.infer_manual_data_interval(run_after=when)
            run["data_interval"] = [iso(interval.start), iso(interval.end)]
        run["run_id"] = DagRun.generate_run_id(run_type, when)
        with create_session() as session:
            dag_run = dag.create_dagrun(
                run_id=run["run_id"],
                run_type=run_type,
                execution_date=when,
                data_interval=interval,
                state=DagRunState(run.get("state", "running")),
                external_trigger=run_type == DagRunType.MANUAL,
                conf=run.get("conf"),
                start_date=pendulum.parse(run.get("start_date", run_start)),
                session=session,
            )
            dag_run.end_date = pendulum.parse(run["end_date"]) if "end_date" in run else None
            dag_run.queued_at = pendulum.parse(queued_at)
            session.flush()
        if name == "previous_success":
            out["runs"][name] = run
            continue
        with create_session() as session:
            ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run["run_id"], task_id="t").one()
            ti.task = task
            ti.hostname = "worker-1"
            ti.start_date = pendulum.parse(ti_start)
            ti.state = TaskInstanceState.RUNNING
            ti.try_number = 1
            session.flush()
            context = ti.get_template_context(session=session)
            rendered: dict[str, Any] = {}
            for expression in EXPRESSIONS:
                try:
                    rendered[expression] = task.render_template(expression, context)
                except Exception as exc:  # noqa: BLE001 - an expression Airflow itself cannot render is recorded as such
                    rendered[expression] = {"error": type(exc).__name__}
            run["rendered"] = rendered
        out["runs"][name] = run
    return out


NOW = pendulum.datetime(2024, 3, 10, 12, 34, 56, tz="UTC")


def frozen() -> pendulum.DateTime:
    return NOW


def sequence(table: Any, start: Any, end: Any, catchup: bool, count: int = 6) -> list[list[str | None]]:
    found: list[list[str | None]] = []
    last = None
    restriction = TimeRestriction(earliest=start, latest=end, catchup=catchup)
    for _ in range(count):
        info = table.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None:
            break
        found.append([iso(info.run_after), iso(info.data_interval.start), iso(info.data_interval.end)])
        last = info.data_interval
    return found


AMS = "Europe/Amsterdam"


def timetable_cases() -> list[dict[str, Any]]:
    d = pendulum.datetime
    cases: list[dict[str, Any]] = [
        {"schedule": "@daily", "table": CronDataIntervalTimetable("@daily", UTC), "start": d(2024, 1, 30, 15)},
        {"schedule": "@weekly", "table": CronDataIntervalTimetable("@weekly", UTC), "start": d(2024, 1, 1)},
        {"schedule": "@monthly", "table": CronDataIntervalTimetable("@monthly", UTC), "start": d(2024, 1, 15)},
        {"schedule": "@quarterly", "table": CronDataIntervalTimetable("@quarterly", UTC), "start": d(2024, 1, 1)},
        {
            "schedule": "*/15 9-17 * * 1-5",
            "table": CronDataIntervalTimetable("*/15 9-17 * * 1-5", UTC),
            "start": d(2024, 3, 8, 17, 20),
        },
        {
            "schedule": "0 6 * * *",
            "timezone": AMS,
            "table": CronDataIntervalTimetable("0 6 * * *", AMS),
            "start": d(2024, 3, 29, tz=AMS),
        },
        {
            "schedule": "30 * * * *",
            "timezone": AMS,
            "table": CronDataIntervalTimetable("30 * * * *", AMS),
            "start": d(2024, 10, 27, 1, tz=AMS),
        },
        {
            "schedule": "0 2 * * *",
            "timezone": AMS,
            "table": CronDataIntervalTimetable("0 2 * * *", AMS),
            "start": d(2024, 3, 30, tz=AMS),
        },
        {
            "schedule": {"timedelta": 8 * 3600},
            "table": DeltaDataIntervalTimetable(dt.timedelta(hours=8)),
            "start": d(2024, 1, 1, 2),
        },
        {
            "schedule": {"relativedelta": {"months": 1}},
            "table": DeltaDataIntervalTimetable(relativedelta(months=1)),
            "start": d(2024, 1, 31),
        },
        {"schedule": "@once", "table": OnceTimetable(), "start": d(2024, 1, 1)},
        {"schedule": None, "table": NullTimetable(), "start": d(2024, 1, 1)},
        {"schedule": "@continuous", "table": ContinuousTimetable(), "start": d(2024, 3, 10, 12)},
        {
            "kind": "CronTriggerTimetable",
            "args": {"cron": "0 6 * * *", "timezone": AMS},
            "table": CronTriggerTimetable("0 6 * * *", timezone=AMS),
            "start": d(2024, 3, 29, tz=AMS),
        },
        {
            "kind": "CronTriggerTimetable",
            "args": {"cron": "@hourly", "timezone": "UTC", "interval": 3600},
            "table": CronTriggerTimetable("@hourly", timezone="UTC", interval=dt.timedelta(hours=1)),
            "start": d(2024, 3, 10, 9, 30),
        },
        {
            "kind": "DeltaTriggerTimetable",
            "args": {"delta": 6 * 3600},
            "table": DeltaTriggerTimetable(dt.timedelta(hours=6)),
            "start": d(2024, 3, 9, 1),
        },
        {
            "kind": "DeltaTriggerTimetable",
            "args": {"delta": {"days": 1}, "interval": 3600},
            "table": DeltaTriggerTimetable(relativedelta(days=1), interval=dt.timedelta(hours=1)),
            "start": d(2024, 3, 8),
        },
        {
            "kind": "EventsTimetable",
            "args": {
                "event_dates": [
                    "2024-03-01T09:00:00+00:00",
                    "2024-03-05T10:00:00+00:00",
                    "2024-03-12T11:00:00+00:00",
                    "2024-02-20T08:00:00+00:00",
                ],
                "restrict_to_events": True,
            },
            "table": EventsTimetable(
                [d(2024, 3, 1, 9), d(2024, 3, 5, 10), d(2024, 3, 12, 11), d(2024, 2, 20, 8)], restrict_to_events=True
            ),
            "start": d(2024, 2, 1),
        },
        {
            "kind": "AfterWorkdayTimetable",
            "args": {"hour": 0},
            "table": AfterWorkdayTimetable(),
            "start": d(2024, 3, 7, 12),
            "only_catchup": True,
        },
    ]
    manual_at = [d(2024, 3, 10, 12, 34, 56), d(2024, 3, 11), d(2024, 3, 27, 3, 30, tz=AMS), d(2024, 2, 25, 7)]
    for case in cases:
        table = case.pop("table")
        start = case["start"]
        case["start"] = iso(start)
        case["start_tz"] = start.timezone_name
        case["catchup"] = sequence(table, start, None, True)
        case["end_date"] = "2024-03-11T00:00:00+00:00"
        case["catchup_with_end"] = sequence(table, start, pendulum.parse(case["end_date"]), True)
        if not case.pop("only_catchup", False):
            case["no_catchup"] = sequence(table, start, None, False)
        case["manual"] = {iso(at): [iso(v) for v in table.infer_manual_data_interval(run_after=at)] for at in manual_at}
        case["summary"] = table.summary
    return cases


def capture_timetables() -> dict[str, Any]:
    interval_module.utcnow = frozen
    trigger_module.utcnow = frozen
    timezone.utcnow = frozen
    return {"airflow_version": airflow.__version__, "now": iso(NOW), "cases": timetable_cases()}


def main() -> None:
    (HERE / "airflow_context.json").write_text(json.dumps(capture_context(), indent=1, sort_keys=True) + "\n")
    (HERE / "airflow_timetables.json").write_text(json.dumps(capture_timetables(), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

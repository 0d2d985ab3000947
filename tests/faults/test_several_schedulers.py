"""Several schedulers on one PostgreSQL database share a run's work, and one killed mid-run is taken over.

Three ``dockyard scheduler`` processes run a fan-out of 200 container tasks; one is killed with SIGKILL while
it has tries running. The others find its heartbeat stale, take its tries over (re-attaching their containers
by label) and finish the run: every task succeeds on its first try, the engine started each task's container
exactly once (counted from the engine's own event stream), and no container is left. On SQLite a second
scheduler is refused with an error that says why and what to do.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from dockyard.store.models import JobModel, TaskInstanceModel
from tests.faults.harness import Installation
from tests.helpers import wait_for

pytestmark = pytest.mark.engine

TASKS = 200

FAN_OUT = f"""
with DAG("DAG_ID", start_date=START, schedule=None, default_args=ARGS) as dag:
    done = EmptyOperator(task_id="done")
    for i in range({TASKS}):
        DockerOperator(task_id=f"t{{i}}", command=["sh", "-c", f"sleep 1; echo value-{{i}}"]) >> done
"""


def _running_per_job(dockyard: Installation, run_id: str) -> dict[int | None, int]:
    with dockyard.store.session() as s:
        rows = s.execute(
            sa.select(TaskInstanceModel.queued_by_job_id, sa.func.count())
            .where(TaskInstanceModel.run_id == run_id, TaskInstanceModel.state == "running")
            .group_by(TaskInstanceModel.queued_by_job_id)
        ).all()
    return {job: int(n) for job, n in rows}


def _job_of(dockyard: Installation, pid: int) -> int | None:
    with dockyard.store.session() as s:
        return s.scalar(sa.select(JobModel.id).where(JobModel.pid == pid, JobModel.job_type == "SchedulerJob"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_schedulers_share_a_fan_out_and_survive_a_sigkill(
    installation: Callable[..., Installation], database_url: str, record_property: Callable[[str, object], None]
) -> None:
    dockyard = installation(
        FAN_OUT,
        database_url=database_url,
        DOCKYARD_PARALLELISM="12",
        DOCKYARD_SCHEDULER_HEALTH_CHECK_THRESHOLD="10",
    )
    run_id = dockyard.trigger()
    schedulers = [dockyard.scheduler() for _ in range(3)]
    jobs = wait_for(
        lambda: [job for job in (_job_of(dockyard, p.pid) for p in schedulers) if job is not None] or None,
        60,
        "the schedulers to register",
    )
    # Kill a scheduler that has tries running, once the run is well under way.
    victim = wait_for(
        lambda: next(
            (
                p
                for p in schedulers
                if _running_per_job(dockyard, run_id).get(_job_of(dockyard, p.pid), 0) >= 2
                and sum(1 for s, _ in dockyard.task_states(run_id).values() if s == "success") >= 20
            ),
            None,
        ),
        180,
        "a scheduler with running tries, 20 tasks in",
    )
    victim_job = _job_of(dockyard, victim.pid)
    held = _running_per_job(dockyard, run_id).get(victim_job, 0)
    dockyard.kill(victim)
    record_property("tries_held_by_the_killed_scheduler", held)

    assert dockyard.wait_finished(run_id, timeout=420) == "success", dockyard.scheduler_log()
    states = dockyard.task_states(run_id)
    assert {task: state for task, state in states.items() if state != ("success", 1)} == {}
    for i in (0, 57, TASKS - 1):
        assert dockyard.store.get_xcom(dockyard.dag_id, run_id, f"t{i}") == f"value-{i}"
    starts = dockyard.starts()
    record_property("starts", starts)
    assert starts == TASKS, "a task's container started more or less than once"
    wait_for(lambda: dockyard.containers() == [], 30, "every container to be removed")

    with dockyard.store.session() as s:
        victim_state = s.scalar(sa.select(JobModel.state).where(JobModel.id == victim_job))
        ran_by = set(s.scalars(sa.select(TaskInstanceModel.queued_by_job_id).where(TaskInstanceModel.run_id == run_id)))
    assert victim_state == "failed", "the killed scheduler was not found dead"
    assert len(ran_by - {None}) == 3, f"the work was not shared by three schedulers: {ran_by} of {jobs}"
    log = next(dockyard.settings.logs_folder.rglob("task_id=t57/attempt=1.log")).read_text()
    assert log.count(" value-57\n") == 1, log


def test_a_second_scheduler_on_one_sqlite_database_is_refused(installation: Callable[..., Installation]) -> None:
    dockyard = installation(FAN_OUT.replace(str(TASKS), "1"))
    first = dockyard.scheduler()
    wait_for(lambda: _job_of(dockyard, first.pid), 60, "the first scheduler to start")
    other_home = dockyard.root / "other-home"
    second = subprocess.run(
        [sys.executable, "-m", "dockyard", "scheduler"],
        env={**dockyard.env, "DOCKYARD_HOME": str(other_home), "DOCKYARD_DATABASE_URL": dockyard.settings.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    message = second.stderr + second.stdout
    assert "SQLite allows one scheduler" in message and "PostgreSQL" in message, message
    assert first.poll() is None, "the first scheduler stopped"

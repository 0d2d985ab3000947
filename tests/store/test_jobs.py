"""Scheduler jobs on the real databases: heartbeats, takeover of a dead job's tries by exactly one scheduler,
run leases that other schedulers skip, and claims that never wait for a row someone else holds."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from dockyard.errors import ConflictError
from dockyard.store import Store, TaskState, jobs, utcnow
from dockyard.store.models import DagRunModel, JobModel, TaskInstanceModel

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def _running_run(store: Store, run_id: str, tasks: tuple[str, ...] = ("a", "b")) -> None:
    store.create_run("etl", run_id, logical_date=START + dt.timedelta(days=len(run_id)), run_type="manual")
    store.start_run("etl", run_id, [{"task_id": t} for t in tasks])
    store.set_ti_state("etl", run_id, tasks, TaskState.SCHEDULED)


def _age(store: Store, job_id: int, seconds: float) -> None:
    with store.session() as s:
        s.execute(
            sa.update(JobModel)
            .where(JobModel.id == job_id)
            .values(latest_heartbeat=utcnow() - dt.timedelta(seconds=seconds))
        )


def test_a_stale_job_is_taken_over_once_with_its_running_tries(store: Store) -> None:
    _running_run(store, "r1")
    dead, heir, late = (jobs.register(store, "SchedulerJob") for _ in range(3))
    assert store.claim_try("etl", "r1", "a", job_id=dead) == 1
    assert store.claim_try("etl", "r1", "b", job_id=heir) == 1
    assert jobs.take_over(store, heir, threshold=30) == []  # everyone is alive

    _age(store, dead, 31)
    assert jobs.take_over(store, heir, threshold=30) == [("etl", "r1", "a", -1)]
    assert jobs.take_over(store, late, threshold=30) == []  # one scheduler wins a dead job
    assert store.get_task_instance("etl", "r1", "a").queued_by_job_id == heir
    assert not jobs.heartbeat(store, dead), "a job found dead must learn it on its next heartbeat"
    assert jobs.heartbeat(store, heir)
    states = {job.id: job.state for job in jobs.list_jobs(store)}
    assert states == {dead: "failed", heir: "running", late: "running"}


def test_a_cleanly_stopped_job_leaves_its_tries_and_runs_to_the_next(store: Store) -> None:
    _running_run(store, "r1")
    first = jobs.register(store, "SchedulerJob")
    assert jobs.claim_runs(store, first, lease=30) == {("etl", "r1")}
    store.claim_try("etl", "r1", "a", job_id=first)
    jobs.finish(store, first)
    second = jobs.register(store, "SchedulerJob")
    assert jobs.claim_runs(store, second, lease=30) == {("etl", "r1")}
    assert jobs.take_over(store, second, threshold=30) == [("etl", "r1", "a", -1)]


def test_a_run_is_decided_by_one_scheduler_until_its_lease_ends(store: Store) -> None:
    _running_run(store, "r1")
    _running_run(store, "run2")
    one, two = jobs.register(store, "SchedulerJob"), jobs.register(store, "SchedulerJob")
    assert jobs.claim_runs(store, one, lease=30) == {("etl", "r1"), ("etl", "run2")}
    assert jobs.claim_runs(store, two, lease=30) == set()
    assert jobs.claim_runs(store, one, lease=30) == {("etl", "r1"), ("etl", "run2")}  # renewed
    _running_run(store, "run_3")
    assert jobs.claim_runs(store, two, lease=30) == {("etl", "run_3")}
    with store.session() as s:  # the lease of `one` runs out (it stopped passing)
        s.execute(
            sa.update(DagRunModel)
            .where(DagRunModel.claimed_by_job_id == one)
            .values(claimed_until=utcnow() - dt.timedelta(seconds=1))
        )
    assert jobs.claim_runs(store, two, lease=30) == {("etl", "r1"), ("etl", "run2"), ("etl", "run_3")}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_claims_skip_rows_another_session_holds_and_launching_is_exclusive(store: Store, database_url: str) -> None:
    _running_run(store, "r1")
    me = jobs.register(store, "SchedulerJob")
    holding = threading.Event()
    release = threading.Event()

    def hold_row() -> None:  # a person marking the task instance, mid-transaction
        with store.session() as s:
            s.execute(sa.select(TaskInstanceModel).where(TaskInstanceModel.task_id == "a").with_for_update()).all()
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_row)
    holder.start()
    holding.wait(10)
    try:
        started = dt.datetime.now()
        with pytest.raises(ConflictError):
            store.claim_try("etl", "r1", "a", job_id=me)
        assert (dt.datetime.now() - started).total_seconds() < 2, "the claim waited for the held row"
        assert store.claim_try("etl", "r1", "b", job_id=me) == 1
        other = Store(sa.create_engine(database_url))
        try:
            with jobs.exclusive(store, "launch") as got:
                assert got
                with jobs.exclusive(other, "launch") as second:
                    assert not second, "two schedulers held the launch lock at once"
            with jobs.exclusive(other, "launch") as second:
                assert second
        finally:
            other.close()
    finally:
        release.set()
        holder.join()
    assert store.claim_try("etl", "r1", "a", job_id=me) == 1

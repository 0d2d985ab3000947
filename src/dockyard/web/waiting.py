"""Why a task instance is not running yet, as its panel shows it: the upstream tasks it waits for (each with
its state, against the task's trigger rule), its pool (slots taken and free), the run and the DAG's on/off
switch and a retry's time. Read from the stored DAG and the store only, as the scheduler decides from them.

Example: a ``load`` task after a running ``extract``, in a full pool ``db`` of 2 slots, gives::

    Waiting(upstream=[("extract", "running")], rule="all_success", rule_met=False,
            pool=PoolUse("db", slots=2, used=2, needs=1), reasons=[...])
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from dockyard.operators.base import TriggerRule
from dockyard.readiness import Counts, Decision, decide
from dockyard.serialized import SerializedDag
from dockyard.states import RunState, TaskState
from dockyard.store import Store
from dockyard.store.models import DagRunModel, TaskInstanceModel

NOT_STARTED = (
    None,
    TaskState.SCHEDULED.value,
    TaskState.QUEUED.value,
    TaskState.UP_FOR_RETRY.value,
    TaskState.UP_FOR_RESCHEDULE.value,
)
"""The states in which a task instance has yet to run its (next) try, or a sensor its next poke."""


@dataclass(frozen=True)
class PoolUse:
    name: str
    slots: int | None
    """The pool's size; None when no pool of that name exists (the task waits until one is made)."""
    used: int
    needs: int

    @property
    def free(self) -> int:
        return max((self.slots or 0) - self.used, 0)

    @property
    def full(self) -> bool:
        return self.slots is None or self.free < self.needs


@dataclass(frozen=True)
class Waiting:
    upstream: list[tuple[str, str | None]]
    rule: str
    rule_met: bool
    pool: PoolUse
    reasons: list[str] = field(default_factory=list)
    """Each thing that holds the task back, in a sentence; empty when nothing does."""


def why_waiting(store: Store, dag: SerializedDag, run: DagRunModel, ti: TaskInstanceModel) -> Waiting | None:
    """What holds ``ti`` back, or None when it is running or done (then nothing does)."""
    state = str(ti.state) if ti.state is not None else None
    if state not in NOT_STARTED:
        return None
    task = dag.task(ti.task_id)
    states = {t.task_id: (str(t.state) if t.state else None) for t in store.list_task_instances(dag.dag_id, run.run_id)}
    upstream = [(u, states.get(u)) for u in sorted(task.upstream)]
    rule = task.trigger_rule
    rule_met = decide(TriggerRule(rule), Counts.of(s for _, s in upstream)) is Decision.RUN
    _, used = store.running_counts()
    pool = PoolUse(ti.pool, store.pool_slots().get(ti.pool), used.get(ti.pool, 0), ti.pool_slots)
    reasons = []
    if dag.dag_id in store.paused_dag_ids():
        reasons.append(f"The DAG {dag.dag_id} is off (paused): switch it on to run its tasks.")
    if str(run.state) != RunState.RUNNING.value:
        reasons.append(f"The run is {run.state}, not running.")
    if not rule_met:
        waiting_for = [u for u, s in upstream if s != TaskState.SUCCESS.value]
        reasons.append(f"Trigger rule {rule} is not met yet: waiting for {', '.join(waiting_for) or 'upstream'}.")
    if pool.slots is None:
        reasons.append(f"Pool {pool.name} does not exist: create it (Pools page or `dockyard pools set`).")
    elif pool.full:
        reasons.append(
            f"Pool {pool.name} is full: {pool.used} of {pool.slots} slot(s) taken, the task needs {pool.needs}."
        )
    if ti.waiting_reason:  # the engine pool has no room for what the task asks (the scheduler's words)
        reasons.append(ti.waiting_reason[0].upper() + ti.waiting_reason[1:] + ".")
    if state == TaskState.UP_FOR_RETRY.value and ti.next_retry_at and ti.next_retry_at > dt.datetime.now(dt.UTC):
        reasons.append(f"The next try waits for its retry delay, until {ti.next_retry_at.isoformat()}.")
    if state == TaskState.UP_FOR_RESCHEDULE.value:
        reasons.append(_next_poke(store, ti))
    return Waiting(upstream=upstream, rule=rule, rule_met=rule_met, pool=pool, reasons=reasons)


def _next_poke(store: Store, ti: TaskInstanceModel) -> str:
    """A sensor in reschedule mode between pokes: how many found nothing, and when the next one is due."""
    from dockyard.store.sensors import list_reschedules

    pokes = list_reschedules(store, ti.dag_id, ti.run_id, ti.task_id, map_index=ti.map_index, try_number=ti.try_number)
    if not pokes:
        return "The sensor waits for its next poke."
    return (
        f"The sensor's condition was not met at {len(pokes)} poke(s); "
        f"the next poke is due at {pokes[-1].reschedule_date.isoformat()}."
    )

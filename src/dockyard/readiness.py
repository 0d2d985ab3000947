"""Which task instances of a run may start: trigger rules, upstream propagation and the run's end state.

Pure logic over task states (no store, no engine), so every rule is tested fast and exactly.

Example::

    decide(TriggerRule.ALL_SUCCESS, Counts.of(["success", "failed"]))   # Decision.UPSTREAM_FAILED
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.operators.base import TriggerRule
from dockyard.states import FINISHED_STATES, RunState, TaskState

if TYPE_CHECKING:
    from dockyard.serialized import SerializedDag, SerializedTask


class Decision(str, enum.Enum):
    WAIT = "wait"
    RUN = "run"
    UPSTREAM_FAILED = "upstream_failed"
    SKIP = "skipped"


@dataclass(frozen=True)
class Counts:
    """How many upstream task instances are in each state (and, of the upstream setup tasks, how many
    there are, succeeded and were skipped: ``all_done_setup_success`` asks)."""

    total: int = 0
    success: int = 0
    failed: int = 0
    upstream_failed: int = 0
    skipped: int = 0
    done: int = 0
    setups: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    @classmethod
    def of(cls, states: Iterable[str | None], setup_states: Iterable[str | None] = ()) -> Counts:
        items = list(states)
        setups = list(setup_states)
        return cls(
            total=len(items),
            success=items.count(TaskState.SUCCESS),
            failed=items.count(TaskState.FAILED),
            upstream_failed=items.count(TaskState.UPSTREAM_FAILED),
            skipped=items.count(TaskState.SKIPPED),
            done=sum(1 for s in items if s in FINISHED_STATES),
            setups=len(setups),
            setup_success=setups.count(TaskState.SUCCESS),
            setup_skipped=setups.count(TaskState.SKIPPED),
        )

    @property
    def all_done(self) -> bool:
        return self.done == self.total

    @property
    def any_failed(self) -> bool:
        return self.failed + self.upstream_failed > 0


def decide(rule: TriggerRule, up: Counts) -> Decision:
    """What a task whose upstream tasks are in ``up`` should do now (Airflow 2's trigger rules: a rule
    that can no longer be met marks the task skipped or upstream_failed at once, as Airflow does)."""
    if up.total == 0 or rule in (TriggerRule.ALWAYS, TriggerRule.DUMMY):
        return Decision.RUN
    if rule is TriggerRule.ALL_SUCCESS:
        if up.any_failed:
            return Decision.UPSTREAM_FAILED
        if up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.success == up.total else Decision.WAIT
    if rule is TriggerRule.ALL_FAILED:
        if up.success or up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is TriggerRule.ALL_DONE:
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is TriggerRule.ALL_DONE_SETUP_SUCCESS:
        if not up.all_done:
            return Decision.WAIT
        if up.setups and up.setup_skipped >= up.setups:
            return Decision.SKIP
        if up.setups and not up.setup_success:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN
    if rule is TriggerRule.ONE_SUCCESS:
        if up.success:
            return Decision.RUN
        if not up.all_done:
            return Decision.WAIT
        return Decision.SKIP if up.skipped == up.done else Decision.UPSTREAM_FAILED
    if rule is TriggerRule.ONE_FAILED:
        if up.any_failed:
            return Decision.RUN
        return Decision.SKIP if up.all_done else Decision.WAIT
    if rule is TriggerRule.ONE_DONE:
        if up.success or up.failed:
            return Decision.RUN
        return Decision.SKIP if up.all_done else Decision.WAIT
    if rule is TriggerRule.NONE_FAILED:
        if up.any_failed:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule in (TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, TriggerRule.NONE_FAILED_OR_SKIPPED):
        if up.any_failed:
            return Decision.UPSTREAM_FAILED
        if up.skipped == up.total:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is TriggerRule.NONE_SKIPPED:
        if up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is TriggerRule.ALL_SKIPPED:
        if up.success or up.any_failed:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    raise ValueError(f"unknown trigger rule {rule!r}")


def evaluate(
    dag: SerializedDag,
    task: SerializedTask,
    states: Mapping[str, str | None],
    each: Mapping[str, Sequence[str | None]] | None = None,
) -> Decision:
    """What ``task`` should do now in a run whose task states are ``states``: first, as in Airflow, the
    setup tasks it runs inside of (upstream, but not directly) must have succeeded (one failed: upstream
    failed; one skipped: skipped); then its own trigger rule over its direct upstream tasks, where a mapped
    upstream task counts once per instance (``each``: task id -> its instances' states)."""
    each = each or {}
    if dag.has_setups and not task.is_teardown:
        indirect = [s for s in setup_scopes(dag).get(task.task_id, ()) if s not in task.upstream]
        setup_states = Counts.of(states.get(s) for s in indirect)
        if setup_states.any_failed:
            return Decision.UPSTREAM_FAILED
        if setup_states.skipped:
            return Decision.SKIP
        if setup_states.success < setup_states.total:
            return Decision.WAIT
    setups = [u for u in task.upstream if dag.task_dict[u].is_setup] if dag.has_setups else []
    counts = Counts.of(
        (s for u in task.upstream for s in each.get(u, [states.get(u)])), (states.get(s) for s in setups)
    )
    return decide(TriggerRule(task.trigger_rule), counts)


_scopes: dict[int, tuple[SerializedDag, dict[str, tuple[str, ...]]]] = {}


def setup_scopes(dag: SerializedDag) -> dict[str, tuple[str, ...]]:
    """Task id -> the setup tasks upstream of it whose teardown it is not past (its "scope"), computed
    once per stored DAG."""
    cached = _scopes.get(id(dag))
    if cached is not None and cached[0] is dag:
        return cached[1]
    result: dict[str, tuple[str, ...]] = {}
    if dag.has_setups:
        for task in dag.tasks:  # dependency order: upstream tasks come first
            inherited: dict[str, None] = {}
            for up_id in task.upstream:
                up = dag.task_dict[up_id]
                for setup in result.get(up_id, ()):
                    if not up.is_teardown or setup not in up.upstream:  # past its teardown: out of scope
                        inherited[setup] = None
                if up.is_setup:
                    inherited[up_id] = None
            result[task.task_id] = tuple(inherited)
    if len(_scopes) > 256:
        _scopes.clear()
    _scopes[id(dag)] = (dag, result)
    return result


def effective_leaves(tasks: Iterable[SerializedTask]) -> list[str]:
    """The tasks whose states make the run's state, as in Airflow: leaves, where teardowns (and the edges
    into them) do not count unless the teardown has ``on_failure_fail_dagrun``; a DAG of teardowns only
    has its plain leaves."""
    items = list(tasks)
    by_id = {t.task_id: t for t in items}

    def counts(task: SerializedTask) -> bool:
        return not task.is_teardown or task.on_failure_fail_dagrun

    leaves = [t.task_id for t in items if counts(t) and not any(counts(by_id[d]) for d in t.downstream if d in by_id)]
    return leaves or [t.task_id for t in items if not t.downstream]


def run_outcome(states: Mapping[str, str | None], leaves: Iterable[str]) -> RunState | None:
    """SUCCESS or FAILED once every task is finished, else None. A run fails when a leaf task failed or
    could not run because of a failure upstream; skipped leaves count as success."""
    if any(state not in FINISHED_STATES for state in states.values()):
        return None
    if any(states.get(leaf) in (TaskState.FAILED, TaskState.UPSTREAM_FAILED) for leaf in leaves):
        return RunState.FAILED
    return RunState.SUCCESS


def effective_weights(
    upstream: Mapping[str, set[str]], weights: Mapping[str, int], rule: str = "downstream"
) -> dict[str, int]:
    """Priority of each task: Airflow's ``weight_rule`` (``downstream``: own weight plus every task after it;
    ``upstream``: plus every task before it; ``absolute``: its own)."""
    if rule == "absolute":
        return dict(weights)
    edges: dict[str, set[str]] = {t: set() for t in weights}
    for task, ups in upstream.items():
        for up in ups:
            if rule == "downstream":
                edges.setdefault(up, set()).add(task)
            else:
                edges.setdefault(task, set()).add(up)
    result: dict[str, int] = {}
    for task in weights:
        seen: set[str] = set()
        stack = [task]
        while stack:
            node = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        result[task] = weights[task] + sum(weights.get(n, 0) for n in seen)
    return result

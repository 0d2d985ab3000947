"""Which task instances of a run may start: trigger rules, upstream propagation and the run's end state.

Pure logic over task states (no store, no engine), so every rule is tested fast and exactly.

Example::

    decide(TriggerRule.ALL_SUCCESS, Counts.of(["success", "failed"]))   # Decision.UPSTREAM_FAILED
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dockyard.operators.base import TriggerRule
from dockyard.states import FINISHED_STATES, RunState, TaskState


class Decision(str, enum.Enum):
    WAIT = "wait"
    RUN = "run"
    UPSTREAM_FAILED = "upstream_failed"
    SKIP = "skipped"


@dataclass(frozen=True)
class Counts:
    """How many upstream task instances are in each state."""

    total: int = 0
    success: int = 0
    failed: int = 0
    upstream_failed: int = 0
    skipped: int = 0
    done: int = 0

    @classmethod
    def of(cls, states: Iterable[str | None]) -> Counts:
        items = list(states)
        return cls(
            total=len(items),
            success=items.count(TaskState.SUCCESS),
            failed=items.count(TaskState.FAILED),
            upstream_failed=items.count(TaskState.UPSTREAM_FAILED),
            skipped=items.count(TaskState.SKIPPED),
            done=sum(1 for s in items if s in FINISHED_STATES),
        )

    @property
    def all_done(self) -> bool:
        return self.done == self.total

    @property
    def any_failed(self) -> bool:
        return self.failed + self.upstream_failed > 0


def decide(rule: TriggerRule, up: Counts) -> Decision:
    """What a task whose upstream tasks are in ``up`` should do now (Airflow's trigger rule semantics)."""
    if up.total == 0 or rule is TriggerRule.ALWAYS:
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
    if rule is TriggerRule.ONE_SUCCESS:
        if up.success:
            return Decision.RUN
        if not up.all_done:
            return Decision.WAIT
        return Decision.UPSTREAM_FAILED if up.any_failed else Decision.SKIP
    if rule is TriggerRule.ONE_FAILED:
        if up.any_failed:
            return Decision.RUN
        return Decision.SKIP if up.all_done else Decision.WAIT
    if rule is TriggerRule.NONE_FAILED:
        if up.any_failed:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if up.any_failed:
            return Decision.UPSTREAM_FAILED
        if not up.all_done:
            return Decision.WAIT
        return Decision.RUN if up.success else Decision.SKIP
    if rule is TriggerRule.NONE_SKIPPED:
        if up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    raise ValueError(f"unknown trigger rule {rule!r}")


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

"""Trigger rules decide as Airflow's do."""

from __future__ import annotations

import pytest

from dockyard.operators.base import TriggerRule as R
from dockyard.readiness import Counts, Decision, decide, effective_weights, run_outcome

RUN, WAIT, UF, SKIP = Decision.RUN, Decision.WAIT, Decision.UPSTREAM_FAILED, Decision.SKIP


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        (R.ALL_SUCCESS, ["success", "success"], RUN),
        (R.ALL_SUCCESS, ["success", None], WAIT),
        (R.ALL_SUCCESS, ["success", "failed"], UF),
        (R.ALL_SUCCESS, ["running", "upstream_failed"], UF),
        (R.ALL_SUCCESS, ["success", "skipped"], SKIP),
        (R.ALL_FAILED, ["failed", "upstream_failed"], RUN),
        (R.ALL_FAILED, ["failed", "success"], SKIP),
        (R.ALL_FAILED, ["failed", "running"], WAIT),
        (R.ALL_DONE, ["failed", "success", "skipped"], RUN),
        (R.ALL_DONE, ["failed", "running"], WAIT),
        (R.ONE_SUCCESS, ["success", "running"], RUN),
        (R.ONE_SUCCESS, ["failed", "running"], WAIT),
        (R.ONE_SUCCESS, ["failed", "skipped"], UF),
        (R.ONE_SUCCESS, ["skipped", "skipped"], SKIP),
        (R.ONE_FAILED, ["failed", "running"], RUN),
        (R.ONE_FAILED, ["success", "success"], SKIP),
        (R.ONE_FAILED, ["success", None], WAIT),
        (R.NONE_FAILED, ["success", "skipped"], RUN),
        (R.NONE_FAILED, ["success", "failed"], UF),
        (R.NONE_FAILED, ["success", None], WAIT),
        (R.NONE_FAILED_MIN_ONE_SUCCESS, ["success", "skipped"], RUN),
        (R.NONE_FAILED_MIN_ONE_SUCCESS, ["skipped", "skipped"], SKIP),
        (R.NONE_FAILED_MIN_ONE_SUCCESS, ["skipped", "upstream_failed"], UF),
        (R.NONE_SKIPPED, ["success", "failed"], RUN),
        (R.NONE_SKIPPED, ["success", "skipped"], SKIP),
        (R.NONE_SKIPPED, ["success", "running"], WAIT),
        (R.ALWAYS, ["running", None], RUN),
        (R.DUMMY, ["failed", None], RUN),
        (R.ONE_DONE, ["failed", None], RUN),
        (R.ONE_DONE, ["success", "running"], RUN),
        (R.ONE_DONE, ["skipped", "upstream_failed"], SKIP),
        (R.ONE_DONE, ["skipped", None], WAIT),
        (R.ALL_SKIPPED, ["skipped", "skipped"], RUN),
        (R.ALL_SKIPPED, ["skipped", "running"], WAIT),
        (R.ALL_SKIPPED, ["skipped", "success"], SKIP),
        (R.ALL_SKIPPED, ["upstream_failed", None], SKIP),
        (R.NONE_FAILED_OR_SKIPPED, ["success", "skipped"], RUN),
        (R.NONE_FAILED_OR_SKIPPED, ["skipped", "skipped"], SKIP),
        (R.ONE_SUCCESS, ["skipped", "upstream_failed"], UF),
        (R.ALL_DONE_SETUP_SUCCESS, ["failed", "success"], RUN),
        (R.ALL_DONE_SETUP_SUCCESS, ["failed", None], WAIT),
    ],
)
def test_trigger_rules(rule: R, states: list[str | None], expected: Decision) -> None:
    assert decide(rule, Counts.of(states)) is expected


def test_a_task_without_upstream_runs() -> None:
    for rule in R:
        assert decide(rule, Counts.of([])) is RUN


def test_run_outcome_looks_at_the_leaves() -> None:
    assert run_outcome({"a": "success", "b": "running"}, ["b"]) is None
    assert run_outcome({"a": "failed", "cleanup": "success"}, ["cleanup"]) == "success"
    assert run_outcome({"a": "success", "b": "upstream_failed"}, ["b"]) == "failed"
    assert run_outcome({"a": "success", "b": "skipped"}, ["b"]) == "success"


def test_effective_priority_weights() -> None:
    upstream = {"a": set(), "b": {"a"}, "c": {"b"}}
    weights = {"a": 1, "b": 1, "c": 5}
    assert effective_weights(upstream, weights, "downstream") == {"a": 7, "b": 6, "c": 5}
    assert effective_weights(upstream, weights, "upstream") == {"a": 1, "b": 2, "c": 7}
    assert effective_weights(upstream, weights, "absolute") == weights


@pytest.mark.parametrize(
    ("work", "setup", "expected"),
    [
        ("failed", "success", RUN),  # the teardown runs after a failure when its setup succeeded
        ("upstream_failed", "failed", UF),  # no setup succeeded: nothing to tear down
        ("skipped", "skipped", SKIP),  # the setup was skipped: the teardown is skipped too
        ("success", "success", RUN),
    ],
)
def test_all_done_setup_success_looks_at_the_setups(work: str, setup: str, expected: Decision) -> None:
    assert decide(R.ALL_DONE_SETUP_SUCCESS, Counts.of([work, setup], [setup])) is expected

"""The engine's ``JobLost`` event, which ``cairn run --resume`` sends for every
attempt that was running when the previous process died."""

from __future__ import annotations

from cairn.engine import JobLost
from cairn.engine.testing import EngineHarness, make_run

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.11", "3.12"]
    steps: [{run: make}]
  report:
    needs: build
    if: always()
    runs-on: ubuntu-latest
    steps: [{run: report}]
"""


def lost(h: EngineHarness, instance_id: str) -> JobLost:
    spec = h.spec(instance_id)
    return JobLost(instance_id=instance_id, attempt=spec.attempt, token=spec.callback_token)


def test_a_lost_attempt_starts_again_as_a_new_attempt() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.start("build.0")
    first = h.spec("build.0")
    h.crash()
    h.decide(lost(h, "build.0"))
    assert h.job("build.0").attempt == 2
    assert h.phase("build.0") == "queued"
    second = h.started[-1]
    assert (second.instance_id, second.attempt) == ("build.0", 2)
    assert second.callback_token != first.callback_token
    # the sibling is untouched: losing a sandbox is not a failure (no fail-fast)
    assert h.phase("build.1") == "queued"
    assert h.job("build.1").attempt == 1
    # dependents keep waiting for the new attempt
    assert h.phase("report") == "waiting:needs"


def test_a_late_report_of_the_lost_attempt_is_stale() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    first = h.spec("build.0")
    h.decide(lost(h, "build.0"))
    h.decide(h.result_event(first, "failure"))
    assert h.phase("build.0") == "queued"
    assert h.state.absorbed.recent[-1] == "completed:stale_attempt:build.0@1"


def test_the_same_loss_reported_twice_starts_one_new_attempt() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    event = lost(h, "build.0")
    h.decide(event)
    h.decide(event)
    assert h.job("build.0").attempt == 2
    assert [s.attempt for s in h.started if s.instance_id == "build.0"] == [1, 2]


def test_a_lost_attempt_that_was_being_cancelled_ends_cancelled() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.fail("build.1")  # fail-fast cancels build.0, whose sandbox is told to stop
    assert h.job("build.0").cancel == "fail_fast"
    h.decide(lost(h, "build.0"))
    assert h.phase("build.0") == "cancelled"
    assert h.job("build.0").reason == "fail_fast"


def test_a_finished_attempt_cannot_be_lost() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    event = lost(h, "build.0")
    h.complete("build.0")
    h.decide(event)
    assert h.phase("build.0") == "success"
    assert h.state.absorbed.recent[-1] == "lost:already_concluded:build.0@1"


def test_a_run_with_a_lost_attempt_ends_like_one_without() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.decide(lost(h, "build.1"))
    state = h.run_to_end()
    assert state.conclusion == "success"
    assert h.job("build.1").attempt == 2
    assert h.phase("report") == "success"

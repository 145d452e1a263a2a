"""Deadlines: every wait and every run ends, and the engine sleeps until the
earliest one instead of polling."""

from __future__ import annotations

from datetime import timedelta

from cairn.engine import CancelJob, RunLimits, ScheduleWake
from cairn.engine.testing import EPOCH, EngineHarness, make_run

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 2.5
    steps:
      - run: make
  test:
    needs: build
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: make test
"""


def wakes(h: EngineHarness) -> list[object]:
    return [a.at for a in h.actions if isinstance(a, ScheduleWake)]


def test_a_job_past_its_timeout_fails_as_timed_out_and_its_sandbox_is_stopped() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.start("build")
    assert h.job("build").deadline == EPOCH + timedelta(minutes=2.5)
    h.advance(minutes=2, seconds=29)
    assert h.phase("build") == "running"
    h.advance(seconds=1)
    assert h.job("build").conclusion == "failure"
    assert h.job("build").reason == "timed_out"
    assert h.cancelled == [("build", 1, "timed_out")]
    # the workflow moves on
    assert h.dispatched() == ["build", "test"]


def test_a_completion_after_the_timeout_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.start("build")
    h.advance(minutes=3)
    decision = h.complete("build")
    assert decision.actions == ()
    assert h.job("build").reason == "timed_out"
    assert h.state.absorbed.count == 1
    assert h.state.absorbed.recent == ("completed:already_concluded:build@1",)


def test_the_timeout_counts_from_the_start_not_the_dispatch() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.advance(minutes=10)
    h.start("build")
    assert h.job("build").deadline == EPOCH + timedelta(minutes=12.5)


def test_a_job_that_never_starts_fails_at_the_queue_timeout() -> None:
    h = EngineHarness(make_run(WORKFLOW, limits=RunLimits(queue_timeout_minutes=60)))
    assert h.job("build").deadline == EPOCH + timedelta(minutes=60)
    h.advance(minutes=60)
    assert h.job("build").reason == "queue_timeout"
    assert h.job("build").conclusion == "failure"


def test_the_engine_schedules_one_wake_at_the_earliest_deadline() -> None:
    h = EngineHarness(make_run(WORKFLOW, limits=RunLimits(queue_timeout_minutes=60)))
    assert wakes(h) == [EPOCH + timedelta(minutes=60)]
    h.advance(minutes=1)
    h.start("build")
    assert wakes(h)[-1] == EPOCH + timedelta(minutes=3.5)
    h.complete("build")
    # test is queued now: its queue deadline is the earliest
    assert wakes(h)[-1] == h.now + timedelta(minutes=60)
    h.complete("test")
    assert wakes(h)[-1] is None
    assert h.state.wake is None


def test_no_wake_is_announced_when_the_earliest_deadline_did_not_change() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    before = len(wakes(h))
    decision = h.decide()
    assert decision.actions == ()
    assert len(wakes(h)) == before


def test_timeout_minutes_may_be_an_expression_over_the_matrix() -> None:
    workflow = """
on: push
jobs:
  soak:
    runs-on: ubuntu-latest
    timeout-minutes: ${{ matrix.minutes }}
    strategy:
      matrix:
        minutes: [1, 0.5]
    steps:
      - run: soak
"""
    h = EngineHarness(make_run(workflow))
    h.start("soak.0")
    h.start("soak.1")
    h.advance(seconds=30)
    assert h.phases() == {"soak.0": "running", "soak.1": "failure"}


def test_the_timeout_is_the_one_evaluated_at_dispatch_even_if_a_need_is_retried() -> None:
    workflow = """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      minutes: ${{ steps.p.outputs.minutes }}
    steps: [{id: p, run: plan}]
  soak:
    needs: plan
    runs-on: ubuntu-latest
    timeout-minutes: ${{ fromJSON(needs.plan.outputs.minutes) }}
    steps: [{run: soak}]
"""
    h = EngineHarness(make_run(workflow))
    h.complete("plan", outputs={"minutes": "7"})
    assert h.live["soak"].timeout_minutes == 7
    # plan runs again while soak's sandbox is on its way: soak keeps its spec
    h.retry("plan")
    h.advance(minutes=1)
    h.start("soak")
    assert h.job("soak").deadline == h.now + timedelta(minutes=7)
    h.crash()
    h.advance(minutes=7)
    assert h.job("soak").reason == "timed_out"


def test_a_timeout_that_is_not_a_positive_number_fails_the_job() -> None:
    workflow = """
on: push
jobs:
  soak:
    runs-on: ubuntu-latest
    timeout-minutes: ${{ matrix.minutes }}
    strategy:
      matrix:
        minutes: [-1]
    steps:
      - run: soak
"""
    h = EngineHarness(make_run(workflow))
    job = h.job("soak.0")
    assert job.conclusion == "failure"
    assert job.reason == "timeout-minutes: expected a positive number of minutes, got -1"


def test_a_run_past_its_maximum_duration_is_cancelled_outright() -> None:
    h = EngineHarness(
        make_run(WORKFLOW, limits=RunLimits(max_run_minutes=30, queue_timeout_minutes=60))
    )
    h.start("build")
    h.advance(minutes=30)
    # even test, whose if is always(), does not start: time is up
    assert h.phases() == {"build": "cancelled", "test": "cancelled"}
    assert h.conclusion == "cancelled"
    assert h.state.reason == "max_duration"
    assert any(isinstance(a, CancelJob) and a.instance_id == "build" for a in h.actions)


def test_a_cancelled_sandbox_that_never_reports_ends_after_the_grace_period() -> None:
    h = EngineHarness(make_run(WORKFLOW, limits=RunLimits(cancel_grace_minutes=2)))
    h.start("build")
    h.cancel("build")
    assert h.phase("build") == "running"
    assert h.job("build").cancel == "cancelled"
    h.advance(minutes=2)
    assert h.job("build").conclusion == "cancelled"
    assert h.job("build").reason == "cancelled"
    # the sandbox's report, when it finally comes, is late: recorded, no effect
    assert h.complete("build", "success").actions == ()
    assert h.job("build").conclusion == "cancelled"
    assert h.state.absorbed.recent[-1] == "completed:already_concluded:build@1"


def test_a_timed_out_continue_on_error_job_does_not_fail_the_run() -> None:
    workflow = """
on: push
jobs:
  optional:
    runs-on: ubuntu-latest
    timeout-minutes: 1
    continue-on-error: true
    steps: [{run: sleep 600}]
"""
    h = EngineHarness(make_run(workflow))
    h.start("optional")
    h.advance(minutes=1)
    assert h.job("optional").reason == "timed_out"
    assert h.conclusion == "success"

"""Cancelling a run or one job."""

from __future__ import annotations

from cairn.engine import CompleteWorkflow
from cairn.engine.testing import EngineHarness, make_run

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps: [{run: make}]
  lint:
    runs-on: ubuntu-latest
    steps: [{run: lint}]
  cleanup:
    runs-on: ubuntu-latest
    if: always()
    steps: [{run: cleanup}]
  test:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: make test}]
  report:
    needs: [build, lint]
    if: cancelled()
    runs-on: ubuntu-latest
    steps: [{run: report}]
"""


def test_cancelling_a_run_stops_its_jobs_but_always_jobs_carry_on() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.start("build")
    h.cancel()
    assert sorted((i, r) for i, _, r in h.cancelled) == [
        ("build", "cancelled"),
        ("lint", "cancelled"),
    ]
    assert h.job("cleanup").cancel is None
    h.complete("build", "cancelled")
    h.complete("lint", "cancelled")
    # report's if is cancelled(): it runs once its needs are done
    assert h.dispatched() == ["cleanup", "report"]
    assert h.job("test").conclusion == "cancelled"
    assert h.live["report"].contexts["needs"]["build"]["result"] == "cancelled"
    h.complete("cleanup")
    h.complete("report")
    assert h.conclusion == "cancelled"
    assert h.completions() == [CompleteWorkflow(conclusion="cancelled", reason="cancelled")]


def test_a_sandbox_that_finished_before_the_cancel_reached_it_keeps_its_result() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.cancel()
    h.complete("build", "success")
    assert h.job("build").conclusion == "success"
    assert h.job("test").conclusion == "cancelled"


def test_cancelling_twice_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.cancel()
    decision = h.cancel()
    assert decision.actions == ()
    assert h.state.absorbed.recent == ("cancel:nothing_to_cancel:running",)


def test_cancelling_a_finished_run_is_absorbed() -> None:
    h = EngineHarness(make_run("on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: a}]\n"))
    h.complete("a")
    assert h.cancel().actions == ()
    assert h.conclusion == "success"


def test_cancelling_one_job_lets_the_rest_run() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.cancel("build")
    assert h.cancelled == [("build", 1, "cancelled")]
    h.complete("build", "cancelled")
    assert h.job("test").conclusion == "skipped"
    assert h.job("test").reason == "needs_failed"
    h.complete("lint")
    h.complete("cleanup")
    # report (cancelled()) does not run: the run itself was not cancelled
    assert h.job("report").reason == "if_false"
    assert h.conclusion == "cancelled"


def test_cancelling_a_job_that_has_not_started_concludes_it_at_once() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.cancel("test")
    assert h.phase("test") == "cancelled"
    assert h.cancelled == []
    h.complete("build")
    assert "test" not in h.live


def test_cancelling_an_unknown_job_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    assert h.cancel("nope").actions == ()
    assert h.state.absorbed.recent == ("cancel:unknown_instance:nope",)


def test_a_job_id_cancels_every_instance_of_a_matrix() -> None:
    workflow = """
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3]
    steps: [{run: t}]
"""
    h = EngineHarness(make_run(workflow))
    h.complete("test.1")
    h.cancel("test")
    assert sorted(i for i, _, _ in h.cancelled) == ["test.0", "test.2"]


def test_an_always_job_waiting_for_a_slot_survives_a_cancellation() -> None:
    workflow = """
on: push
jobs:
  teardown:
    if: always()
    runs-on: ubuntu-latest
    strategy:
      max-parallel: 1
      matrix:
        region: [eu, us]
    steps: [{run: teardown}]
"""
    h = EngineHarness(make_run(workflow))
    assert h.phase("teardown.1") == "waiting:max-parallel"
    h.cancel()
    assert h.cancelled == []
    h.complete("teardown.0")
    h.complete("teardown.1")
    assert h.phases() == {"teardown.0": "success", "teardown.1": "success"}
    assert h.conclusion == "cancelled"


def test_a_sandbox_that_starts_after_its_cancel_keeps_the_grace_deadline() -> None:
    from datetime import timedelta

    h = EngineHarness(make_run(WORKFLOW))
    h.cancel("build")
    grace = h.job("build").deadline
    assert grace == h.now + timedelta(minutes=5)
    h.start("build")
    assert h.job("build").deadline == grace
    assert h.job("build").phase == "running"

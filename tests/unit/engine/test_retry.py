"""Retrying a finished job mid-run, and re-running a finished run."""

from __future__ import annotations

from cairn.engine import CancelRequested, RerunRequested, RetryRequested
from cairn.engine.testing import EngineHarness, make_run

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      artifact: ${{ steps.b.outputs.artifact }}
    steps:
      - id: b
        run: make
  unit:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: make unit}]
  e2e:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: make e2e}]
  summary:
    needs: [unit, e2e]
    if: always()
    runs-on: ubuntu-latest
    steps: [{run: summary}]
  deploy:
    needs: summary
    runs-on: ubuntu-latest
    steps: [{run: deploy}]
"""


def test_retrying_a_failed_job_re_evaluates_dependents_that_were_skipped() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.complete("build", outputs={"artifact": "a1"})
    h.fail("unit")
    h.start("e2e")
    assert h.dispatched() == ["e2e"]
    first_token = h.started[1].callback_token
    h.retry("unit")
    assert h.job("unit").attempt == 2
    assert h.phase("unit") == "queued"
    spec = h.live["unit"]
    assert spec.attempt == 2
    assert spec.callback_token != first_token
    h.complete("unit")
    h.complete("e2e")
    h.complete("summary")
    h.complete("deploy")
    assert h.conclusion == "success"


def test_dependents_that_started_keep_their_result() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.complete("build")
    h.fail("unit")
    h.complete("e2e")
    # summary (always()) already started with unit's failure
    assert h.dispatched() == ["summary"]
    h.retry("unit")
    h.complete("unit")
    assert h.job("summary").attempt == 1
    assert h.phase("summary") == "queued"
    h.complete("summary")
    # deploy waited for the retried unit; now every ancestor succeeded
    assert h.dispatched() == ["deploy"]


SLOW = """
  slow:
    runs-on: ubuntu-latest
    steps: [{run: sleep 600}]
"""


def test_a_retried_ancestor_holds_back_descendants_that_had_not_started() -> None:
    h = EngineHarness(make_run(WORKFLOW + SLOW))
    h.complete("build")
    h.fail("unit")
    h.complete("e2e")
    h.complete("summary")
    assert h.job("deploy").reason == "needs_failed"
    h.retry("unit")
    assert h.phase("deploy") == "waiting:needs"
    assert h.job("deploy").attempt == 1
    h.complete("unit")
    assert h.dispatched() == ["deploy", "slow"]
    h.complete("deploy")
    h.complete("slow")
    assert h.conclusion == "success"


def test_a_dependent_cancelled_before_it_started_stays_cancelled_on_retry() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.cancel("e2e")
    assert h.phase("e2e") == "cancelled"
    h.fail("build")
    assert h.job("unit").reason == "needs_failed"
    h.retry("build")
    # unit was skipped because of build's result: it waits for the new attempt;
    # e2e was cancelled by request, which the retry does not undo
    assert h.phase("unit") == "waiting:needs"
    assert h.phase("e2e") == "cancelled"
    h.complete("build")
    assert "unit" in h.dispatched()
    assert "e2e" not in h.dispatched()


def test_a_repeated_retry_request_is_a_duplicate() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.fail("build")
    event = RetryRequested(instance_id="build", attempt=1)
    first = h.decide(event)
    assert len(first.actions) >= 1
    again = h.decide(event)
    assert again.actions == ()
    assert h.job("build").attempt == 2
    assert h.state.absorbed.recent[-1] == "retry:stale_attempt:build@1"


def test_a_cancel_request_made_against_an_earlier_attempt_is_stale() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    request = CancelRequested(instance_id="build", attempt=1)
    h.decide(request)
    h.complete("build", "cancelled")
    h.retry("build")
    assert h.phase("build") == "queued"
    # the same request delivered again does not stop the new attempt
    assert h.decide(request).actions == ()
    assert h.phase("build") == "queued"
    assert h.state.absorbed.recent[-1] == "cancel:stale_attempt:build@1"


def test_a_run_cancel_made_against_an_earlier_run_attempt_is_stale() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    request = CancelRequested(attempt=1)
    h.decide(request)
    h.complete("build", "cancelled")
    h.complete("summary")  # always(): it runs in a cancelled run
    assert h.conclusion == "cancelled"
    h.rerun()
    assert h.decide(request).actions == ()
    assert h.state.phase == "running"
    assert h.state.absorbed.recent[-1] == "cancel:stale_run_attempt:1"


def test_a_job_that_is_still_running_cannot_be_retried() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    assert h.retry("build").actions == ()
    assert h.state.absorbed.recent[-1] == "retry:not_finished:build@1"


def test_a_finished_run_is_re_run_not_retried() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.fail("build")
    h.complete("summary")
    assert h.conclusion == "failure"
    assert h.retry("build").actions == ()
    assert h.state.absorbed.recent[-1] == "retry:workflow_not_running:build"


def test_re_running_failed_jobs_keeps_successes_and_reruns_dependents() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.complete("build", outputs={"artifact": "a1"})
    h.fail("unit")
    h.complete("e2e")
    h.complete("summary")
    assert h.conclusion == "failure"
    h.rerun()
    assert h.state.run_attempt == 2
    assert h.state.phase == "running"
    assert h.phase("build") == "success"
    assert h.phase("e2e") == "success"
    assert h.dispatched() == ["unit"]
    assert h.live["unit"].contexts["needs"]["build"]["outputs"] == {"artifact": "a1"}
    assert h.live["unit"].contexts["github"]["run_attempt"] == "2"
    assert h.job("summary").attempt == 2
    assert h.job("deploy").attempt == 2
    h.complete("unit")
    h.complete("summary")
    h.complete("deploy")
    assert h.conclusion == "success"
    assert [c.conclusion for c in h.completions()] == ["failure", "success"]


def test_re_running_all_jobs_gives_every_job_a_new_attempt() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.run_to_end()
    h.rerun(failed_only=False)
    assert {j.attempt for j in h.state.jobs.values()} == {2}
    assert h.dispatched() == ["build"]


def test_re_run_requests_are_checked_against_the_run_attempt() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.fail("build")
    h.complete("summary")
    h.decide(RerunRequested(run_attempt=1))
    assert h.decide(RerunRequested(run_attempt=1)).actions == ()
    assert h.state.absorbed.recent[-1] == "rerun:workflow_not_finished:1"
    h.fail("build")
    h.complete("summary")
    assert h.decide(RerunRequested(run_attempt=1)).actions == ()
    assert h.state.absorbed.recent[-1] == "rerun:stale_run_attempt:1"


def test_nothing_to_re_run_in_a_successful_run() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.run_to_end()
    assert h.rerun().actions == ()
    assert h.state.absorbed.recent[-1] == "rerun:nothing_failed:1"


def test_re_running_re_evaluates_a_dynamic_matrix_downstream() -> None:
    workflow = """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      n: ${{ steps.p.outputs.n }}
    steps:
      - id: p
        run: plan
  fan:
    needs: plan
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: ${{ fromJSON(needs.plan.outputs.n) }}
    steps: [{run: work}]
"""
    h = EngineHarness(make_run(workflow))
    h.complete("plan", outputs={"n": "[1, 2]"})
    h.complete("fan.0")
    h.fail("fan.1")
    assert h.conclusion == "failure"
    h.rerun()
    # only fan.1 failed: the matrix keeps its expansion
    assert h.dispatched() == ["fan.1"]
    h.complete("fan.1")
    h.rerun(failed_only=False)
    assert "fan" in h.state.jobs
    assert "fan" not in h.state.matrices
    h.complete("plan", outputs={"n": "[1, 2, 3]"})
    assert h.dispatched() == ["fan.0", "fan.1", "fan.2"]
    assert {h.job(i).attempt for i in h.dispatched()} == {3}


def test_retrying_the_source_of_a_dynamic_matrix_evaluates_it_again() -> None:
    workflow = """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      n: ${{ steps.p.outputs.n }}
    steps:
      - id: p
        run: plan
  fan:
    needs: plan
    runs-on: ubuntu-latest
    environment: production
    strategy:
      matrix:
        n: ${{ fromJSON(needs.plan.outputs.n) }}
    steps: [{run: work}]
  slow:
    runs-on: ubuntu-latest
    steps: [{run: sleep}]
"""
    h = EngineHarness(make_run(workflow, protected_environments=["production"]))
    h.complete("plan", outputs={"n": "[1, 2]"})
    assert h.phases()["fan.0"] == "waiting:approval"
    h.retry("plan")
    # nothing of fan had started: the expansion is dropped and made again
    assert h.phase("fan") == "waiting:needs"
    assert "fan" not in h.state.matrices
    h.complete("plan", outputs={"n": "[7, 8, 9]"})
    h.approve("fan")
    assert [h.live[i].contexts["matrix"]["n"] for i in h.dispatched() if i != "slow"] == [7, 8, 9]


def test_a_retry_during_a_cancellation_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW + SLOW))
    h.fail("build")
    h.cancel()
    assert h.retry("build").actions == ()
    assert h.state.absorbed.recent[-1] == "retry:workflow_not_running:build"

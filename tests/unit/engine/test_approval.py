"""Jobs on protected environments wait for a reviewer."""

from __future__ import annotations

from datetime import timedelta

from cairn.engine import RequestApproval, RunLimits
from cairn.engine.testing import EPOCH, EngineHarness, make_run

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps: [{run: make}]
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment:
      name: ${{ github.ref == 'refs/heads/main' && 'production' || 'staging' }}
      url: https://example.com
    steps: [{run: deploy}]
"""


def test_a_job_on_a_protected_environment_waits_for_approval() -> None:
    h = EngineHarness(make_run(WORKFLOW, protected_environments=["production"]))
    h.complete("build")
    assert h.phase("deploy") == "waiting:approval"
    assert RequestApproval(instance_id="deploy", environment="production") in h.actions
    h.approve("deploy")
    assert h.dispatched() == ["deploy"]
    assert h.live["deploy"].environment == "production"


def test_an_unprotected_environment_does_not_wait() -> None:
    h = EngineHarness(
        make_run(WORKFLOW, github={"ref": "refs/heads/dev"}, protected_environments=["production"])
    )
    h.complete("build")
    assert h.dispatched() == ["deploy"]
    assert h.live["deploy"].environment == "staging"


def test_a_rejected_job_fails() -> None:
    h = EngineHarness(make_run(WORKFLOW, protected_environments=["production"]))
    h.complete("build")
    h.reject("deploy")
    assert h.job("deploy").conclusion == "failure"
    assert h.job("deploy").reason == "approval_rejected"
    assert h.conclusion == "failure"


def test_an_approval_nobody_gives_expires() -> None:
    limits = RunLimits(approval_timeout_minutes=60)
    h = EngineHarness(make_run(WORKFLOW, protected_environments=["production"], limits=limits))
    h.complete("build")
    assert h.job("deploy").deadline == EPOCH + timedelta(minutes=60)
    h.advance(minutes=60)
    # GitHub: a job not approved within 30 days automatically fails
    assert h.job("deploy").conclusion == "failure"
    assert h.job("deploy").reason == "approval_timeout"
    assert h.conclusion == "failure"


def test_an_approval_for_a_job_that_is_not_waiting_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW, protected_environments=["production"]))
    assert h.approve("deploy").actions == ()
    assert h.state.absorbed.recent[-1] == "approved:not_waiting:deploy"
    assert h.approve("ghost").actions == ()
    assert h.state.absorbed.recent[-1] == "approved:unknown_instance:ghost"


def test_cancelling_the_run_cancels_a_job_waiting_for_approval() -> None:
    h = EngineHarness(make_run(WORKFLOW, protected_environments=["production"]))
    h.complete("build")
    h.cancel()
    assert h.job("deploy").conclusion == "cancelled"
    assert h.conclusion == "cancelled"

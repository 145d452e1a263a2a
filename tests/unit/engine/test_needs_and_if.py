"""needs gating and job-level if, as GitHub evaluates them."""

from __future__ import annotations

from cairn.engine import SkipJob, StartJob
from cairn.engine.testing import EngineHarness, make_run

CHAIN = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo "version=1.2.3" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: make test
  report:
    needs: test
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.test.result }}"
  notify:
    needs: report
    runs-on: ubuntu-latest
    steps:
      - run: echo done
"""


def test_a_job_starts_only_when_its_needs_succeeded() -> None:
    h = EngineHarness(make_run(CHAIN))
    assert h.dispatched() == ["build"]
    assert h.phase("test") == "waiting:needs"
    h.complete("build", outputs={"version": "1.2.3"})
    assert h.dispatched() == ["test"]
    assert h.live["test"].contexts["needs"] == {
        "build": {"result": "success", "outputs": {"version": "1.2.3"}}
    }


def test_needs_failed_skips_dependents_unless_their_if_uses_a_status_function() -> None:
    h = EngineHarness(make_run(CHAIN))
    h.fail("build")
    assert h.job("test").conclusion == "skipped"
    assert h.job("test").reason == "needs_failed"
    # report's if is always(): it runs and sees the skipped result
    assert h.dispatched() == ["report"]
    assert h.live["report"].contexts["needs"]["test"]["result"] == "skipped"
    h.complete("report")
    # notify needs report (success) but an ancestor failed: success() is false
    assert h.job("notify").conclusion == "skipped"
    assert h.job("notify").reason == "needs_failed"
    assert h.conclusion == "failure"


def test_skip_actions_report_jobs_that_never_ran() -> None:
    h = EngineHarness(make_run(CHAIN))
    h.fail("build")
    skips = [a for a in h.actions if isinstance(a, SkipJob)]
    assert [(s.instance_id, s.conclusion, s.reason) for s in skips] == [
        ("test", "skipped", "needs_failed")
    ]


STATUS = """
on: push
jobs:
  lint:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps: [{run: lint}]
  build:
    needs: lint
    if: ${{ !failure() && !cancelled() }}
    runs-on: ubuntu-latest
    steps: [{run: make}]
  strict:
    needs: lint
    if: success()
    runs-on: ubuntu-latest
    steps: [{run: make}]
  on-failure:
    needs: lint
    if: failure()
    runs-on: ubuntu-latest
    steps: [{run: page someone}]
  after-build:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: echo}]
"""


def test_a_skipped_ancestor_makes_success_and_failure_both_false() -> None:
    h = EngineHarness(make_run(STATUS))
    assert h.job("lint").conclusion == "skipped"
    assert h.job("lint").reason == "if_false"
    # the documented idiom for "run unless something failed" runs
    assert h.dispatched() == ["build"]
    # success() is false when a needed job was skipped; failure() is false too
    assert h.job("strict").conclusion == "skipped"
    assert h.job("strict").reason == "if_false"
    assert h.job("on-failure").conclusion == "skipped"
    h.complete("build")
    # after-build's implicit success() reads all ancestors: lint was skipped
    assert h.job("after-build").conclusion == "skipped"
    assert h.job("after-build").reason == "needs_failed"
    assert h.conclusion == "success"


def test_failure_function_runs_a_job_when_an_ancestor_failed() -> None:
    h = EngineHarness(make_run(STATUS, github={"event_name": "pull_request"}))
    assert h.dispatched() == ["lint"]
    h.fail("lint")
    assert h.dispatched() == ["on-failure"]
    assert h.job("build").reason == "if_false"
    assert h.job("strict").reason == "if_false"
    h.complete("on-failure")
    assert h.conclusion == "failure"


def test_if_reads_github_vars_and_inputs() -> None:
    workflow = """
on: workflow_dispatch
jobs:
  deploy:
    if: github.ref == 'refs/heads/main' && vars.DEPLOY == 'yes' && inputs.dry-run == false
    runs-on: ubuntu-latest
    steps: [{run: deploy}]
"""
    ok = EngineHarness(make_run(workflow, vars={"DEPLOY": "yes"}, inputs={"dry-run": False}))
    assert ok.dispatched() == ["deploy"]
    off = EngineHarness(make_run(workflow, vars={"DEPLOY": "no"}, inputs={"dry-run": False}))
    assert off.job("deploy").reason == "if_false"
    assert off.conclusion == "success"


def test_an_if_that_cannot_be_evaluated_fails_the_job() -> None:
    workflow = """
on: push
jobs:
  odd:
    if: fromJSON('not json')
    runs-on: ubuntu-latest
    steps: [{run: x}]
"""
    h = EngineHarness(make_run(workflow))
    job = h.job("odd")
    assert job.conclusion == "failure"
    assert job.reason is not None and job.reason.startswith("if: ")
    assert h.conclusion == "failure"


def test_continue_on_error_job_fails_without_failing_the_workflow() -> None:
    workflow = """
on: push
jobs:
  flaky:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps: [{run: flaky}]
  next:
    needs: flaky
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.flaky.result }}"
"""
    h = EngineHarness(make_run(workflow))
    h.fail("flaky")
    assert h.job("flaky").conclusion == "failure"
    # GitHub reports a continue-on-error failure as success to dependents
    assert h.live["next"].contexts["needs"]["flaky"]["result"] == "success"
    h.complete("next")
    assert h.conclusion == "success"


def test_start_job_carries_the_evaluated_job() -> None:
    workflow = """
name: CI
on: push
env:
  LEVEL: top
jobs:
  build:
    runs-on: ${{ matrix.os }}
    timeout-minutes: ${{ matrix.os == 'windows-latest' && 90 || 30 }}
    strategy:
      matrix:
        os: [ubuntu-latest, windows-latest]
    steps: [{run: make}]
"""
    h = EngineHarness(make_run(workflow))
    starts = [a.spec for a in h.actions if isinstance(a, StartJob)]
    assert [s.instance_id for s in starts] == ["build.0", "build.1"]
    ubuntu, windows = starts
    assert ubuntu.runs_on == ("ubuntu-latest",)
    assert windows.runs_on == ("windows-latest",)
    assert (ubuntu.timeout_minutes, windows.timeout_minutes) == (30, 90)
    assert ubuntu.name == "build (ubuntu-latest)"
    assert ubuntu.workflow_name == "CI"
    assert ubuntu.workflow_env == {"LEVEL": "top"}
    assert ubuntu.contexts["matrix"] == {"os": "ubuntu-latest"}
    assert ubuntu.contexts["strategy"] == {
        "fail-fast": True,
        "job-index": 0,
        "job-total": 2,
        "max-parallel": 2,
    }
    assert ubuntu.contexts["github"]["job"] == "build"
    assert ubuntu.contexts["github"]["run_attempt"] == "1"
    assert "secrets" not in ubuntu.contexts
    assert ubuntu.attempt == 1
    assert ubuntu.callback_token != windows.callback_token
    assert ubuntu.deadline == h.now + __import__("datetime").timedelta(minutes=30)


def test_reusable_workflow_calls_fail_clearly() -> None:
    workflow = """
on: push
jobs:
  call:
    uses: octo/repo/.github/workflows/build.yml@main
"""
    h = EngineHarness(make_run(workflow))
    assert h.job("call").conclusion == "failure"
    assert "reusable workflow is not supported" in (h.job("call").reason or "")

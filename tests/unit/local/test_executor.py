"""The local adapter's own duties, driven directly: approvals it cannot give,
wakes that fire early, and what people see in the live view."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cairn.engine.decide import initial_state
from cairn.engine.events import DeadlinePassed
from cairn.engine.jobspec import JobSpec
from cairn.engine.state import JobState, WorkflowState
from cairn.engine.testing import make_run
from cairn.local.executor import APPROVALS_UNSUPPORTED, LocalExecutor
from cairn.local.live import LiveReporter
from cairn.local.report import Labels, PlainReporter
from cairn.local.sandbox import Sandbox
from cairn.local.store import RunStore
from cairn.local.summary import display_name
from cairn.runner.clock import SystemClock
from cairn.runner.logsink import LogRecord
from tests.unit.local.conftest import FAST

PROTECTED = """
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo deploying
  notify:
    needs: deploy
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "deploy ${{ needs.deploy.result }}"
"""


def executor_for(tmp_path: Path, workflow: str, **run_options: object) -> LocalExecutor:
    run = make_run(workflow, **run_options)  # type: ignore[arg-type]
    run_dir = RunStore(tmp_path / "state").create_run(datetime.now(UTC))
    clock = SystemClock()
    names = Labels(
        {"ci.yml": run.plan.workflow.name},
        lambda key, instance: display_name(run, states["ci.yml"], instance),
    )
    states = {"ci.yml": initial_state(run, clock.now())}
    return LocalExecutor(
        run_dir=run_dir,
        runs={"ci.yml": run},
        states=states,
        sandbox=Sandbox(
            run_dir=run_dir,
            repo_name="hello-world",
            checkout=None,
            secrets={},
            settings=FAST,
            clock=clock,
        ),
        reporter=PlainReporter(io.StringIO(), names),
        clock=clock,
        max_parallel=2,
    )


def test_a_protected_environment_is_rejected_with_the_reason(tmp_path: Path) -> None:
    executor = executor_for(tmp_path, PROTECTED, protected_environments=["production"])
    states = asyncio.run(executor.execute())
    state = states["ci.yml"]
    assert state.conclusion == "failure"
    assert state.jobs["deploy"].reason == APPROVALS_UNSUPPORTED
    assert state.jobs["notify"].conclusion == "success"
    assert executor.run_dir.read_states() is not None


class LaggingClock:
    """A wall clock that reads a little early, as one that is being slewed back."""

    def __init__(self) -> None:
        self.lag = timedelta(seconds=0.2)

    def now(self) -> datetime:
        return datetime.now(UTC) - self.lag


def test_a_wake_that_fires_early_is_armed_again(tmp_path: Path) -> None:
    executor = executor_for(tmp_path, PROTECTED)

    async def scenario() -> list[object]:
        at = datetime.now(UTC) + timedelta(seconds=0.05)
        executor._arm("ci.yml", at)
        # the timer runs on the loop's clock; the wall clock now lags behind it
        clock = LaggingClock()
        executor.clock = clock
        await asyncio.wait_for(executor._wakeup.wait(), timeout=5)
        # it fired only once the (lagging) wall clock reached the wake
        assert clock.now() >= at
        return [event for _, event in executor._inbox]

    events = asyncio.run(scenario())
    assert events == [DeadlinePassed()]


def spec_of(name: str, instance_id: str, attempt: int = 1) -> JobSpec:
    run = make_run(PROTECTED)
    return JobSpec(
        workflow_file="ci.yml",
        workflow_name="CI",
        instance_id=instance_id,
        name=name,
        attempt=attempt,
        callback_token="t" * 22,
        deadline=datetime.now(UTC),
        job=run.plan.workflow.jobs["deploy"],
    )


def test_the_live_view_shows_every_job_and_its_last_line() -> None:
    run = make_run(PROTECTED)
    state: WorkflowState = initial_state(run, datetime.now(UTC))
    out = io.StringIO()
    labels = Labels({"ci.yml": "CI"}, lambda key, i: display_name(run, state, i))
    live = LiveReporter(out, labels, {"ci.yml": run}, {"ci.yml": state})
    live.start()
    spec = spec_of("deploy", "deploy")
    sink = live.job_sink("ci.yml", spec)
    live.job_started("ci.yml", spec)
    sink.write(LogRecord(time=datetime.now(UTC), kind="output", text="uploading 3 files"))
    row = live.rows[("ci.yml", "deploy")]
    assert (row.status, row.last) == ("running", "uploading 3 files")
    finished = JobState(phase="completed", conclusion="failure", reason="step_failed")
    live.job_finished("ci.yml", "deploy", finished)
    live.job_skipped("ci.yml", "notify", "skipped", "needs_failed")
    live.stop()
    text = out.getvalue()
    assert "deploy" in text and "failure" in text and "a step failed" in text
    assert "notify" in text and "a job it needs did not succeed" in text


def test_plain_lines_carry_the_job_name_and_the_workflow_when_there_are_several() -> None:
    out = io.StringIO()
    labels = Labels({"a.yml": "Build", "b.yml": "Deploy"}, lambda key, i: i)
    reporter = PlainReporter(out, labels)
    spec = spec_of("build (ubuntu, 3.11)", "build.0", attempt=2)
    sink = reporter.job_sink("a.yml", spec)
    reporter.job_started("a.yml", spec)
    sink.write(LogRecord(time=datetime.now(UTC), kind="output", text="compiling"))
    assert out.getvalue().splitlines() == [
        "[Build / build (ubuntu, 3.11)] Job started (attempt 2)",
        "[Build / build (ubuntu, 3.11)] compiling",
    ]

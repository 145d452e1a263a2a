"""The checkpoint document, the run spec, and bad input to the engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from cairn.engine import (
    CancelRequested,
    CheckpointError,
    InvalidEventError,
    InvalidRunError,
    InvalidTimeError,
    RunLimits,
    WorkflowRun,
    WorkflowState,
    callback_token,
    decide,
    initial_state,
    parse_event,
    token_matches,
)
from cairn.engine.jobspec import StepResult
from cairn.engine.state import TEXT_KEPT
from cairn.engine.testing import EPOCH, TEST_SEED, EngineHarness, make_run
from cairn.workflow.model import JobInstance, Plan

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [ubuntu-latest, macos-latest]
    steps: [{run: make}]
  test:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: make test}]
"""


def test_the_checkpoint_round_trips_through_json_mid_run() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.start("build.0")
    h.fail("build.1", outputs={"k": "v"})
    text = h.state.to_json()
    reloaded = WorkflowState.from_json(text)
    assert reloaded == h.state
    assert reloaded.to_json() == text
    assert WorkflowState.from_dict(h.state.to_dict()) == h.state


def test_a_reloaded_checkpoint_decides_exactly_like_the_live_one() -> None:
    live = EngineHarness(make_run(WORKFLOW))
    crashed = EngineHarness(make_run(WORKFLOW))
    crashed.crash()
    for h in (live, crashed):
        h.complete("build.0")
        h.crash() if h is crashed else None
        h.complete("build.1")
    assert live.state == crashed.state
    assert [s.instance_id for s in live.started] == [s.instance_id for s in crashed.started]


def test_the_checkpoint_leaves_out_defaults_and_uses_short_keys() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    data = json.loads(h.state.to_json())
    assert data["j"]["test"] == {"p": "waiting", "w": "needs"}
    assert set(data["j"]["build.0"]) == {"p", "t", "d", "q"}
    steps = [
        StepResult(name="Run make", outcome="success", conclusion="success"),
        StepResult(name="Lint", id="lint", outcome="failure", conclusion="success"),
    ]
    h.complete("build.0", steps=steps)
    assert json.loads(h.state.to_json())["j"]["build.0"]["st"] == [
        {"n": "Run make"},
        {"n": "Lint", "i": "lint", "o": "failure"},
    ]


def test_counts_follow_every_transition() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    assert h.state.counts == {"queued": 2, "waiting": 1}
    h.complete("build.0")
    h.fail("build.1")
    assert h.state.counts == {"completed": 3, "success": 1, "failure": 1, "skipped": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "checkpoint is not JSON"),
        ("[]", "a checkpoint is a JSON object, not list"),
        ('{"v": 99}', "checkpoint version 99 is not supported"),
        ('{"ct": "yesterday"}', "malformed checkpoint: ct: "),
    ],
)
def test_a_bad_checkpoint_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        WorkflowState.from_json(text)


def test_a_checkpoint_of_another_plan_is_refused() -> None:
    other = make_run("on: push\njobs:\n  lint:\n    runs-on: x\n    steps: [{run: l}]\n")
    state = initial_state(other, EPOCH)
    reloaded = WorkflowState.from_json(state.to_json())
    with pytest.raises(CheckpointError, match="does not belong to this run's plan"):
        decide(make_run(WORKFLOW), reloaded, [], EPOCH)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["j"]["build.0"].pop("t"), "'build.0': queued without a token"),
        (lambda d: d["j"]["build.0"].pop("d"), "'build.0': queued without a deadline"),
        (lambda d: d["j"]["build.0"].update(c="success"), "'build.0': phase 'queued' with conc"),
        (lambda d: d["j"]["test"].pop("w"), "'test': phase 'waiting' waiting on None"),
        (lambda d: d["j"]["test"].update(w="concurrency"), "'test': waiting on concurrency with"),
        (lambda d: d["j"]["test"].update(x="cancelled"), "'test': a cancellation sent"),
        (lambda d: d["j"]["build.1"].update(a=0), "'build.1': attempt 0"),
        (lambda d: d.update(n={"completed": 3}), "counts .* do not match the job table"),
        (lambda d: d.update(p="completed"), "workflow: phase 'completed' with conclusion None"),
    ],
)
def test_a_checkpoint_that_contradicts_itself_is_refused(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    """A schema-valid checkpoint whose fields contradict each other would crash
    the engine or leave a job waiting forever: deciding on it is refused."""
    run = make_run(WORKFLOW)
    data = json.loads(EngineHarness(run).state.to_json())
    change(data)
    state = WorkflowState.from_dict(data)
    with pytest.raises(CheckpointError, match=message):
        decide(run, state, [], EPOCH)


def test_naive_times_are_refused() -> None:
    run = make_run(WORKFLOW)
    with pytest.raises(InvalidTimeError, match="timezone-aware"):
        initial_state(run, datetime(2026, 1, 1))
    with pytest.raises(InvalidTimeError):
        decide(run, initial_state(run, EPOCH), [], datetime(2026, 1, 1))


def test_things_that_are_not_events_are_refused() -> None:
    run = make_run(WORKFLOW)
    with pytest.raises(InvalidEventError, match="not an engine event: dict"):
        decide(run, initial_state(run, EPOCH), [{"kind": "job_started"}], EPOCH)  # type: ignore[list-item]


def test_events_parse_from_json() -> None:
    event = parse_event('{"kind": "cancel_requested", "instance_id": "build.0"}')
    assert event.kind == "cancel_requested"
    with pytest.raises(InvalidEventError, match="unknown event kind 'explode'"):
        parse_event({"kind": "explode"})
    with pytest.raises(InvalidEventError, match="malformed job_started event: attempt: "):
        parse_event({"kind": "job_started", "instance_id": "a", "attempt": "x", "token": "t"})
    with pytest.raises(InvalidEventError, match="event is not JSON"):
        parse_event("{")


def test_an_inconsistent_plan_is_refused() -> None:
    run = make_run(WORKFLOW)
    broken = Plan(
        workflow=run.plan.workflow,
        instances=(*run.plan.instances, JobInstance(id="build.0", job_id="build", name="build")),
    )
    bad = run.model_copy(update={"plan": broken})
    with pytest.raises(InvalidRunError, match=r"plan lists instance 'build\.0' twice"):
        initial_state(bad, EPOCH)


def test_a_cycle_is_refused() -> None:
    run = make_run(WORKFLOW)
    workflow = run.plan.workflow
    jobs = dict(workflow.jobs)
    jobs["build"] = jobs["build"].model_copy(update={"needs": ("test",)})
    instances = tuple(
        i.model_copy(update={"needs": jobs[i.job_id].needs}) for i in run.plan.instances
    )
    plan = Plan(workflow=workflow.model_copy(update={"jobs": jobs}), instances=instances)
    with pytest.raises(InvalidRunError, match=r"the jobs \['build', 'test'\] depend on each other"):
        initial_state(WorkflowRun(name="r", plan=plan, token_seed=TEST_SEED), EPOCH)


def test_tokens_are_deterministic_unguessable_and_fit_an_annotation_name() -> None:
    token = callback_token(TEST_SEED, "build.0", 1)
    assert token == callback_token(TEST_SEED, "build.0", 1)
    assert len(token) == 22
    assert token != callback_token(TEST_SEED, "build.0", 2)
    assert token != callback_token("another-seed-0123456789", "build.0", 1)
    assert token_matches(TEST_SEED, "build.0", 1, token)
    assert not token_matches(TEST_SEED, "build.1", 1, token)


def test_a_job_with_many_steps_keeps_its_failed_ones_in_the_checkpoint() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    steps = [
        StepResult(name=f"step {n}", outcome="success", conclusion="success") for n in range(30)
    ]
    steps[25] = StepResult(name="step 25", outcome="failure", conclusion="failure")
    h.fail("build.0", steps=steps)
    job = h.job("build.0")
    assert len(job.steps) == 12
    assert job.steps_omitted == 18
    assert [s.name for s in job.steps][-1] == "step 25"
    assert job.steps[-1].conclusion == "failure"


def test_a_truncated_result_says_so() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    spec = h.live.pop("build.0")
    event = EngineHarness.result_event(spec, "success")
    truncated = event.model_copy(
        update={"result": event.result.model_copy(update={"truncated": True})}
    )
    h.decide(truncated)
    assert (h.job("build.0").reason or "").startswith("result_truncated")


# -- what keeps the checkpoint small whatever the sandboxes report --------------


def test_step_summaries_share_a_budget_and_failed_steps_keep_their_place() -> None:
    def step(name: str) -> StepResult:
        return StepResult(name=name, outcome="success", conclusion="success")

    run = make_run(WORKFLOW, limits=RunLimits(max_step_summaries_bytes=300))
    h = EngineHarness(run)
    # 4 summaries of 40 + 16 bytes: 224 of the 300
    h.complete("build.0", steps=[step(f"step {n} ".ljust(40, "-")) for n in range(4)])
    assert len(h.job("build.0").steps) == 4
    # 4 more do not fit: only the one that failed (continue-on-error) is kept,
    # the others are counted
    flaky = StepResult(name="Run tests", outcome="failure", conclusion="success")
    h.complete("build.1", steps=[step(f"other {n} ".ljust(40, "-")) for n in range(3)] + [flaky])
    job = h.job("build.1")
    assert [(s.name, s.outcome) for s in job.steps] == [("Run tests", "failure")]
    assert job.steps_omitted == 3
    # the budget is spent: the next job keeps no summary at all, only the count
    h.complete("test", steps=[step("x" * 60)])
    assert h.job("test").steps == ()
    assert h.job("test").steps_omitted == 1


def test_long_reasons_are_clipped() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.fail("build.0", reason="runner error: " + "x" * 10_000)
    reason = h.job("build.0").reason or ""
    assert len(reason) == TEXT_KEPT
    assert reason.startswith("runner error: xxx") and reason.endswith("…")
    h.decide(CancelRequested(reason="because " * 1_000))
    assert len(h.state.cancel or "") == TEXT_KEPT
    h.cancel("no-such-job-" + "y" * 1_000)
    assert all(len(entry) <= TEXT_KEPT for entry in h.state.absorbed.recent)


def test_a_checkpoint_of_a_thousand_jobs_with_long_step_lists_stays_small() -> None:
    """1,000 instances, each reporting 30 steps with long names and a long
    reason: the budgets hold the checkpoint well under 512 KiB."""
    values = ", ".join(str(n) for n in range(250))
    workflow = "on: push\njobs:\n" + "".join(
        f"  m{k}:\n    runs-on: x\n    strategy:\n      fail-fast: false\n"
        f"      matrix:\n        n: [{values}]\n    steps: [{{run: t}}]\n"
        for k in range(4)
    )
    h = EngineHarness(make_run(workflow))
    steps = [
        StepResult(name=f"Run step number {n} " + "-" * 80, outcome="success", conclusion="success")
        for n in range(30)
    ]
    for instance_id in sorted(h.live):
        h.complete(instance_id, "failure", steps=steps, reason="step_failed: " + "z" * 500)
    assert len(h.state.jobs) == 1000
    assert h.conclusion == "failure"
    assert len(h.state.to_json().encode()) < 400 * 1024

"""Replays, duplicates, late and forged events change nothing and start nothing."""

from __future__ import annotations

from cairn.engine import (
    Event,
    JobCompleted,
    JobResult,
    JobStarted,
    callback_token,
    decide,
)
from cairn.engine.state import ABSORBED_KEPT as KEPT
from cairn.engine.testing import TEST_SEED, EngineHarness, make_run

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


def test_replaying_the_same_events_emits_nothing_and_changes_no_job() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    spec = h.live["build.0"]
    events: list[Event] = [
        JobStarted(instance_id="build.0", attempt=1, token=spec.callback_token),
        EngineHarness.result_event(spec, "success"),
    ]
    first = decide(h.run, h.state, events, h.now)
    again = decide(h.run, first.state, events, h.now)
    assert again.actions == ()
    assert again.changed == frozenset()
    assert again.state.without_audit() == first.state.without_audit()
    assert again.state.absorbed.recent == (
        "started:already_concluded:build.0@1",
        "completed:already_concluded:build.0@1",
    )


def test_deciding_the_same_input_twice_gives_the_same_output() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    event = EngineHarness.result_event(h.live["build.0"], "failure")
    one = decide(h.run, h.state, [event], h.now)
    two = decide(h.run, h.state, [event], h.now)
    assert one.state == two.state
    assert one.actions == two.actions
    assert one.state.to_json() == two.state.to_json()


def test_a_duplicate_start_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    h.start("build.0")
    assert h.start("build.0").actions == ()
    assert h.state.absorbed.recent == ("started:duplicate:build.0@1",)


def test_a_forged_token_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    forged = JobCompleted(
        token="A" * 22,
        result=JobResult(instance_id="build.0", attempt=1, conclusion="success"),
    )
    assert h.decide(forged).actions == ()
    assert h.phase("build.0") == "queued"
    assert h.state.absorbed.recent == ("completed:bad_token:build.0@1",)


def test_a_token_of_another_instance_does_not_complete_this_one() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    other = h.live["build.1"].callback_token
    event = JobCompleted(
        token=other, result=JobResult(instance_id="build.0", attempt=1, conclusion="failure")
    )
    assert h.decide(event).actions == ()
    assert h.phase("build.0") == "queued"


def test_an_event_for_an_instance_that_does_not_exist_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    token = callback_token(TEST_SEED, "ghost", 1)
    event = JobStarted(instance_id="ghost", attempt=1, token=token)
    assert h.decide(event).actions == ()
    assert h.state.absorbed.recent == ("started:unknown_instance:ghost",)


def test_a_completion_of_a_superseded_attempt_is_absorbed() -> None:
    h = EngineHarness(make_run(WORKFLOW + "  slow:\n    runs-on: x\n    steps: [{run: s}]\n"))
    old = h.live["build.0"]
    h.fail("build.0")
    h.complete("build.1", "cancelled")
    h.retry("build.0")
    late = EngineHarness.result_event(old, "success")
    assert h.decide(late).actions == ()
    assert h.job("build.0").attempt == 2
    assert h.phase("build.0") == "queued"
    assert h.state.absorbed.recent[-1] == "completed:stale_attempt:build.0@1"


def test_the_absorbed_record_is_bounded() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    for _ in range(KEPT + 5):
        h.cancel("nope")
    assert h.state.absorbed.count == KEPT + 5
    assert len(h.state.absorbed.recent) == KEPT


def test_batching_events_into_one_decide_changes_nothing() -> None:
    one_by_one = EngineHarness(make_run(WORKFLOW))
    batched = EngineHarness(make_run(WORKFLOW))
    events = [
        EngineHarness.result_event(one_by_one.live["build.1"], "success"),
        EngineHarness.result_event(one_by_one.live["build.0"], "success"),
    ]
    for event in events:
        one_by_one.decide(event)
    batched.decide(*events)
    assert one_by_one.state == batched.state
    assert [s.instance_id for s in one_by_one.started] == [s.instance_id for s in batched.started]

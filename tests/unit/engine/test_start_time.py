"""A start and a result decided at once (``JobStarted.at``) end where deciding
the start at its own moment, then the result, would."""

from __future__ import annotations

from datetime import timedelta

from cairn.engine import JobStarted, ScheduleWake, decide
from cairn.engine.testing import EPOCH, EngineHarness, make_run

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps: [{run: make}]
  test:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: make test}]
"""


def _started(h: EngineHarness, instance_id: str, **kwargs: object) -> JobStarted:
    spec = h.spec(instance_id)
    return JobStarted(
        instance_id=instance_id, attempt=spec.attempt, token=spec.callback_token, **kwargs
    )


def _both_ways(after: timedelta) -> tuple[EngineHarness, EngineHarness, list, list]:
    """The same start (at EPOCH + 1 min) and success, decided apart and together."""
    apart, together = EngineHarness(make_run(WORKFLOW)), EngineHarness(make_run(WORKFLOW))
    start_at = EPOCH + timedelta(minutes=1)
    apart.now = start_at
    first = apart.decide(_started(apart, "build"))
    apart.now = start_at + after
    second = apart.decide(apart.result_event(apart.spec("build")))
    together.now = start_at + after
    result = together.result_event(together.spec("build"))
    merged = together.decide(_started(together, "build", at=start_at), result)
    return apart, together, [*first.actions, *second.actions], list(merged.actions)


def _without_wakes(actions: list) -> list:
    return [a for a in actions if not isinstance(a, ScheduleWake)]


def test_a_start_and_its_result_together_equal_them_apart() -> None:
    apart, together, apart_actions, together_actions = _both_ways(timedelta(seconds=30))
    assert together.state.model_dump() == apart.state.model_dump()
    assert _without_wakes(together_actions) == _without_wakes(apart_actions)
    assert together.job("build").started_at == EPOCH + timedelta(minutes=1)
    assert together.dispatched() == ["build", "test"]


def test_a_start_whose_timeout_passed_before_the_decide_times_out_as_it_would_have() -> None:
    apart, together, apart_actions, together_actions = _both_ways(timedelta(minutes=6))
    assert apart.job("build").reason == "timed_out"
    assert together.state.model_dump() == apart.state.model_dump()
    assert _without_wakes(together_actions) == _without_wakes(apart_actions)


def test_the_start_time_is_kept_between_the_dispatch_and_now() -> None:
    h = EngineHarness(make_run(WORKFLOW), now=EPOCH + timedelta(minutes=2))
    queued_at = h.job("build").queued_at
    h.now += timedelta(minutes=1)
    h.decide(_started(h, "build", at=EPOCH))  # before its dispatch
    assert h.job("build").started_at == queued_at
    other = EngineHarness(make_run(WORKFLOW))
    other.decide(_started(other, "build", at=EPOCH + timedelta(hours=1)))  # in the future
    assert other.job("build").started_at == EPOCH
    assert other.job("build").deadline == EPOCH + timedelta(minutes=5)


def test_a_naive_start_time_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="timezone"):
        JobStarted(instance_id="build", attempt=1, token="t", at=EPOCH.replace(tzinfo=None))


def test_decide_takes_the_start_time_from_the_event_not_from_now() -> None:
    h = EngineHarness(make_run(WORKFLOW))
    at = EPOCH + timedelta(seconds=10)
    decision = decide(h.run, h.state, [_started(h, "build", at=at)], EPOCH + timedelta(seconds=50))
    assert decision.state.jobs["build"].started_at == at
    assert decision.state.jobs["build"].deadline == at + timedelta(minutes=5)

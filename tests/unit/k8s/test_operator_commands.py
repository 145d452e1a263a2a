"""Command annotations (cairn.dev/cancel, retry, rerun-failed) as engine events."""

from __future__ import annotations

from cairn.engine import CancelRequested, Event, RerunRequested
from cairn.engine.testing import EngineHarness, make_run
from cairn.k8s import resources
from cairn.k8s.loop import Wake, command_events

WORKFLOW = """
name: Deploy
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: make
  deploy:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: make deploy
"""


def _events(harness: EngineHarness, commands: dict[str, str]) -> tuple[list[Event], dict[str, str]]:
    wake = Wake(run=harness.run, state=harness.state, started_fresh=False)
    removals: dict[str, str] = {}
    return list(command_events(wake, commands, {}, removals)), removals


def test_a_cancel_names_the_run_attempt_it_was_read_against() -> None:
    harness = EngineHarness(make_run(WORKFLOW))
    events, removals = _events(harness, {resources.ANNOTATION_CANCEL: " not needed "})
    assert events == [CancelRequested(reason="not needed", attempt=1)]
    assert removals == {resources.ANNOTATION_CANCEL: " not needed "}


def test_a_cancel_replayed_after_a_rerun_does_not_stop_the_new_attempt() -> None:
    """The cancel was applied, but its annotation's removal was lost (a crash);
    a re-run came next; the next wake reads the old cancel again."""
    harness = EngineHarness(make_run(WORKFLOW))
    harness.start("build")
    (cancel,), _ = _events(harness, {resources.ANNOTATION_CANCEL: "cancelled"})
    assert isinstance(cancel, CancelRequested)
    harness.decide(cancel)
    harness.run_to_end(lambda spec: "cancelled")
    assert harness.conclusion == "cancelled"

    harness.decide(RerunRequested(run_attempt=harness.state.run_attempt, failed_only=True))
    assert harness.state.run_attempt == 2
    (replayed,), _ = _events(harness, {resources.ANNOTATION_CANCEL: "cancelled"})
    harness.decide(cancel)  # the one read before the re-run
    assert harness.job("build").cancel is None and not harness.job("build").completed
    # read in this attempt, the same annotation is a request to cancel it
    harness.start("build")
    harness.decide(replayed)
    assert harness.job("build").cancel is not None

"""The operator's status documents: merge patches of the checkpoint, the job
table, conditions and printer columns."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.engine import JobResult
from cairn.engine.testing import EPOCH, EngineHarness, make_run
from cairn.k8s.status import (
    JOB_TABLE_ROWS,
    ConditionValue,
    job_counts,
    job_table,
    merge_conditions,
    merge_diff,
    state_patch,
    workflow_phase,
    workflow_status,
)

WORKFLOW = """
name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        py: ["3.11", "3.12"]
    steps:
      - run: make
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: make test
  deploy:
    needs: test
    if: github.ref == 'refs/heads/main'
    runs-on: ubuntu-latest
    steps:
      - run: make deploy
"""


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


json_values = st.recursive(
    st.one_of(st.booleans(), st.integers(), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_merge_diff_turns_one_document_into_the_other(old: Any, new: Any) -> None:
    assert apply_merge_patch(old, merge_diff(old, new)) == new


def test_merge_diff_of_equal_documents_is_empty() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    assert merge_diff(doc, json.loads(json.dumps(doc))) == {}


def test_state_patches_replayed_on_the_stored_dict_give_the_checkpoint() -> None:
    """Patch after patch, what the API server stores is the engine's state."""
    harness = EngineHarness(make_run(WORKFLOW))
    stored: dict[str, Any] | None = None
    decisions = []
    harness.observer = lambda decision, events: decisions.append(decision)
    patch, stored = state_patch(None, harness.state, harness.state.jobs)
    assert stored == harness.state.to_dict()
    api_copy = apply_merge_patch({}, patch)
    for instance_id in ("build.0", "build.1"):
        harness.start(instance_id)
        harness.complete(instance_id)
    harness.start("test")
    harness.complete("test", conclusion="failure")
    for decision in decisions:
        patch, stored = state_patch(stored, decision.state, decision.changed)
        api_copy = apply_merge_patch(api_copy, patch)
        assert stored == decision.state.to_dict()
        assert api_copy == stored
    assert harness.state.phase == "completed"


def test_a_patch_sends_only_the_jobs_that_changed() -> None:
    harness = EngineHarness(make_run(WORKFLOW))
    _, stored = state_patch(None, harness.state, harness.state.jobs)
    decisions = []
    harness.observer = lambda decision, events: decisions.append(decision)
    harness.start("build.0")
    (decision,) = decisions
    patch, _ = state_patch(stored, decision.state, decision.changed)
    assert set(patch["j"]) == {"build.0"}
    assert patch["j"]["build.0"]["p"] == "running"


def test_job_table_rows_say_what_waiting_jobs_wait_on() -> None:
    run = make_run(WORKFLOW)
    harness = EngineHarness(run)
    harness.start("build.0")
    harness.advance(seconds=42)
    harness.complete("build.0")
    rows = job_table(run, harness.state, harness.now)
    assert rows[0].split() == ["JOB", "STATUS", "ATTEMPT", "DURATION", "DETAIL"]
    by_job = {row.split()[0]: row for row in rows[1:]}
    assert by_job["build.0"].split()[:4] == ["build.0", "success", "1", "42s"]
    assert by_job["build.1"].split()[:2] == ["build.1", "queued"]
    assert by_job["test"].split()[:2] == ["test", "waiting"]
    assert by_job["test"].endswith("needs build")


def test_job_table_is_capped_and_shows_running_jobs_first() -> None:
    values = ", ".join(str(n) for n in range(200))
    run = make_run(
        "on: push\njobs:\n  wide:\n    runs-on: ubuntu-latest\n    strategy:\n"
        f"      matrix:\n        n: [{values}]\n    steps:\n      - run: 'true'\n"
    )
    harness = EngineHarness(run)
    for n in range(150):
        harness.start(f"wide.{n}")
        harness.complete(f"wide.{n}")
    harness.start("wide.199")
    rows = job_table(run, harness.state, harness.now)
    assert len(rows) == JOB_TABLE_ROWS + 2
    assert any(row.startswith("wide.199 ") and "running" in row for row in rows)
    assert rows[-1].startswith("... and 140 more")


def test_conditions_keep_their_transition_time_while_their_status_holds() -> None:
    first = merge_conditions(None, [ConditionValue("Succeeded", "Unknown", "Running")], EPOCH, 1)
    later = EPOCH + timedelta(minutes=5)
    same = merge_conditions(first, [ConditionValue("Succeeded", "Unknown", "Cancelling")], later, 1)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["reason"] == "Cancelling"
    done = merge_conditions(same, [ConditionValue("Succeeded", "True", "Succeeded")], later, 2)
    assert done[0]["lastTransitionTime"] == "2026-01-01T12:05:00Z"
    assert done[0]["observedGeneration"] == 2


def test_workflow_status_fields_for_printer_columns_and_describe() -> None:
    run = make_run(WORKFLOW)
    harness = EngineHarness(run)
    for instance_id in ("build.0", "build.1"):
        harness.start(instance_id)
        harness.complete(instance_id)
    harness.start("test")
    harness.advance(minutes=3)
    harness.complete("test", conclusion="failure")
    state = harness.state
    assert workflow_phase(state) == "Failed"
    counts = job_counts(state)
    assert (counts.total, counts.completed, counts.failed, counts.skipped) == (4, 4, 1, 1)
    status = workflow_status(run, state, previous=None, now=harness.now, generation=1)
    assert status["phase"] == "Failed"
    assert status["progress"] == "4/4"
    assert status["duration"] == "3m0s"
    assert "failed: test" in status["message"]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "Failed")


def test_a_result_for_the_job_table_counts_outputs_sizes() -> None:
    # a failure's reason from the sandbox reaches the table's DETAIL column
    run = make_run(WORKFLOW)
    harness = EngineHarness(run)
    harness.start("build.0")
    token = harness.live["build.0"].callback_token
    result = JobResult(instance_id="build.0", attempt=1, conclusion="failure", reason="step_failed")
    from cairn.engine import JobCompleted

    harness.decide(JobCompleted(token=token, result=result))
    rows = job_table(run, harness.state, harness.now)
    assert any(r.startswith("build.0") and r.endswith("step_failed") for r in rows)

"""Matrices: fail-fast, max-parallel, dynamic expansion, aggregated results."""

from __future__ import annotations

import json

from cairn.engine import CancelJob, RunLimits
from cairn.engine.testing import EngineHarness, make_run


def matrix_workflow(strategy_extra: str = "", job_extra: str = "") -> str:
    return f"""
on: push
jobs:
  test:
    runs-on: ubuntu-latest
{job_extra}    strategy:
{strategy_extra}      matrix:
        python: ["3.10", "3.11", "3.12", "3.13"]
    steps:
      - run: pytest
  publish:
    needs: test
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{{{ needs.test.result }}}}"
"""


def test_fail_fast_cancels_the_running_and_queued_instances() -> None:
    h = EngineHarness(make_run(matrix_workflow()))
    h.start("test.0")
    h.start("test.1")
    h.complete("test.2")
    h.fail("test.1")
    assert [(i, r) for i, _, r in h.cancelled] == [("test.0", "fail_fast"), ("test.3", "fail_fast")]
    # the sandboxes report back and the instances end cancelled
    h.complete("test.0", "cancelled")
    h.complete("test.3", "cancelled")
    assert h.phases() == {
        "test.0": "cancelled",
        "test.1": "failure",
        "test.2": "success",
        "test.3": "cancelled",
        "publish": "queued",
    }
    assert h.job("test.0").reason == "fail_fast"
    assert h.live["publish"].contexts["needs"]["test"]["result"] == "failure"


def test_fail_fast_false_lets_the_others_finish() -> None:
    h = EngineHarness(make_run(matrix_workflow("      fail-fast: false\n")))
    h.fail("test.0")
    assert h.cancelled == []
    for instance_id in ["test.1", "test.2", "test.3"]:
        h.complete(instance_id)
    h.complete("publish")
    assert h.conclusion == "failure"


def test_fail_fast_may_be_an_expression() -> None:
    h = EngineHarness(
        make_run(matrix_workflow("      fail-fast: ${{ github.ref != 'refs/heads/main' }}\n"))
    )
    h.fail("test.0")
    assert h.cancelled == []


def test_a_continue_on_error_instance_does_not_trigger_fail_fast() -> None:
    workflow = """
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    continue-on-error: ${{ matrix.experimental }}
    strategy:
      matrix:
        node: [18, 20]
        experimental: [false]
        include:
          - node: 23
            experimental: true
    steps:
      - run: npm test
"""
    h = EngineHarness(make_run(workflow))
    assert [h.live[i].contexts["matrix"]["node"] for i in h.dispatched()] == [18, 20, 23]
    h.fail("test.2")
    assert h.cancelled == []
    assert h.job("test.2").continue_on_error
    h.complete("test.0")
    h.complete("test.1")
    assert h.conclusion == "success"


def test_max_parallel_admits_instances_in_order_as_slots_free() -> None:
    h = EngineHarness(make_run(matrix_workflow("      max-parallel: 2\n")))
    assert h.dispatched() == ["test.0", "test.1"]
    assert h.phase("test.2") == "waiting:max-parallel"
    assert h.live["test.0"].contexts["strategy"]["max-parallel"] == 2
    h.complete("test.1")
    assert h.dispatched() == ["test.0", "test.2"]
    h.complete("test.0")
    h.complete("test.2")
    assert h.dispatched() == ["test.3"]


def test_a_freed_slot_goes_to_the_first_waiting_instance_in_matrix_order() -> None:
    h = EngineHarness(make_run(matrix_workflow("      fail-fast: false\n      max-parallel: 2\n")))
    h.fail("test.0")
    assert h.dispatched() == ["test.1", "test.2"]
    h.retry("test.0")
    # the new attempt of test.0 waits for a slot like the others, ahead of test.3
    assert h.phase("test.0") == "waiting:max-parallel"
    assert h.phase("test.3") == "waiting:max-parallel"
    h.complete("test.1")
    assert h.dispatched() == ["test.0", "test.2"]
    assert h.phase("test.3") == "waiting:max-parallel"
    h.complete("test.0")
    assert h.dispatched() == ["test.2", "test.3"]


def test_fail_fast_cancels_instances_still_waiting_for_a_slot() -> None:
    h = EngineHarness(make_run(matrix_workflow("      max-parallel: 1\n")))
    h.fail("test.0")
    assert h.phases()["test.1"] == "cancelled"
    assert h.job("test.3").reason == "fail_fast"
    assert h.dispatched() == ["publish"]


def test_matrix_outputs_combine_in_completion_order() -> None:
    workflow = """
on: push
jobs:
  gen:
    runs-on: ubuntu-latest
    outputs:
      a: ${{ steps.s.outputs.a }}
      b: ${{ steps.s.outputs.b }}
    strategy:
      matrix:
        n: [1, 2, 3]
    steps:
      - id: s
        run: echo
  use:
    needs: gen
    runs-on: ubuntu-latest
    steps:
      - run: echo
"""
    h = EngineHarness(make_run(workflow))
    h.complete("gen.2", outputs={"a": "from-2", "b": ""})
    h.complete("gen.0", outputs={"a": "from-0", "b": "zero"})
    h.complete("gen.1", outputs={"a": "", "b": ""})
    # later non-empty values win; empty ones never erase
    assert h.live["use"].contexts["needs"]["gen"]["outputs"] == {"a": "from-0", "b": "zero"}


DYNAMIC = """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      targets: ${{ steps.t.outputs.targets }}
    steps:
      - id: t
        run: echo "targets=[\\"api\\",\\"web\\",\\"cli\\"]" >> "$GITHUB_OUTPUT"
  build:
    needs: plan
    runs-on: ubuntu-latest
    strategy:
      max-parallel: 2
      matrix:
        target: ${{ fromJSON(needs.plan.outputs.targets) }}
        include:
          - target: web
            node: 20
    steps:
      - run: make ${{ matrix.target }}
  ship:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: ship
"""


def test_a_dynamic_matrix_expands_when_its_needs_are_known() -> None:
    h = EngineHarness(make_run(DYNAMIC))
    assert h.phase("build") == "waiting:needs"
    h.complete("plan", outputs={"targets": '["api","web","cli"]'})
    assert "build" not in h.state.jobs
    assert h.state.matrices["build"] == [
        {"target": "api"},
        {"target": "web", "node": 20},
        {"target": "cli"},
    ]
    assert h.dispatched() == ["build.0", "build.1"]
    assert h.phase("build.2") == "waiting:max-parallel"
    assert h.live["build.1"].name == "build (web, 20)"
    assert h.live["build.1"].contexts["strategy"]["job-total"] == 3
    h.complete("build.0")
    h.complete("build.1")
    h.complete("build.2")
    assert h.dispatched() == ["ship"]


def test_a_dynamic_matrix_that_cannot_expand_fails_the_job() -> None:
    h = EngineHarness(make_run(DYNAMIC))
    h.complete("plan", outputs={"targets": "[]"})
    assert h.job("build").conclusion == "failure"
    assert (h.job("build").reason or "").startswith("strategy.matrix")
    assert h.job("ship").reason == "needs_failed"
    assert h.conclusion == "failure"


def test_a_dynamic_matrix_too_large_for_the_checkpoint_fails_the_job() -> None:
    h = EngineHarness(make_run(DYNAMIC, limits=RunLimits(max_matrix_bytes=1024)))
    targets = json.dumps([f"target-{n}-" + "x" * 100 for n in range(20)])
    h.complete("plan", outputs={"targets": targets})
    job = h.job("build")
    assert job.conclusion == "failure"
    assert (job.reason or "").startswith("strategy.matrix: the expanded matrix takes ")
    assert "may take 1024 bytes in all" in (job.reason or "")
    assert "build" not in h.state.matrices
    assert h.job("ship").reason == "needs_failed"


def test_a_skipped_dynamic_matrix_job_is_skipped_whole() -> None:
    h = EngineHarness(make_run(DYNAMIC))
    h.fail("plan")
    assert h.job("build").conclusion == "skipped"
    assert "build" not in h.state.matrices


def test_cancel_job_actions_name_the_attempt() -> None:
    h = EngineHarness(make_run(matrix_workflow()))
    h.fail("test.0")
    cancels = [a for a in h.actions if isinstance(a, CancelJob)]
    assert {c.instance_id for c in cancels} == {"test.1", "test.2", "test.3"}
    assert all(c.attempt == 1 and c.token == h.live[c.instance_id].callback_token for c in cancels)

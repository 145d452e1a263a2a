"""A job compiled from real workflow YAML by cairn.workflow runs as on GitHub."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn.engine.jobspec import JobSpec
from cairn.workflow import parse_workflow

WORKFLOW = """
name: CI
on: push
env:
  APP: cairn
defaults:
  run:
    shell: bash
jobs:
  test:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.meta.outputs.version }}
    strategy:
      matrix:
        python: ["3.11"]
    env:
      PY: ${{ matrix.python }}
    steps:
      - id: meta
        run: echo "version=$APP-$PY" >> "$GITHUB_OUTPUT"
      - name: Flaky check
        id: flaky
        run: exit 1
        continue-on-error: true
      - name: Report
        if: ${{ steps.flaky.outcome == 'failure' }}
        run: echo "flaky failed, ${{ steps.meta.outputs.version }} goes on"
      - name: Not on success
        if: failure()
        run: echo unreachable
"""


async def test_compiled_job_runs(run: Any, workspace: Path) -> None:
    workflow = parse_workflow(WORKFLOW, ".github/workflows/ci.yml")
    spec = JobSpec(
        workflow_file=workflow.file,
        workflow_name=workflow.name,
        instance_id="test.0",
        name="test (3.11)",
        attempt=1,
        callback_token="token",
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
        job=workflow.jobs["test"],
        workflow_env=workflow.env,
        workflow_defaults=workflow.defaults,
        contexts={
            "github": {"sha": "0" * 40, "ref": "refs/heads/main"},
            "matrix": {"python": "3.11"},
        },
    )
    result, sink = await run(spec)
    assert result.conclusion == "success", result.annotations
    assert result.outputs == {"version": "cairn-3.11"}
    assert [(s.name, s.outcome, s.conclusion) for s in result.steps] == [
        ('Run echo "version=$APP-$PY" >> "$GITHUB_OUTPUT"', "success", "success"),
        ("Flaky check", "failure", "success"),
        ("Report", "success", "success"),
        ("Not on success", "skipped", "skipped"),
    ]
    assert sink.output(step=2) == ["flaky failed, cairn-3.11 goes on"]
    assert "shell: " in "\n".join(sink.lines) and "-eo pipefail" in "\n".join(sink.lines)

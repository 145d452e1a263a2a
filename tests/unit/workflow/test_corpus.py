"""Every corpus workflow: valid ones compile, broken ones give exactly the
diagnostics listed in their ``# expect: LINE:COL: message`` comments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cairn.workflow import WorkflowError, compile_plan, load_workflow

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "workflows"
VALID = sorted((CORPUS / "valid").glob("*.yml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)


def test_the_corpus_is_there() -> None:
    assert len(VALID) >= 10
    assert len(INVALID) >= 15


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_workflows_compile(path: Path) -> None:
    plan = compile_plan(load_workflow(path))
    assert plan.instances
    assert {i.job_id for i in plan.instances} == set(plan.workflow.jobs)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_workflows_report_exactly_the_expected_diagnostics(path: Path) -> None:
    expected = [(int(a), int(b), m) for a, b, m in EXPECT.findall(path.read_text())]
    assert expected, f"{path.name} lists no '# expect:' lines"
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    got = [(d.line, d.column, d.message) for d in caught.value.diagnostics]
    assert got == expected
    assert all(d.file == str(path) for d in caught.value.diagnostics)

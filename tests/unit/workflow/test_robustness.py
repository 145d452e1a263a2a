"""Any input gives a Workflow or a WorkflowError: never another exception."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.workflow import WorkflowError, compile_plan, parse_workflow
from cairn.workflow import vocabulary as vocab

_KEYS = sorted(
    {
        *vocab.WORKFLOW_KEYS,
        *vocab.RUNNER_JOB_KEYS,
        *vocab.CALLER_JOB_KEYS,
        *vocab.STEP_KEYS,
        *vocab.STRATEGY_KEYS,
        *vocab.CONTAINER_KEYS,
        *vocab.PUSH_FILTERS,
        "include",
        "exclude",
        "push",
        "pull_request",
        "schedule",
        "cron",
        "workflow_dispatch",
        "workflow_call",
        "inputs",
        "build",
        "test",
        "os",
    }
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        [
            "ubuntu-latest",
            "${{ matrix.os }}",
            "${{ fromJSON(needs.a.outputs.m) }}",
            "${{ unclosed",
            "actions/checkout@v4",
            "./.github/workflows/x.yml",
            "build",
            "main",
            "v[0-9",
            "*/5 * * * *",
            "inherit",
            "read-all",
            "",
        ]
    ),
    st.text(max_size=8),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(_KEYS), children, max_size=5),
    ),
    max_leaves=40,
)


def _document() -> st.SearchStrategy[dict[str, Any]]:
    job = st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=6)
    return st.fixed_dictionaries(
        {
            "on": st.one_of(_VALUES, st.sampled_from(["push", ["push", "pull_request"]])),
            "jobs": st.dictionaries(
                st.sampled_from(["build", "test", "deploy", "1x"]), job, max_size=3
            ),
        },
        optional={"name": _SCALARS, "env": _VALUES, "permissions": _VALUES},
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document())
def test_workflow_shaped_documents_never_crash_the_compiler(document: dict[str, Any]) -> None:
    text = yaml.safe_dump(document, sort_keys=False)
    try:
        workflow = parse_workflow(text, "fuzz.yml")
    except WorkflowError as exc:
        assert exc.diagnostics
        assert all(d.line >= 1 and d.column >= 1 for d in exc.diagnostics)
        return
    compile_plan(workflow)


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("on:jobs- []{}&*!|>'\"#\n\t${}x1")), max_size=80))
def test_arbitrary_text_never_crashes_the_compiler(text: str) -> None:
    try:
        parse_workflow(text, "fuzz.yml")
    except WorkflowError as exc:
        assert exc.diagnostics

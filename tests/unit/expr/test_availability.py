"""GitHub's context-availability table and check_contexts."""

from __future__ import annotations

import pytest

from cairn.expr import (
    AVAILABILITY,
    ContextNotAvailableError,
    UnknownPlaceError,
    check_contexts,
    parse,
    parse_condition,
    parse_template,
)
from cairn.expr.parser import KNOWN_CONTEXTS

JOB_IF = "jobs.<job_id>.if"
STEP_IF = "jobs.<job_id>.steps.if"
STEP_RUN = "jobs.<job_id>.steps.run"
RUNS_ON = "jobs.<job_id>.runs-on"


def test_every_listed_context_is_a_known_context() -> None:
    assert (
        frozenset(
            {
                "github",
                "env",
                "vars",
                "job",
                "jobs",
                "steps",
                "runner",
                "secrets",
                "strategy",
                "matrix",
                "needs",
                "inputs",
            }
        )
        == KNOWN_CONTEXTS
    )
    for place, contexts in AVAILABILITY.items():
        assert contexts <= KNOWN_CONTEXTS, place
        assert "github" in contexts, place  # github is available everywhere


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ("run-name", {"github", "inputs", "vars"}),
        ("concurrency", {"github", "inputs", "vars"}),
        ("env", {"github", "secrets", "inputs", "vars"}),
        (JOB_IF, {"github", "needs", "vars", "inputs"}),
        (RUNS_ON, {"github", "needs", "strategy", "matrix", "vars", "inputs"}),
        (
            "jobs.<job_id>.env",
            {"github", "needs", "strategy", "matrix", "vars", "secrets", "inputs"},
        ),
        ("jobs.<job_id>.strategy", {"github", "needs", "vars", "inputs"}),
        (
            STEP_IF,
            {
                "github",
                "needs",
                "strategy",
                "matrix",
                "job",
                "runner",
                "env",
                "vars",
                "steps",
                "inputs",
            },
        ),
        (
            STEP_RUN,
            {
                "github",
                "needs",
                "strategy",
                "matrix",
                "job",
                "runner",
                "env",
                "vars",
                "secrets",
                "steps",
                "inputs",
            },
        ),
        (
            "jobs.<job_id>.outputs.<output_id>",
            {
                "github",
                "needs",
                "strategy",
                "matrix",
                "job",
                "runner",
                "env",
                "vars",
                "secrets",
                "steps",
                "inputs",
            },
        ),
        ("on.workflow_call.outputs.<output_id>.value", {"github", "jobs", "vars", "inputs"}),
        (
            "jobs.<job_id>.environment.url",
            {
                "github",
                "needs",
                "strategy",
                "matrix",
                "job",
                "runner",
                "env",
                "vars",
                "steps",
                "inputs",
            },
        ),
    ],
)
def test_documented_rows(place: str, expected: set[str]) -> None:
    assert AVAILABILITY[place] == expected


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("needs.build.outputs.ok == 'true'", JOB_IF),
        ("github.event_name == 'push' && inputs.deploy", JOB_IF),
        ("vars.ENABLED == 'yes'", JOB_IF),
        ("steps.test.outcome == 'failure' && env.CI", STEP_IF),
        ("hashFiles('**/*.lock') != ''", STEP_IF),
        ("failure()", STEP_IF),
        ("always()", JOB_IF),
        ("matrix.os", RUNS_ON),
        ("contains(github.ref, 'main')", RUNS_ON),
        ("jobs.build.outputs.x", "on.workflow_call.outputs.<output_id>.value"),
    ],
)
def test_allowed(text: str, place: str) -> None:
    check_contexts(parse_condition(text), place)


@pytest.mark.parametrize(
    ("text", "place", "message"),
    [
        ("steps.a.outcome == 'success'", JOB_IF, "1:1: context 'steps' is not available in"),
        ("github.ref == 'x' && env.FOO", JOB_IF, "1:22: context 'env' is not available"),
        ("matrix.os == 'linux'", JOB_IF, "1:1: context 'matrix'"),
        ("secrets.TOKEN != ''", STEP_IF, "1:1: context 'secrets' is not available"),
        ("secrets.LABEL", RUNS_ON, "1:1: context 'secrets'"),
        ("runner.os", RUNS_ON, "1:1: context 'runner'"),
        ("hashFiles('x')", JOB_IF, "1:1: function hashFiles() is not available in"),
        ("hashFiles('x')", RUNS_ON, "1:1: function hashFiles() is not available"),
        ("success()", RUNS_ON, "1:1: function success() is not available"),
        ("format('{0}', always())", "jobs.<job_id>.steps.run", "1:15: function always()"),
        ("MATRIX.os", JOB_IF, "1:1: context 'matrix'"),
    ],
)
def test_not_allowed(text: str, place: str, message: str) -> None:
    with pytest.raises(ContextNotAvailableError) as info:
        check_contexts(parse(text), place)
    assert str(info.value).startswith(message), str(info.value)


def test_templates_are_checked_part_by_part_with_template_positions() -> None:
    template = parse_template("deploy ${{ github.ref }}\nto ${{ steps.x.outputs.env }}")
    check_contexts(template, STEP_RUN)
    with pytest.raises(ContextNotAvailableError) as info:
        check_contexts(template, "jobs.<job_id>.name")
    assert (info.value.line, info.value.column) == (2, 8)


def test_implicit_success_of_a_condition_is_not_a_use() -> None:
    # `if: matrix.x` on a step means success() && matrix.x; success() is allowed
    # there, but the check must not report the implicit call anywhere.
    check_contexts(parse_condition("github.ref == 'x'"), JOB_IF)
    check_contexts(parse_template("${{ github.ref }}"), RUNS_ON)


def test_literal_template_uses_nothing() -> None:
    check_contexts(parse_template("ubuntu-latest"), "run-name")


def test_unknown_place() -> None:
    with pytest.raises(UnknownPlaceError, match=r"unknown workflow key 'jobs\.build\.if'"):
        check_contexts(parse("github"), "jobs.build.if")

"""Templates (strings with ``${{ }}``) and ``if:`` conditions."""

from __future__ import annotations

from typing import Any

import pytest

from cairn.expr import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    Status,
    parse_condition,
    parse_template,
    truthy,
)
from tests.unit.expr.cases import CONTEXTS, same

RENDER: list[tuple[str, str]] = [
    ("plain text", "plain text"),
    ("", ""),
    ("${{ 1 }}", "1"),
    ("${{ 1.50 }}", "1.5"),
    ("${{ 3.0 }}", "3"),
    ("${{ null }}", ""),
    ("a ${{ null }} b", "a  b"),
    ("${{ true }}${{ false }}", "truefalse"),
    ("${{ fromJSON('[1]') }}", "Array"),  # GitHub renders containers by kind
    ("v=${{ github.event }}", "v=Object"),
    ("${{ 'a}}b' }}", "a}}b"),  # '}}' inside a string does not close
    ("${{ 'it''s' }}", "it's"),
    ("x ${{ matrix.os }}-${{ matrix.node }}", "x ubuntu-latest-20"),
    ("$${{ 1 }}", "$1"),
    ("${ { 1 } }", "${ { 1 } }"),
    ("{{ 1 }}", "{{ 1 }}"),
    ("${{1}}", "1"),
    ("${{ github.event_name }}}", "push}"),
    ("echo ${{ env.CI }}\necho ${{ steps.checkout.outputs.sha }}\n", "echo true\necho abc123\n"),
    ("${{ format('{0}', 'x') }} and ${{ format('{{0}}') }}", "x and {0}"),
    ("${{ toJSON(matrix.node) }}", "20"),
    ("Deploy to ${{ vars.DEPLOY == 'yes' && 'prod' || 'staging' }}", "Deploy to prod"),
    ("${{ github.event.labels.*.name }}", "Array"),
    ("  ${{ 1 }}  ", "  1  "),
    ("${{ matrix.python }}", "3.10"),
    ("${{ 0.1 }}", "0.1"),
    ("${{ 1e20 }}", "1E+20"),
]

EVALUATE: list[tuple[str, Any]] = [
    ("plain", "plain"),
    ("${{ matrix.node }}", 20),
    ("${{ matrix.experimental }}", True),
    ("${{ fromJSON('[1,2]') }}", [1, 2]),
    (" ${{ null }} ", None),
    ("\n${{ github.event.labels.*.name }}\n", ["bug", "CI"]),
    ("${{ matrix.node }}x", "20x"),
    ("${{ 1 }}${{ 2 }}", "12"),
    ("${{ 'a' }}", "a"),
]


@pytest.mark.parametrize(("text", "expected"), RENDER)
def test_render(text: str, expected: str) -> None:
    assert parse_template(text).render(CONTEXTS) == expected


@pytest.mark.parametrize(("text", "expected"), EVALUATE)
def test_evaluate(text: str, expected: Any) -> None:
    assert same(parse_template(text).evaluate(CONTEXTS), expected)


def test_template_properties() -> None:
    template = parse_template("run ${{ matrix.os }} for ${{ github.actor }}")
    assert not template.is_literal and not template.is_single_expression
    assert template.contexts == frozenset({"matrix", "github"})
    assert [e.source for e in template.expressions] == ["matrix.os", "github.actor"]
    assert parse_template("${{ matrix.os }}").is_single_expression
    assert parse_template(" \n${{ matrix.os }}\t").is_single_expression
    assert parse_template("no expressions").is_literal
    assert parse_template("x") is parse_template("x")  # cached


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ 1 ", "1:1: the expression is not closed"),
        ("abc ${{ 'x }}", "1:5: the expression is not closed"),
        ("abc ${{ }}", "1:8: expected an expression"),
        ("${{}}", "1:4: expected an expression"),
        ("x ${{ foo }}", "1:7: unrecognized context 'foo'"),
        ("line1\n${{ github. }}", "2:11: unexpected end of expression"),
        ("ok ${{ 1 }} then ${{ 1 == }}", "1:24: unexpected end of expression"),
        ("${{ ${{ 1 }} }}", "1:5: unexpected symbol: '${{'"),
    ],
)
def test_template_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_template(text)
    assert str(info.value).startswith(message), str(info.value)


def test_template_evaluation_error_points_into_the_template() -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        parse_template("echo\necho ${{ fromJSON('{') }}").render({})
    assert (info.value.line, info.value.column) == (2, 10)


CONDITIONS: list[tuple[str, Status, Any]] = [
    ("", "success", True),
    ("   ", "success", True),
    ("", "failure", False),
    ("${{ true }}", "success", True),
    ("${{ false }}", "success", False),
    ("false", "success", False),
    ("github.event_name == 'push'", "success", True),
    ("github.event_name == 'push'", "failure", False),
    ("github.event_name == 'push'", "cancelled", False),
    ("${{ github.event_name == 'push' }}", "failure", False),
    ("always()", "failure", True),
    ("always()", "cancelled", True),
    ("failure()", "failure", True),
    ("failure()", "success", False),
    ("cancelled()", "cancelled", True),
    # "skipped": a job-level if over skipped ancestors; no status function is true.
    ("success()", "skipped", False),
    ("failure()", "skipped", False),
    ("cancelled()", "skipped", False),
    ("always()", "skipped", True),
    ("github.event_name == 'push'", "skipped", False),
    ("success()", "cancelled", False),
    ("success() || failure()", "failure", True),
    ("!cancelled()", "failure", True),
    ("FAILURE()", "failure", True),
    ("failure() && needs.build.result == 'success'", "failure", True),
    ("always() && matrix.experimental", "cancelled", True),
    ("contains(github.event.labels.*.name, 'bug')", "success", True),
    ("github.event.pull_request.draft == false", "success", True),
    (" ${{ github.ref }} ", "success", "refs/heads/main"),
    ("matrix.missing", "success", None),
    # Text around ${{ }}: rendered as a string, which is truthy (a GitHub gotcha).
    ("${{ false }} && true", "success", "false && true"),
    ("${{ false }} && true", "failure", False),
    ("${{ always() }} x", "failure", "true x"),
    ("'${{ 1 }}' == '1'", "success", "'1' == '1'"),
]


@pytest.mark.parametrize(("text", "status", "expected"), CONDITIONS)
def test_condition(text: str, status: Status, expected: Any) -> None:
    assert same(parse_condition(text).evaluate(CONTEXTS, status=status), expected)


def test_condition_flags() -> None:
    assert not parse_condition("github.ref == 'x'").uses_status_function
    assert parse_condition("${{ always() }}").uses_status_function
    assert parse_condition("Cancelled() || github.ref").uses_status_function
    cond = parse_condition("needs.build.result == 'success' && success()")
    assert cond.uses_status_function and cond.contexts == frozenset({"needs"})
    assert parse_condition("").contexts == frozenset()
    assert parse_condition("github.ref == 'x'") is parse_condition("github.ref == 'x'")


def test_condition_truthiness_drives_the_decision() -> None:
    cond = parse_condition("${{ matrix.experimental }}")
    assert truthy(cond.evaluate(CONTEXTS)) is True
    assert truthy(cond.evaluate({"matrix": {"experimental": False}})) is False
    assert truthy(cond.evaluate({"matrix": {}})) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ }}", "1:4: expected an expression"),
        ("${{ github.event_name == 'push' ", "1:1: the expression is not closed"),
        ("github.ref = 'x'", "1:12: unexpected symbol: '='"),
        ('steps.x.outcome == "success"', "1:20: unexpected symbol"),
    ],
)
def test_condition_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_condition(text)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("bad", [None, 1, b"x", ["x"]])
def test_non_string_input_is_a_clear_error(bad: Any) -> None:
    for function in (parse_template, parse_condition):
        with pytest.raises(ExpressionSyntaxError, match="must be a string"):
            function(bad)


def test_evaluate_checks_its_arguments() -> None:
    template = parse_template("${{ 1 }}")
    with pytest.raises(ExpressionEvaluationError, match="status must be one of"):
        template.evaluate({}, status="neutral")  # type: ignore[arg-type]
    with pytest.raises(ExpressionEvaluationError, match="contexts must be a mapping"):
        template.render([])  # type: ignore[arg-type]

"""The public API contract of cairn.expr that the engine and runner code against."""

from __future__ import annotations

import pytest

from cairn.errors import CairnError
from cairn.expr import (
    AVAILABILITY,
    ContextNotAvailableError,
    Expression,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    Template,
    check_contexts,
    parse,
    parse_condition,
    parse_template,
    to_str,
    truthy,
)

CONTEXTS = {
    "github": {"event_name": "push", "ref": "refs/heads/main", "actor": "octocat"},
    "matrix": {"os": "ubuntu-latest", "experimental": True, "node": 20},
}


def test_parse_returns_a_reusable_cached_expression() -> None:
    expr = parse("github.event_name == 'push'")
    assert isinstance(expr, Expression)
    assert expr is parse("github.event_name == 'push'")
    assert expr.source == "github.event_name == 'push'"
    assert expr.contexts == frozenset({"github"})
    assert expr.uses_status_function is False
    assert expr.evaluate(CONTEXTS) is True
    assert expr.evaluate({"github": {"event_name": "pull_request"}}) is False


def test_errors_are_cairn_errors_with_line_and_column() -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse("github.")
    error = info.value
    assert isinstance(error, ExpressionError) and isinstance(error, CairnError)
    assert str(error) == "1:7: unexpected end of expression"
    assert (error.line, error.column, error.message) == (1, 7, "unexpected end of expression")


def test_condition_without_status_function_implies_success() -> None:
    cond = parse_condition("github.event_name == 'push'")
    assert cond.evaluate(CONTEXTS) is True
    assert cond.evaluate(CONTEXTS, status="failure") is False
    assert cond.evaluate(CONTEXTS, status="cancelled") is False


def test_condition_with_status_function_reads_status() -> None:
    cond = parse_condition("${{ failure() }}")
    assert cond.uses_status_function
    assert cond.evaluate({}, status="failure") is True
    assert cond.evaluate({}, status="success") is False
    assert parse_condition("always()").evaluate({}, status="cancelled") is True


def test_template_single_expression_returns_raw_value() -> None:
    template = parse_template("${{ fromJSON('[1,2]') }}")
    assert isinstance(template, Template)
    assert template.is_single_expression and not template.is_literal
    assert template.evaluate({}) == [1, 2]
    assert parse_template("  ${{ matrix.experimental }} ").evaluate(CONTEXTS) is True


def test_template_mixed_renders_string() -> None:
    template = parse_template("node ${{ matrix.node }} on ${{ matrix.os }}")
    assert not template.is_single_expression
    assert template.contexts == frozenset({"matrix"})
    assert template.evaluate(CONTEXTS) == "node 20 on ubuntu-latest"
    assert template.render(CONTEXTS) == "node 20 on ubuntu-latest"


def test_literal_template() -> None:
    template = parse_template("plain text")
    assert template.is_literal and template.evaluate({}) == "plain text"


def test_to_str_and_truthy() -> None:
    assert [to_str(v) for v in (None, True, False, 1.50, 3.0, "x")] == [
        "",
        "true",
        "false",
        "1.5",
        "3",
        "x",
    ]
    assert to_str([1, 2]) == "[\n  1,\n  2\n]"
    falsy: tuple[object, ...] = (False, 0, -0.0, "", None, float("nan"))
    assert [truthy(v) for v in falsy] == [False] * 6
    truthful: tuple[object, ...] = (True, 1, "0", "false", [], {})
    assert all(truthy(v) for v in truthful)


def test_check_contexts() -> None:
    check_contexts(parse_condition("needs.build.result == 'success'"), "jobs.<job_id>.if")
    with pytest.raises(ContextNotAvailableError) as info:
        check_contexts(parse_condition("steps.a.outcome == 'success'"), "jobs.<job_id>.if")
    assert info.value.column == 1
    assert "steps" in str(info.value)
    assert "steps" in AVAILABILITY["jobs.<job_id>.steps.run"]


def test_hash_files_needs_a_workspace() -> None:
    with pytest.raises(ExpressionEvaluationError, match="workspace"):
        parse("hashFiles('**/*.lock')").evaluate({})

"""Values from callers: Python types, odd shapes, and the safety limits."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from cairn.expr import (
    ExpressionEvaluationError,
    parse,
    parse_condition,
    parse_template,
    to_json,
    to_str,
    truthy,
)
from cairn.expr.values import MAX_JSON_DEPTH, MAX_RESULT_CHARS


def test_tuples_and_read_only_mappings_are_arrays_and_objects() -> None:
    contexts = {"matrix": MappingProxyType({"os": ("linux", "mac"), "Node": 20})}
    assert parse("matrix.os[1]").evaluate(contexts) == "mac"
    assert parse("matrix.node").evaluate(contexts) == 20
    assert parse("join(matrix.os, '+')").evaluate(contexts) == "linux+mac"
    assert parse("matrix.os.*").evaluate(contexts) == ["linux", "mac"]
    assert parse("toJSON(matrix)").evaluate(contexts) == (
        '{\n  "os": [\n    "linux",\n    "mac"\n  ],\n  "Node": 20\n}'
    )


def test_context_names_in_the_mapping_may_use_any_case() -> None:
    assert parse("github.actor").evaluate({"GitHub": {"actor": "mona"}}) == "mona"


def test_missing_context_is_null() -> None:
    assert parse("needs.build.result").evaluate({}) is None
    assert parse("toJSON(inputs)").evaluate({}) == "null"


def test_huge_integers_compare_as_doubles() -> None:
    contexts = {"github": {"big": 2**53 + 1, "huge": 10**400}}
    assert parse("github.big == 9007199254740992").evaluate(contexts) is True
    assert parse("github.huge > 1e308").evaluate(contexts) is True
    assert parse("format('{0}', github.huge)").evaluate(contexts) == "Infinity"


def test_unsupported_value_types_are_clear_errors() -> None:
    contexts = {"matrix": {"when": object()}}
    with pytest.raises(ExpressionEvaluationError, match="unsupported value of type object"):
        parse("matrix.when == 1").evaluate(contexts)
    with pytest.raises(ExpressionEvaluationError, match="unsupported value of type"):
        to_str(b"bytes")
    with pytest.raises(ExpressionEvaluationError, match="unsupported value of type"):
        truthy({1, 2})


def test_cyclic_and_deep_values_do_not_crash_to_json() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(ExpressionEvaluationError, match="nested deeper"):
        parse("toJSON(github)").evaluate({"github": cyclic})
    deep: Any = []
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ExpressionEvaluationError, match="nested deeper"):
        to_json(deep)
    assert parse("github.self.self.self == github").evaluate({"github": cyclic}) is True


def test_deep_json_input_is_an_error_not_a_crash() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ExpressionEvaluationError, match="fromJSON"):
        parse("fromJSON(github.text)").evaluate({"github": {"text": text}})


def test_results_are_capped() -> None:
    big = "x" * (MAX_RESULT_CHARS // 4 + 1)
    contexts = {"github": {"big": big, "many": [big] * 5}}
    with pytest.raises(ExpressionEvaluationError, match="maximum size"):
        parse("format('{0}{0}{0}{0}{0}', github.big)").evaluate(contexts)
    with pytest.raises(ExpressionEvaluationError, match="maximum size"):
        parse("join(github.many)").evaluate(contexts)
    with pytest.raises(ExpressionEvaluationError, match="maximum size"):
        parse_template("${{ github.big }}" * 5).render(contexts)
    # an if: mixing text and ${{ }} is a string too (GitHub formats it)
    with pytest.raises(ExpressionEvaluationError, match=r"^1:1: template result exceeds"):
        parse_condition("x ${{ github.big }}" * 5).evaluate(contexts)


def test_json_escapes_like_github() -> None:
    assert to_json('é\u2028\x01"\\') == '"é\\u2028\\u0001\\"\\\\"'
    assert to_json({"k": float("inf")}) == '{\n  "k": "Infinity"\n}'


def test_filter_results_come_back_as_plain_lists() -> None:
    value = parse("github.labels.*.name").evaluate({"github": {"labels": [{"name": "a"}]}})
    assert type(value) is list and value == ["a"]

"""Property tests: no input makes the parser or the evaluator crash (only
ExpressionError subclasses escape), and the algebra of the operators holds."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.expr import (
    ExpressionError,
    parse,
    parse_condition,
    parse_template,
    to_str,
    truthy,
)
from cairn.expr.values import loose_equal, to_json
from tests.unit.expr.cases import CONTEXTS, same

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that matter to the lexer, so random text reaches deep paths.
EXPRESSION_ALPHABET = st.sampled_from(
    [*"()[]{}.,*!<>=&|'\"$ \n\t-+0123456789eExXoab_", "github", "null", "true", "NaN", "${{", "}}"]
)
expression_like_text = st.lists(EXPRESSION_ALPHABET, max_size=40).map("".join)


def only_expression_errors(function: Any, text: str) -> None:
    try:
        function(text)
    except ExpressionError as error:
        assert error.line >= 1 and error.column >= 1
        assert str(error).startswith(f"{error.line}:{error.column}: ")


@SETTINGS
@given(st.one_of(st.text(max_size=200), expression_like_text))
def test_parsing_never_crashes(text: str) -> None:
    only_expression_errors(parse, text)
    only_expression_errors(parse_template, text)
    only_expression_errors(parse_condition, text)


# --- random well-formed expressions ------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


number_literals = st.sampled_from(
    ["0", "1", "-1", "1.5", "2.99e-2", "0xff", "NaN", "Infinity", "-Infinity", ".5", "1e308"]
)
string_literals = st.text(max_size=6).map(quote)
simple_literals = st.sampled_from(["null", "true", "false"])
names = st.sampled_from(["a", "b", "name", "id", "x-y", "_u", "A", "labels", "event"])
contexts = st.sampled_from(["github", "matrix", "needs", "env", "steps", "inputs", "vars"])


@st.composite
def json_literal(draw: Any) -> str:
    value = draw(json_values)
    return f"fromJSON({quote(json.dumps(value))})"


def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "&&", "||"])
    unary_functions = st.sampled_from(["toJSON", "fromJSON", "join", "format"])
    binary_functions = st.sampled_from(["contains", "startsWith", "endsWith", "join", "format"])
    return st.one_of(
        st.tuples(children, binary, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"!{c}"),
        st.tuples(unary_functions, children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(binary_functions, children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(children, names).map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(children, children).map(lambda t: f"({t[0]})[{t[1]}]"),
        children.map(lambda c: f"({c}).*"),
        st.tuples(st.text(alphabet="{}0123 ab", max_size=8), children).map(
            lambda t: f"format({quote(t[0])}, {t[1]})"
        ),
    )


paths = st.tuples(contexts, st.lists(names | st.just("*"), max_size=3)).map(
    lambda t: ".".join([t[0], *t[1]])
)
expressions = st.recursive(
    number_literals | string_literals | simple_literals | paths | json_literal(),
    extend,
    max_leaves=8,
)
random_contexts = st.dictionaries(
    st.sampled_from(["github", "matrix", "needs", "env", "steps", "inputs"]),
    json_values,
    max_size=6,
)


@SETTINGS
@given(expressions, random_contexts)
def test_evaluating_well_formed_expressions_never_crashes(text: str, ctx: dict[str, Any]) -> None:
    try:
        value = parse(text).evaluate(ctx)
    except ExpressionError:
        return  # e.g. fromJSON of a value that is not JSON, or a bad format string
    truthy(value)
    to_str(value)
    parse_template("x ${{ " + text + " }}").render(ctx)


@SETTINGS
@given(expressions)
def test_evaluation_against_realistic_contexts_never_crashes(text: str) -> None:
    for status in ("success", "failure", "cancelled"):
        with contextlib.suppress(ExpressionError):
            parse_condition(text).evaluate(CONTEXTS, status=status)


# --- algebra -------------------------------------------------------------------

literals = st.one_of(number_literals, string_literals, simple_literals, json_literal())


@SETTINGS
@given(literals, literals)
def test_equality_is_symmetric_and_not_equal_is_its_negation(left: str, right: str) -> None:
    equal = parse(f"{left} == {right}").evaluate({})
    assert equal is parse(f"{right} == {left}").evaluate({})
    assert parse(f"{left} != {right}").evaluate({}) is (not equal)


@SETTINGS
@given(literals, literals)
def test_order_is_consistent(left: str, right: str) -> None:
    def value(op: str, a: str, b: str) -> bool:
        result = parse(f"{a} {op} {b}").evaluate({})
        assert isinstance(result, bool)
        return result

    assert value("<", left, right) is value(">", right, left)
    assert value("<=", left, right) is (value("<", left, right) or value("==", left, right))
    assert value(">=", left, right) is (value(">", left, right) or value("==", left, right))
    assert not (value("<", left, right) and value(">", left, right))


@SETTINGS
@given(literals, literals)
def test_and_or_return_one_of_their_operands(left: str, right: str) -> None:
    a = parse(left).evaluate({})
    b = parse(right).evaluate({})
    for op, pick in (("&&", b if truthy(a) else a), ("||", a if truthy(a) else b)):
        result = parse(f"({left}) {op} ({right})").evaluate({})
        if isinstance(pick, list | dict):
            assert result == pick
        else:
            assert same(result, pick)


@SETTINGS
@given(json_values)
def test_to_json_round_trips_through_from_json(value: Any) -> None:
    text = to_json(value)
    back = parse(f"fromJSON({quote(text)})").evaluate({})
    assert text == to_json(back)


@SETTINGS
@given(st.floats(min_value=-1e308, max_value=1e308))
def test_rendered_numbers_read_back_as_the_same_number(number: float) -> None:
    rendered = to_str(number)
    # 15 significant digits, as GitHub prints numbers (so the largest doubles
    # round up to infinity, on GitHub too: hence the bounds).
    assert math.isclose(float(rendered), number, rel_tol=1e-14, abs_tol=0.0)
    assert loose_equal(rendered, float(rendered))


@SETTINGS
@given(st.text(max_size=60).filter(lambda t: "${{" not in t))
def test_text_without_expressions_is_a_literal_template(text: str) -> None:
    template = parse_template(text)
    assert template.is_literal
    assert template.render({}) == text == template.evaluate({})

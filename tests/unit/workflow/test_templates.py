"""``${{ }}`` delimiters: balance, string literals, empty expressions."""

from __future__ import annotations

from cairn.workflow.templates import has_expression, is_single_expression, scan


def test_balanced_expressions_are_split_out() -> None:
    spans, problems = scan("v${{ matrix.python }}-${{ runner.os }}")
    assert problems == []
    assert [s.body.strip() for s in spans] == ["matrix.python", "runner.os"]


def test_closing_braces_inside_a_string_literal_do_not_end_the_expression() -> None:
    spans, problems = scan("${{ format('{{0}} }}', 'x') }} tail")
    assert problems == []
    assert spans[0].body == " format('{{0}} }}', 'x') "


def test_escaped_quotes_inside_string_literals() -> None:
    spans, problems = scan("${{ 'it''s }}' == x }}")
    assert problems == []
    assert len(spans) == 1


def test_unclosed_and_empty_expressions_are_problems() -> None:
    _, problems = scan("echo ${{ matrix.os } and more")
    assert [p.message for p in problems] == ["unclosed expression: '${{' has no matching '}}'"]
    _, problems = scan("a ${{ }} b ${{ x }} c ${{")
    assert [(p.occurrence, p.message.split(":")[0]) for p in problems] == [
        (0, "empty expression '${{ }}'"),
        (2, "unclosed expression"),
    ]


def test_a_stray_closing_pair_is_literal_text() -> None:
    assert scan("echo }} done") == ([], [])


def test_single_expression_detection() -> None:
    assert is_single_expression("${{ matrix.os }}")
    assert is_single_expression("  ${{ fromJSON(needs.setup.outputs.matrix) }}\n")
    assert not is_single_expression("${{ a }}-${{ b }}")
    assert not is_single_expression("linux-${{ a }}")
    assert not is_single_expression("${{ a")
    assert has_expression("x ${{ y }}") and not has_expression("x { y }")

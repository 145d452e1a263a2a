"""The compiler's use of ``cairn.expr`` (the expression language).

Beyond checking that ``${{ }}`` delimiters balance, the compiler reports at
compile time:

- syntax errors inside expressions, at their line and column in the file;
- uses of contexts that GitHub does not make available where they appear
  (``secrets`` in ``runs-on``, ``steps`` in a job ``if``...);

and renders job names over ``matrix`` in the plan (``test (3.11)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn import expr
from cairn.workflow import templates

if TYPE_CHECKING:
    from cairn.workflow.reader import Reader
    from cairn.workflow.yamltree import Scalar


class _Unrendered:
    """Marks a value that could not be computed at plan time."""


UNRENDERED: Any = _Unrendered()


def _with_matrix(text: str, matrix: Mapping[str, Any], *, as_string: bool) -> Any:
    """``text`` (a template) evaluated with only the ``matrix`` context, or
    ``UNRENDERED`` when it needs anything else or fails."""
    try:
        template = expr.parse_template(text)
        if not set(template.contexts) <= {"matrix"}:
            return UNRENDERED
        contexts = {"matrix": dict(matrix)}
        return template.render(contexts) if as_string else template.evaluate(contexts)
    except expr.ExpressionError:
        return UNRENDERED


def render_with_matrix(text: str, matrix: Mapping[str, Any]) -> str | None:
    """``text`` rendered as a string with only the ``matrix`` context, or
    ``None`` when that is not possible at plan time."""
    rendered = _with_matrix(text, matrix, as_string=True)
    return None if rendered is UNRENDERED else str(rendered)


def evaluate_with_matrix(text: str, matrix: Mapping[str, Any]) -> Any:
    """The value of ``text`` with only the ``matrix`` context: the raw value for
    a single ``${{ }}``, else the rendered string; ``UNRENDERED`` when that is
    not possible at plan time."""
    return _with_matrix(text, matrix, as_string=False)


def check_expressions(
    reader: Reader, node: Scalar, value: str, place: str, *, condition: bool = False
) -> None:
    """Report syntax errors and unavailable contexts in ``value`` (from ``node``)."""
    try:
        parsed = expr.parse_condition(value) if condition else expr.parse_template(value)
    except expr.ExpressionError as exc:
        line, column = _locate(reader, node, value, exc, condition)
        reader.error_at(line, column, f"invalid expression: {_message(exc)}")
        return
    if place and place in expr.AVAILABILITY:
        try:
            expr.check_contexts(parsed, place)
        except expr.ContextNotAvailableError as exc:
            line, column = _locate(reader, node, value, exc, condition)
            reader.error_at(line, column, _message(exc))


def _message(exc: expr.ExpressionError) -> str:
    """An expression error's message without its own ``line:col:`` prefix."""
    return exc.message


def _locate(
    reader: Reader, node: Scalar, value: str, exc: expr.ExpressionError, condition: bool
) -> tuple[int, int]:
    """The file position of a syntax error reported at (line, column) of ``value``."""
    line, column = exc.line, exc.column
    lines = value.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
    offset = max(0, min(offset, len(value)))
    if condition and not templates.has_expression(value):
        # a bare condition: only a one-line plain scalar maps 1:1 onto the file
        if "\n" not in value and node.plain:
            return node.line, node.column + offset
        return node.line, node.column
    opened = value.rfind(templates.OPEN, 0, offset + 1)
    if opened == -1:
        return node.line, node.column
    occurrence = value.count(templates.OPEN, 0, opened)
    base_line, base_column = reader.source.locate_in(node, templates.OPEN, occurrence)
    if "\n" in value[opened:offset]:
        return base_line, base_column
    return base_line, base_column + (offset - opened)


def check_expressions_hook(
    reader: Reader, node: Scalar, value: str, place: str, condition: bool
) -> None:
    """``check_expressions`` in the shape of ``Reader.expression_check``."""
    check_expressions(reader, node, value, place, condition=condition)

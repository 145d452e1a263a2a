"""Where the ``${{ }}`` parts of a string are, and whether they balance.

The compiler keeps expressions as raw text; evaluating them is
``cairn.expr``'s job. Here it only needs where each expression starts and
ends, found by the same rule the expression language uses
(``cairn.expr.expression.expression_end``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.expr.expression import expression_end

OPEN = "${{"
CLOSE = "}}"


@dataclass(frozen=True, slots=True)
class ExpressionSpan:
    """One ``${{ ... }}``: ``start`` is the offset of ``${{``, ``end`` just past ``}}``."""

    start: int
    end: int
    body: str


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    #: offset of the ``${{`` the problem is about
    offset: int
    #: how many ``${{`` come before it in the string (to find it in the source)
    occurrence: int
    message: str


def has_expression(text: str) -> bool:
    return OPEN in text


def scan(text: str) -> tuple[list[ExpressionSpan], list[TemplateProblem]]:
    """Split out the expressions of ``text`` and report unbalanced or empty ones."""
    spans: list[ExpressionSpan] = []
    problems: list[TemplateProblem] = []
    pos = text.find(OPEN)
    occurrence = 0
    while pos != -1:
        close = expression_end(text, pos + len(OPEN))
        if close == -1:
            problems.append(
                TemplateProblem(
                    pos,
                    occurrence,
                    f"unclosed expression: {OPEN!r} has no matching {CLOSE!r}",
                )
            )
            break
        body = text[pos + len(OPEN) : close]
        if not body.strip():
            problems.append(TemplateProblem(pos, occurrence, "empty expression '${{ }}'"))
        spans.append(ExpressionSpan(pos, close + len(CLOSE), body))
        occurrence += text.count(OPEN, pos, close + len(CLOSE))
        pos = text.find(OPEN, close + len(CLOSE))
    return spans, problems


def is_single_expression(text: str) -> bool:
    """True when the whole string (whitespace aside) is exactly one ``${{ }}``."""
    stripped = text.strip()
    if not stripped.startswith(OPEN):
        return False
    spans, problems = scan(stripped)
    return not problems and len(spans) == 1 and spans[0].end == len(stripped)

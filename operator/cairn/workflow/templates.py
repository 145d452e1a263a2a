"""Where the ``${{ }}`` parts of a string are, and whether they balance.

The compiler keeps expressions as raw text; evaluating them is
``cairn.expr``'s job. It only has to know where each expression starts and
ends, the way GitHub's template reader finds them: an expression runs from
``${{`` to the first ``}}`` that is not inside a single-quoted string literal
(``''`` escapes a quote inside one).
"""

from __future__ import annotations

from dataclasses import dataclass

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
        close = _find_close(text, pos + len(OPEN))
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


def _find_close(text: str, pos: int) -> int:
    """Offset of the ``}}`` closing an expression whose body starts at ``pos``."""
    in_string = False
    n = len(text)
    while pos < n:
        ch = text[pos]
        if in_string:
            if ch == "'":
                if pos + 1 < n and text[pos + 1] == "'":
                    pos += 2
                    continue
                in_string = False
        elif ch == "'":
            in_string = True
        elif ch == "}" and text.startswith(CLOSE, pos):
            return pos
        pos += 1
    return -1

"""GitHub's filter patterns for branches, tags and paths.

From the "Filter pattern cheat sheet": ``*`` matches any characters but
``/``; ``**`` matches any characters; ``?`` and ``+`` make the *preceding*
character (or ``[]`` class) optional or repeatable; ``[]`` is a class of
characters and ``a-z``/``A-Z``/``0-9`` ranges; a leading ``!`` negates;
``\\`` escapes a special character. In a list, patterns apply in order and the
last one that matches decides, so ``!`` excludes what earlier patterns
included and a later positive pattern includes it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cairn.errors import CairnError

_SPECIAL = set("*?+[]!\\")
_RANGE_CLASSES = (("a", "z"), ("A", "Z"), ("0", "9"))


class FilterPatternError(CairnError):
    """A filter pattern is malformed; ``offset`` is where, in the pattern."""

    def __init__(self, pattern: str, offset: int, message: str) -> None:
        super().__init__(f"invalid filter pattern {pattern!r}: {message}")
        self.pattern = pattern
        self.offset = offset
        self.message = message


@dataclass(frozen=True, slots=True)
class Pattern:
    source: str
    negated: bool
    regex: re.Pattern[str]

    def matches(self, value: str) -> bool:
        return self.regex.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def compile_pattern(source: str) -> Pattern:
    """Compile one pattern; raises ``FilterPatternError`` when it is malformed."""
    if not source:
        raise FilterPatternError(source, 0, "a pattern must not be empty")
    negated = source.startswith("!")
    pos = 1 if negated else 0
    if negated and pos == len(source):
        raise FilterPatternError(source, 0, "'!' must be followed by a pattern")
    out: list[str] = []
    #: whether the last emitted item can take a ``?``/``+`` quantifier
    quantifiable = False
    n = len(source)
    while pos < n:
        ch = source[pos]
        if ch == "\\" and pos + 1 < n and source[pos + 1] in _SPECIAL:
            out.append(re.escape(source[pos + 1]))
            quantifiable = True
            pos += 2
        elif ch == "*":
            if source.startswith("**", pos):
                if source.startswith("**/", pos):
                    # "**/x" also matches "x" at the top level
                    out.append("(?:.*/)?")
                    pos += 3
                else:
                    out.append(".*")
                    pos += 2
            else:
                out.append("[^/]*")
                pos += 1
            quantifiable = False
        elif ch in "?+":
            if not quantifiable:
                what = "the start of a pattern" if pos == (1 if negated else 0) else "a wildcard"
                raise FilterPatternError(
                    source,
                    pos,
                    f"{ch!r} repeats the preceding character and cannot follow {what}; "
                    f"escape it as '\\{ch}' to match it literally",
                )
            out.append(ch)
            quantifiable = False
            pos += 1
        elif ch == "[":
            regex, pos = _character_class(source, pos)
            out.append(regex)
            quantifiable = True
        else:
            out.append(re.escape(ch))
            quantifiable = True
            pos += 1
    return Pattern(source, negated, re.compile("".join(out)))


def _character_class(source: str, start: int) -> tuple[str, int]:
    pos = start + 1
    parts: list[str] = []
    n = len(source)
    while pos < n and source[pos] != "]":
        ch = source[pos]
        if ch == "\\" and pos + 1 < n:
            parts.append(re.escape(source[pos + 1]))
            pos += 2
            continue
        if pos + 2 < n and source[pos + 1] == "-" and source[pos + 2] != "]":
            low, high = ch, source[pos + 2]
            if not any(a <= low <= high <= b for a, b in _RANGE_CLASSES):
                raise FilterPatternError(
                    source,
                    pos,
                    f"invalid range {low}-{high}: ranges go up within a-z, A-Z or 0-9",
                )
            parts.append(f"{re.escape(low)}-{re.escape(high)}")
            pos += 3
            continue
        parts.append(re.escape(ch))
        pos += 1
    if pos >= n:
        raise FilterPatternError(source, start, "'[' without a matching ']'")
    if not parts:
        raise FilterPatternError(source, start, "'[]' must list at least one character")
    return "[" + "".join(parts) + "]", pos + 1


def compile_patterns(sources: Iterable[str]) -> tuple[Pattern, ...]:
    return tuple(compile_pattern(s) for s in sources)


def match_ordered(patterns: Sequence[Pattern], value: str) -> bool:
    """Whether ``value`` is selected by an ordered list with ``!`` negations."""
    selected = False
    for pattern in patterns:
        if pattern.negated == selected and pattern.matches(value):
            selected = not pattern.negated
    return selected

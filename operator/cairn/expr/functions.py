"""The built-in functions, as GitHub documents them.

Each builder receives the compiled arguments and returns the compiled call.
Arguments are evaluated lazily where GitHub's runner evaluates them lazily
(``format`` evaluates only the arguments it references, ``join`` reads its
separator only when there are two items or more), which matters only for
which error, if any, an expression raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cairn.expr.errors import ExpressionEvaluationError
from cairn.expr.hashfiles import hash_files
from cairn.expr.values import (
    ARRAY,
    BOOL,
    KIND_NAMES,
    STRING,
    bounded_join,
    fold,
    from_json,
    github_string,
    kind_of,
    loose_equal,
    to_json,
)


class Scope:
    """What one evaluation reads: the contexts, the status, the workspace."""

    __slots__ = ("contexts", "status", "workspace")

    def __init__(self, contexts: Any, status: str, workspace: str | None) -> None:
        self.contexts = contexts
        self.status = status
        self.workspace = workspace


Compiled = Callable[[Scope], Any]


class FormatStringError(Exception):
    """A malformed ``format`` string (raised at evaluation, as GitHub does)."""


# A parsed format string: literal text, or (argument index, format specifiers).
Segment = str | tuple[int, str]


def parse_format(text: str, argument_count: int) -> list[Segment]:
    """Split a ``format`` string into literal text and ``{N}`` references.

    ``{{`` and ``}}`` are escaped braces; a brace that starts no valid
    reference is an error, and so is a reference to a missing argument."""
    segments: list[Segment] = []
    index = 0
    length = len(text)
    while index < length:
        left = text.find("{", index)
        right = text.find("}", index)
        if left >= 0 and (right < 0 or right > left):
            if left + 1 < length and text[left + 1] == "{":
                segments.append(text[index : left + 1])
                index = left + 2
                continue
            cursor = left + 1
            while cursor < length and "0" <= text[cursor] <= "9":
                cursor += 1
            if cursor == left + 1 or right <= left + 1 or int(text[left + 1 : cursor]) > 255:
                raise FormatStringError(f"format(): the format string is invalid: '{text}'")
            argument = int(text[left + 1 : cursor])
            specifiers, close = _read_specifiers(text, cursor)
            if close < 0:
                raise FormatStringError(f"format(): the format string is invalid: '{text}'")
            if argument >= argument_count:
                raise FormatStringError(
                    "format(): the format string references more arguments than were "
                    f"supplied: '{text}'"
                )
            if left > index:
                segments.append(text[index:left])
            segments.append((argument, specifiers))
            index = close + 1
        elif right >= 0:
            if right + 1 < length and text[right + 1] == "}":
                segments.append(text[index : right + 1])
                index = right + 2
            else:
                raise FormatStringError(f"format(): the format string is invalid: '{text}'")
        else:
            segments.append(text[index:])
            break
    return segments


def _read_specifiers(text: str, start: int) -> tuple[str, int]:
    """Read ``:spec}`` (or just ``}``) at ``start``: (specifiers, index of the brace)."""
    if start < len(text) and text[start] == "}":
        return "", start
    if start >= len(text) or text[start] != ":":
        return "", -1
    chunks: list[str] = []
    index = start + 1
    while index < len(text):
        c = text[index]
        if c != "}":
            chunks.append(c)
            index += 1
        elif index + 1 < len(text) and text[index + 1] == "}":
            chunks.append("}")
            index += 2
        else:
            return "".join(chunks), index
    return "", -1


def render_format(segments: list[Segment], arguments: list[Compiled], scope: Scope) -> str:
    cache: dict[int, Any] = {}

    def pieces() -> Iterator[str]:
        for segment in segments:
            if isinstance(segment, str):
                yield segment
                continue
            argument, specifiers = segment
            if argument not in cache:
                cache[argument] = arguments[argument](scope)
            value = cache[argument]
            if specifiers:
                raise ExpressionEvaluationError(
                    f"format(): format specifiers ('{specifiers}') are not supported "
                    f"for a value of type {KIND_NAMES[kind_of(value)]}"
                )
            yield github_string(value)

    return bounded_join(pieces(), "format()")


# --- builders ----------------------------------------------------------------


def build_format(args: list[Compiled], literal_format: str | None) -> Compiled:
    first, rest = args[0], args[1:]
    if literal_format is not None:
        # The usual case: parse the format string once, at compile time. An
        # invalid one still fails only when evaluated, as on GitHub.
        try:
            parsed: list[Segment] | FormatStringError = parse_format(literal_format, len(rest))
        except FormatStringError as exc:
            parsed = exc

        def format_literal(scope: Scope) -> str:
            if isinstance(parsed, FormatStringError):
                raise ExpressionEvaluationError(str(parsed))
            return render_format(parsed, rest, scope)

        return format_literal

    def format_dynamic(scope: Scope) -> str:
        text = github_string(first(scope))
        try:
            segments = parse_format(text, len(rest))
        except FormatStringError as exc:
            raise ExpressionEvaluationError(str(exc)) from None
        return render_format(segments, rest, scope)

    return format_dynamic


def build_contains(args: list[Compiled]) -> Compiled:
    search, item = args

    def contains(scope: Scope) -> bool:
        haystack = search(scope)
        kind = kind_of(haystack)
        if kind <= STRING:
            needle = item(scope)
            needle_kind = kind_of(needle)
            if needle_kind > STRING:
                return False
            return fold(github_string(needle, needle_kind)) in fold(github_string(haystack, kind))
        if kind == ARRAY and len(haystack) > 0:
            needle = item(scope)
            return any(loose_equal(needle, element) for element in haystack)
        return False

    return contains


def _build_affix(args: list[Compiled], at_start: bool) -> Compiled:
    subject, affix = args

    def affix_test(scope: Scope) -> bool:
        text = subject(scope)
        kind = kind_of(text)
        if kind > STRING:
            return False
        part = affix(scope)
        part_kind = kind_of(part)
        if part_kind > STRING:
            return False
        folded_text = fold(github_string(text, kind))
        folded_part = fold(github_string(part, part_kind))
        if at_start:
            return folded_text.startswith(folded_part)
        return folded_text.endswith(folded_part)

    return affix_test


def build_starts_with(args: list[Compiled]) -> Compiled:
    return _build_affix(args, at_start=True)


def build_ends_with(args: list[Compiled]) -> Compiled:
    return _build_affix(args, at_start=False)


def build_join(args: list[Compiled]) -> Compiled:
    items_of = args[0]
    separator_of = args[1] if len(args) > 1 else None

    def join(scope: Scope) -> str:
        items = items_of(scope)
        kind = kind_of(items)
        if kind <= STRING:
            return github_string(items, kind)
        if kind != ARRAY or len(items) == 0:
            return ""
        separator = ","
        if len(items) > 1 and separator_of is not None:
            value = separator_of(scope)
            value_kind = kind_of(value)
            if value_kind <= STRING:
                separator = github_string(value, value_kind)
        pieces = (
            github_string(element) if position == 0 else separator + github_string(element)
            for position, element in enumerate(items)
        )
        return bounded_join(pieces, "join()")

    return join


def build_case(args: list[Compiled]) -> Compiled:
    """``case(pred1, value1, ..., default)``: the value of the first true
    predicate, else the default. Only the chosen value is evaluated."""
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    default = args[-1]

    def case(scope: Scope) -> Any:
        for number, (predicate, value) in enumerate(pairs, 1):
            decision = predicate(scope)
            kind = kind_of(decision)
            if kind != BOOL:
                raise ExpressionEvaluationError(
                    f"case(): predicate {number} must be a boolean, not {KIND_NAMES[kind]}"
                )
            if decision:
                return value(scope)
        return default(scope)

    return case


def build_to_json(args: list[Compiled]) -> Compiled:
    (value_of,) = args

    def to_json_call(scope: Scope) -> str:
        return to_json(value_of(scope))

    return to_json_call


def build_from_json(args: list[Compiled]) -> Compiled:
    (text_of,) = args

    def from_json_call(scope: Scope) -> Any:
        return from_json(github_string(text_of(scope)))

    return from_json_call


def build_hash_files(args: list[Compiled]) -> Compiled:
    def hash_files_call(scope: Scope) -> str:
        if scope.workspace is None:
            raise ExpressionEvaluationError(
                "hashFiles() needs a workspace: it is only available where a job's "
                "files are (steps)"
            )
        patterns = [github_string(argument(scope)) for argument in args]
        return hash_files(scope.workspace, patterns)

    return hash_files_call


def _status_is(expected: str) -> Compiled:
    def status_test(scope: Scope) -> bool:
        return scope.status == expected

    return status_test


def _always(scope: Scope) -> bool:
    return True


BUILDERS: dict[str, Callable[[list[Compiled]], Compiled]] = {
    "contains": build_contains,
    "startswith": build_starts_with,
    "endswith": build_ends_with,
    "join": build_join,
    "case": build_case,
    "tojson": build_to_json,
    "fromjson": build_from_json,
    "hashfiles": build_hash_files,
    "success": lambda args: _status_is("success"),
    "failure": lambda args: _status_is("failure"),
    "cancelled": lambda args: _status_is("cancelled"),
    "always": lambda args: _always,
}

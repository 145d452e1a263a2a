"""Parsed expressions and templates: parse once, evaluate many times.

``parse``, ``parse_condition`` and ``parse_template`` are cached on their
source text, and the objects they return are immutable, so a workflow that
evaluates the same ``if:`` for every matrix instance parses it once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, Literal, get_args

from cairn.expr.ast import Call, Concat, ContextRef, Logical, Node, walk
from cairn.expr.availability import (
    AVAILABILITY,
    SPECIAL_FUNCTION_AVAILABILITY,
    SPECIAL_FUNCTIONS,
)
from cairn.expr.compiler import compile_tree
from cairn.expr.errors import (
    ContextNotAvailableError,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    UnknownPlaceError,
    position_of,
)
from cairn.expr.functions import Compiled, Scope
from cairn.expr.parser import STATUS_FUNCTIONS, parse_tree
from cairn.expr.values import bounded_join, github_string, plain

#: What success()/failure()/cancelled() read. "skipped" makes all three false:
#: the status of a job-level ``if`` whose ancestors include a skipped or
#: cancelled job but no failure (added for the engine; GitHub evaluates it so).
Status = Literal["success", "failure", "cancelled", "skipped"]
_STATUSES: Final = frozenset(get_args(Status))
_OPEN: Final = "${{"
_CLOSE: Final = "}}"

# A reference found in the source: (name, line, column).
_Ref = tuple[str, int, int]


def _scope(contexts: Mapping[str, Any], status: str, workspace: Any) -> Scope:
    if not isinstance(contexts, Mapping):
        raise ExpressionEvaluationError(
            f"contexts must be a mapping of context names to values, not {type(contexts).__name__}"
        )
    if status not in _STATUSES:
        raise ExpressionEvaluationError(
            f"status must be one of {', '.join(sorted(_STATUSES))}, not {status!r}"
        )
    return Scope(contexts, status, None if workspace is None else os.fspath(workspace))


class Expression:
    """A parsed expression, ready to evaluate against contexts."""

    __slots__ = (
        "_compiled",
        "_context_refs",
        "_function_refs",
        "_position",
        "contexts",
        "source",
        "uses_status_function",
    )

    source: str
    contexts: frozenset[str]
    uses_status_function: bool

    def __init__(self, node: Node, source: str, positions: str, *, condition: bool = False) -> None:
        """``source`` is the expression text; ``positions`` the text that error
        positions refer to (the whole template for a part of a template)."""
        nodes = walk(node)
        self._context_refs: tuple[_Ref, ...] = tuple(
            (n.name, *position_of(positions, n.pos)) for n in nodes if isinstance(n, ContextRef)
        )
        self._function_refs: tuple[_Ref, ...] = tuple(
            (n.name, *position_of(positions, n.pos)) for n in nodes if isinstance(n, Call)
        )
        self.source = source
        self.contexts = frozenset(name for name, _, _ in self._context_refs)
        self.uses_status_function = any(
            name in STATUS_FUNCTIONS for name, _, _ in self._function_refs
        )
        if condition and not self.uses_status_function:
            # GitHub: an `if` without a status function means `success() && (<if>)`.
            node = Logical(node.pos, "&&", (Call(node.pos, "success", "success", ()), node))
        self._position = position_of(positions, node.pos)
        self._compiled: Compiled = compile_tree(node, positions)

    def evaluate(
        self,
        contexts: Mapping[str, Any],
        *,
        status: Status = "success",
        workspace: str | os.PathLike[str] | None = None,
    ) -> Any:
        """The value of the expression. ``contexts`` maps context names
        (``github``, ``matrix``...) to JSON-like values; ``status`` is what
        ``success()``/``failure()``/``cancelled()`` read; ``workspace`` is the
        directory ``hashFiles()`` reads."""
        return self._run(_scope(contexts, status, workspace))

    def _run(self, scope: Scope) -> Any:
        try:
            return plain(self._compiled(scope))
        except ExpressionEvaluationError as exc:
            if exc.located:
                raise
            raise ExpressionEvaluationError(exc.message, *self._position) from None
        except RecursionError:
            raise ExpressionEvaluationError(
                "a value is nested too deeply to evaluate", *self._position
            ) from None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


class Template:
    """A string with zero or more ``${{ }}`` parts."""

    __slots__ = ("_parts", "_single", "contexts", "is_literal", "is_single_expression", "source")

    source: str
    contexts: frozenset[str]
    is_literal: bool
    is_single_expression: bool

    def __init__(self, source: str, parts: list[str | Expression]) -> None:
        self.source = source
        self._parts = tuple(parts)
        expressions = [p for p in parts if isinstance(p, Expression)]
        self.is_literal = not expressions
        self.is_single_expression = len(expressions) == 1 and all(
            isinstance(p, Expression) or not p.strip() for p in parts
        )
        self._single = expressions[0] if self.is_single_expression else None
        self.contexts = frozenset().union(*(e.contexts for e in expressions))

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """The ``${{ }}`` parts, in order."""
        return tuple(p for p in self._parts if isinstance(p, Expression))

    def evaluate(
        self,
        contexts: Mapping[str, Any],
        *,
        status: Status = "success",
        workspace: str | os.PathLike[str] | None = None,
    ) -> Any:
        """The raw value when the template is exactly one expression (so
        ``${{ fromJSON('[1,2]') }}`` is a list), else the rendered string."""
        if self.is_literal:
            return self.source
        if self._single is not None:
            return self._single._run(_scope(contexts, status, workspace))
        return self.render(contexts, status=status, workspace=workspace)

    def render(
        self,
        contexts: Mapping[str, Any],
        *,
        status: Status = "success",
        workspace: str | os.PathLike[str] | None = None,
    ) -> str:
        """The template as a string, each value rendered as GitHub renders it."""
        if self.is_literal:
            return self.source
        scope = _scope(contexts, status, workspace)
        pieces = (
            part if isinstance(part, str) else github_string(part._run(scope))
            for part in self._parts
        )
        return bounded_join(pieces, "template")

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


# --- templates -----------------------------------------------------------------


def expression_end(text: str, body_start: int) -> int:
    """Offset of the ``}}`` that closes an expression whose body starts at
    ``body_start``, or -1. Like GitHub, a ``}}`` inside a single-quoted string
    (where ``''`` is an escaped quote) does not close the expression."""
    in_string = False
    cursor = body_start
    n = len(text)
    while cursor < n:
        c = text[cursor]
        if c == "'":
            # an escaped quote ('') toggles twice, leaving the state as it was
            in_string = not in_string
        elif c == "}" and not in_string and text.startswith(_CLOSE, cursor):
            return cursor
        cursor += 1
    return -1


def split_template(text: str) -> list[str | tuple[int, int]]:
    """Split ``text`` into literal text and the (start, end) offsets of the
    inside of each ``${{ }}``."""
    parts: list[str | tuple[int, int]] = []
    index = 0
    while True:
        start = text.find(_OPEN, index)
        if start < 0:
            if index < len(text):
                parts.append(text[index:])
            return parts
        if start > index:
            parts.append(text[index:start])
        end = expression_end(text, start + len(_OPEN))
        if end < 0:
            line, column = position_of(text, start)
            raise ExpressionSyntaxError(
                "the expression is not closed: '${{' without a matching '}}'", line, column
            )
        parts.append((start + len(_OPEN), end))
        index = end + len(_CLOSE)


def _template_parts(text: str) -> list[str | Expression]:
    parts: list[str | Expression] = []
    for part in split_template(text):
        if isinstance(part, str):
            parts.append(part)
        else:
            start, end = part
            node = parse_tree(text, start, end)
            parts.append(Expression(node, text[start:end].strip(), text))
    return parts


# --- the public parse functions ------------------------------------------------


def _require_text(text: object, what: str) -> str:
    if type(text) is not str:
        raise ExpressionSyntaxError(f"{what} must be a string, not {type(text).__name__}")
    return text


@lru_cache(maxsize=4096)
def _parse(text: str) -> Expression:
    return Expression(parse_tree(text), text, text)


@lru_cache(maxsize=4096)
def _parse_template(text: str) -> Template:
    return Template(text, _template_parts(text))


@lru_cache(maxsize=4096)
def _parse_condition(text: str) -> Expression:
    if not text.strip():
        # GitHub: an empty `if` is `success()`.
        return Expression(Call(0, "success", "success", ()), text, text, condition=True)
    if _OPEN not in text:
        return Expression(parse_tree(text), text, text, condition=True)
    parts = _template_parts(text)
    template = Template(text, parts)
    if template._single is not None:
        start, end = next(p for p in split_template(text) if not isinstance(p, str))
        return Expression(parse_tree(text, start, end), text, text, condition=True)
    # Text around ${{ }}: GitHub renders it with format(), a string, which is
    # true unless empty. Faithful, though rarely what the author meant.
    concat_parts: list[str | Node] = []
    for part in split_template(text):
        if isinstance(part, str):
            concat_parts.append(part)
        else:
            concat_parts.append(parse_tree(text, *part))
    return Expression(Concat(0, tuple(concat_parts)), text, text, condition=True)


def parse(text: str) -> Expression:
    """A bare expression (no ``${{ }}``); raises ExpressionSyntaxError."""
    return _parse(_require_text(text, "an expression"))


def parse_template(text: str) -> Template:
    """A string with zero or more ``${{ }}`` parts; raises ExpressionSyntaxError."""
    return _parse_template(_require_text(text, "a template"))


def parse_condition(text: str) -> Expression:
    """An ``if:`` value: ``${{ }}`` is optional, and without a status function
    it behaves as ``success() && (<expr>)``. Empty means ``success()``."""
    return _parse_condition(_require_text(text, "a condition"))


# --- availability --------------------------------------------------------------


def check_contexts(expr: Expression | Template, place: str) -> None:
    """Raise ContextNotAvailableError if ``expr`` uses a context (or a special
    function: ``hashFiles``, the status functions) that GitHub does not make
    available at the workflow key ``place`` (a key of ``AVAILABILITY``)."""
    allowed = AVAILABILITY.get(place)
    if allowed is None:
        raise UnknownPlaceError(
            f"unknown workflow key '{place}' (known keys: {', '.join(sorted(AVAILABILITY))})"
        )
    expressions = expr.expressions if isinstance(expr, Template) else (expr,)
    functions_allowed = SPECIAL_FUNCTION_AVAILABILITY.get(place, frozenset())
    for expression in expressions:
        for name, line, column in expression._context_refs:
            if name not in allowed:
                raise ContextNotAvailableError(
                    f"context '{name}' is not available in {place} "
                    f"(available: {', '.join(sorted(allowed))})",
                    line,
                    column,
                )
        for name, line, column in expression._function_refs:
            if name in SPECIAL_FUNCTIONS and name not in functions_allowed:
                spelled = {"hashfiles": "hashFiles"}.get(name, name)
                raise ContextNotAvailableError(
                    f"function {spelled}() is not available in {place}", line, column
                )

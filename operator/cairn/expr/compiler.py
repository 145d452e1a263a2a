"""Compiles a syntax tree into nested closures.

Parsing happens once per distinct source; evaluation happens for every job,
matrix instance and step, so the tree is turned into plain Python closures
that do no dispatch on node types at evaluation time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.expr.ast import (
    Call,
    Comparison,
    Concat,
    ContextRef,
    Filter,
    Index,
    Literal,
    Logical,
    Node,
    Not,
    Property,
)
from cairn.expr.errors import ExpressionEvaluationError, position_of
from cairn.expr.functions import BUILDERS, Compiled, Scope, build_format
from cairn.expr.values import (
    ARRAY,
    OBJECT,
    STRING,
    FilteredArray,
    bounded_join,
    compare,
    fold,
    github_string,
    kind_of,
    loose_equal,
    to_number,
    truthy,
)

_MISSING: Any = object()
_INT32_MAX = 2**31 - 1


# --- property access -----------------------------------------------------------


def lookup(mapping: Mapping[Any, Any], key: str) -> Any:
    """``mapping[key]`` ignoring case (GitHub's objects are case-insensitive),
    or ``_MISSING``."""
    value = mapping.get(key, _MISSING)
    if value is _MISSING:
        folded = fold(key)
        for name, candidate in mapping.items():
            if type(name) is str and fold(name) == folded:
                return candidate
    return value


def _array_index(key: Any) -> int | None:
    """An index as an array position: floored; None when negative, NaN or huge."""
    number = to_number(key)
    if number != number or number < 0 or number > _INT32_MAX + 1:
        return None
    position = int(number)
    return position if position <= _INT32_MAX else None


def get_property(target: Any, name: str) -> Any:
    """``target.name``."""
    if type(target) is dict:
        value = target.get(name, _MISSING)
        if value is _MISSING:
            value = lookup(target, name)
        return None if value is _MISSING else value
    if type(target) is FilteredArray:
        return filter_index(target, name)
    if kind_of(target) == OBJECT:
        value = lookup(target, name)
        return None if value is _MISSING else value
    # Arrays have no named properties; scalars none at all.
    return None


def get_index(target: Any, key: Any) -> Any:
    """``target[key]``."""
    if type(target) is FilteredArray:
        return filter_index(target, key)
    kind = kind_of(target)
    if kind == OBJECT:
        key_kind = kind_of(key)
        if key_kind > STRING:
            return None
        value = lookup(target, github_string(key, key_kind))
        return None if value is _MISSING else value
    if kind == ARRAY:
        position = _array_index(key)
        if position is None or position >= len(target):
            return None
        return target[position]
    return None


def filter_index(items: FilteredArray, key: Any) -> FilteredArray:
    """An index applied to a filter result applies to each element and keeps
    what exists: ``labels.*.name`` is the name of every label that has one."""
    result = FilteredArray()
    key_kind = kind_of(key)
    name = github_string(key, key_kind) if key_kind <= STRING else None
    position: int | None = None
    position_known = False
    for element in items:
        kind = kind_of(element)
        if kind == OBJECT:
            if name is not None:
                value = lookup(element, name)
                if value is not _MISSING:
                    result.append(value)
        elif kind == ARRAY:
            if not position_known:
                position, position_known = _array_index(key), True
            if position is not None and position < len(element):
                result.append(element[position])
    return result


def filter_all(target: Any) -> FilteredArray:
    """``target.*``: the values of an object, the elements of an array."""
    if type(target) is FilteredArray:
        result = FilteredArray()
        for element in target:
            kind = kind_of(element)
            if kind == OBJECT:
                result.extend(element.values())
            elif kind == ARRAY:
                result.extend(element)
        return result
    kind = kind_of(target)
    if kind == OBJECT:
        return FilteredArray(target.values())
    if kind == ARRAY:
        return FilteredArray(target)
    return FilteredArray()


# --- compilation -------------------------------------------------------------


class Compiler:
    def __init__(self, source: str) -> None:
        self.source = source

    def error_at(self, node: Node, message: str) -> ExpressionEvaluationError:
        line, column = position_of(self.source, node.pos)
        return ExpressionEvaluationError(message, line, column)

    def compile(self, node: Node) -> Compiled:
        method = getattr(self, f"_compile_{type(node).__name__.lower()}")
        compiled: Compiled = method(node)
        return compiled

    def _compile_literal(self, node: Literal) -> Compiled:
        value = node.value
        return lambda scope: value

    def _compile_contextref(self, node: ContextRef) -> Compiled:
        name = node.name

        def context(scope: Scope) -> Any:
            contexts = scope.contexts
            value = contexts.get(name, _MISSING)
            if value is _MISSING:
                value = lookup(contexts, name)
            return None if value is _MISSING else value

        return context

    def _compile_property(self, node: Property) -> Compiled:
        target = self.compile(node.target)
        name = node.name

        def prop(scope: Scope) -> Any:
            value = target(scope)
            if type(value) is dict:
                # The hot path: contexts are dicts and names are spelled right.
                found = value.get(name, _MISSING)
                if found is not _MISSING:
                    return found
            return get_property(value, name)

        return prop

    def _compile_index(self, node: Index) -> Compiled:
        target = self.compile(node.target)
        index = self.compile(node.index)
        return lambda scope: get_index(target(scope), index(scope))

    def _compile_filter(self, node: Filter) -> Compiled:
        target = self.compile(node.target)
        return lambda scope: filter_all(target(scope))

    def _compile_not(self, node: Not) -> Compiled:
        operand = self.compile(node.operand)
        return lambda scope: not truthy(operand(scope))

    def _compile_logical(self, node: Logical) -> Compiled:
        operands = [self.compile(o) for o in node.operands]
        if node.op == "&&":

            def and_(scope: Scope) -> Any:
                value = None
                for operand in operands:
                    value = operand(scope)
                    if not truthy(value):
                        return value
                return value

            return and_

        def or_(scope: Scope) -> Any:
            value = None
            for operand in operands:
                value = operand(scope)
                if truthy(value):
                    return value
            return value

        return or_

    def _compile_comparison(self, node: Comparison) -> Compiled:
        left = self.compile(node.left)
        right = self.compile(node.right)
        op = node.op
        if op == "==":
            return lambda scope: loose_equal(left(scope), right(scope))
        if op == "!=":
            return lambda scope: not loose_equal(left(scope), right(scope))
        accepted = {"<": (-1,), "<=": (-1, 0), ">": (1,), ">=": (1, 0)}[op]
        return lambda scope: compare(left(scope), right(scope)) in accepted

    def _compile_call(self, node: Call) -> Compiled:
        args = [self.compile(a) for a in node.args]
        if node.name == "format":
            first = node.args[0]
            literal = (
                first.value if isinstance(first, Literal) and type(first.value) is str else None
            )
            inner = build_format(args, literal)
        else:
            inner = BUILDERS[node.name](args)
        line, column = position_of(self.source, node.pos)

        def call(scope: Scope) -> Any:
            try:
                return inner(scope)
            except ExpressionEvaluationError as exc:
                if exc.located:
                    raise
                # Raised below without a position: it belongs to this call.
                raise ExpressionEvaluationError(exc.message, line, column) from None

        return call

    def _compile_concat(self, node: Concat) -> Compiled:
        parts: list[str | Compiled] = [
            p if isinstance(p, str) else self.compile(p) for p in node.parts
        ]

        def concat(scope: Scope) -> str:
            pieces = (p if isinstance(p, str) else github_string(p(scope)) for p in parts)
            return bounded_join(pieces, "template")

        return concat


def compile_tree(node: Node, source: str) -> Compiled:
    return Compiler(source).compile(node)

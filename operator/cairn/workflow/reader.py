"""Typed reads of YAML nodes that record a diagnostic instead of raising.

Every helper returns ``None`` (or an empty value) after recording what was
wrong, so the compiler keeps going and reports all the problems of a file at
once. Scalars become strings the way GitHub converts them (``3.10`` → ``3.1``,
``true`` → ``true``, null → ``""``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection
from collections.abc import Mapping as AbcMapping
from typing import Any

from cairn.workflow import templates
from cairn.workflow.errors import Diagnostic
from cairn.workflow.vocabulary import IDENTIFIER, IDENTIFIER_RULE
from cairn.workflow.yamltree import (
    Mapping,
    Node,
    Scalar,
    ScalarValue,
    Sequence,
    SourceText,
    scalar_as_text,
)

#: an expression check hook (reader, node, text, place, condition) -> None, installed
#: when ``cairn.expr`` is available (see ``exprsupport``)
ExpressionCheck = Callable[["Reader", Scalar, str, str, bool], None]


#: ``<<``, YAML 1.1's merge key, which GitHub rejects
MERGE_KEY = "<<"


def describe(node: Node) -> str:
    """How a node's type is named in messages."""
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, Sequence):
        return "a sequence"
    assert isinstance(node, Scalar)
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {format_number(value)}"
    return f"the string {value!r}"


def format_number(value: int | float) -> str:
    """A number as GitHub renders it: integral values without a fraction."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def scalar_text(value: ScalarValue) -> str:
    """A YAML scalar converted to a string, as GitHub does where a string is expected."""
    return scalar_as_text(value, format_number)


def suggestion(name: str, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Reader:
    """Collects diagnostics for one file while its nodes are read."""

    def __init__(self, file: str, source: SourceText) -> None:
        self.file = file
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.expression_check: ExpressionCheck | None = None

    # -- reporting -------------------------------------------------------------

    def error(self, node: Node, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.file, node.line, node.column, message))

    def error_at(self, line: int, column: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.file, line, column, message))

    # -- structure -------------------------------------------------------------

    def mapping(self, node: Node, where: str) -> Mapping | None:
        if isinstance(node, Mapping):
            return node
        self.error(node, f"{where} must be a mapping, not {describe(node)}")
        return None

    def sequence(self, node: Node, where: str) -> Sequence | None:
        if isinstance(node, Sequence):
            return node
        self.error(node, f"{where} must be a sequence, not {describe(node)}")
        return None

    def fields(
        self,
        mapping: Mapping,
        allowed: Collection[str],
        where: str,
        *,
        required: Collection[str] = (),
        unsupported: AbcMapping[str, str] | None = None,
        hint: Callable[[str], str | None] | None = None,
    ) -> dict[str, Node]:
        """The known keys of ``mapping``; unknown ones are reported with a suggestion.

        ``hint(key)`` may give a more specific message for a key that is not
        allowed here (for example a step key only valid with ``run``).
        """
        found: dict[str, Node] = {}
        for name, key, value in mapping.items():
            if name in allowed:
                found[name] = value
            elif name == MERGE_KEY and key.plain:
                continue  # the YAML reader reports merge keys
            elif unsupported and name in unsupported:
                self.error(key, unsupported[name])
            else:
                specific = hint(name) if hint else None
                if specific:
                    self.error(key, specific)
                else:
                    hint_text = suggestion(name, allowed)
                    if not hint_text:
                        expected = ", ".join(repr(a) for a in allowed)
                        hint_text = f" (expected one of {expected})" if expected else ""
                    self.error(key, f"unknown key {name!r} in {where}{hint_text}")
        for name in required:
            if name not in found:
                self.error(mapping, f"{where} is missing the required key {name!r}")
        return found

    # -- scalars ---------------------------------------------------------------

    def text(
        self,
        node: Node,
        where: str,
        *,
        expressions: bool = True,
        place: str | None = None,
        non_empty: bool = False,
        condition: bool = False,
    ) -> str | None:
        """A string value. ``place`` names the context-availability row for expressions;
        ``condition`` marks an ``if:`` (an expression even without ``${{ }}``)."""
        if not isinstance(node, Scalar):
            self.error(node, f"{where} must be a string, not {describe(node)}")
            return None
        value = scalar_text(node.value)
        if non_empty and not value.strip():
            self.error(node, f"{where} must not be empty")
            return None
        self.check_template(
            node, value, where, expressions=expressions, place=place, condition=condition
        )
        return value

    def shorthand(
        self, node: Node, where: str, allowed: Collection[str], main: str, *, place: str
    ) -> tuple[str | None, dict[str, Node]] | None:
        """A section written either as its ``main`` string (``concurrency: ci``,
        ``container: node:20``) or as a mapping of ``allowed`` keys in which
        ``main`` is required: (the main string, the mapping's fields), with the
        fields empty for the short form; ``None`` when the shape is wrong."""
        if isinstance(node, Scalar):
            return self.text(node, where, place=place, non_empty=True), {}
        mapping = self.mapping(node, where)
        if mapping is None:
            return None
        found = self.fields(mapping, allowed, f"'{where}'", required=(main,))
        if main not in found:
            return None
        return self.text(found[main], f"{where}.{main}", place=place, non_empty=True), found

    def optional_text(
        self, found: AbcMapping[str, Node], key: str, where: str, **options: Any
    ) -> str | None:
        """``text`` of ``found[key]`` (``options`` as for ``text``); ``None`` when absent."""
        return self.text(found[key], where, **options) if key in found else None

    def check_template(
        self,
        node: Scalar,
        value: str,
        where: str,
        *,
        expressions: bool = True,
        place: str | None = None,
        condition: bool = False,
    ) -> None:
        if not templates.has_expression(value):
            if condition and value.strip() and self.expression_check is not None:
                self.expression_check(self, node, value, place or "", True)
            return
        if not expressions:
            line, column = self.source.locate_in(node, templates.OPEN, 0)
            self.error_at(line, column, f"expressions ('${{{{ }}}}') are not allowed in {where}")
            return
        _, problems = templates.scan(value)
        for problem in problems:
            line, column = self.source.locate_in(node, templates.OPEN, problem.occurrence)
            self.error_at(line, column, f"{where}: {problem.message}")
        if not problems and self.expression_check is not None:
            self.expression_check(self, node, value, place or "", condition)

    def is_expression(self, node: Node) -> bool:
        """The node is a string that is exactly one ``${{ }}``."""
        return (
            isinstance(node, Scalar)
            and isinstance(node.value, str)
            and templates.is_single_expression(node.value)
        )

    def boolean(
        self, node: Node, where: str, *, expressions: bool = True, place: str | None = None
    ) -> bool | str | None:
        """A boolean, or (when allowed) an expression that evaluates to one."""
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return node.value
        if expressions and self.is_expression(node):
            assert isinstance(node, Scalar) and isinstance(node.value, str)
            self.check_template(node, node.value, where, place=place)
            return node.value
        allowed = "true, false or an expression" if expressions else "true or false"
        self.error(node, f"{where} must be {allowed}, not {describe(node)}")
        return None

    def number(
        self,
        node: Node,
        where: str,
        *,
        integer: bool = False,
        minimum: float | None = None,
        expressions: bool = True,
        place: str | None = None,
    ) -> float | int | str | None:
        """A number, or (when allowed) an expression that evaluates to one."""
        if isinstance(node, Scalar):
            value = node.value
            if isinstance(value, int | float) and not isinstance(value, bool):
                if math.isnan(value) or math.isinf(value):
                    self.error(node, f"{where} must be a finite number")
                    return None
                if integer and not float(value).is_integer():
                    self.error(node, f"{where} must be a whole number, not {format_number(value)}")
                    return None
                if minimum is not None and value < minimum:
                    self.error(
                        node,
                        f"{where} must be at least {format_number(minimum)}, "
                        f"not {format_number(value)}",
                    )
                    return None
                return int(value) if integer else value
            if expressions and self.is_expression(node):
                assert isinstance(value, str)
                self.check_template(node, value, where, place=place)
                return value
        kind = "a whole number" if integer else "a number"
        if expressions:
            kind += " or an expression"
        self.error(node, f"{where} must be {kind}, not {describe(node)}")
        return None

    def choice(self, node: Node, where: str, options: Collection[str]) -> str | None:
        if not isinstance(node, Scalar) or not isinstance(node.value, str):
            self.error(node, f"{where} must be one of {_or_list(options)}, not {describe(node)}")
            return None
        if node.value not in options:
            self.error(
                node,
                f"{where} must be one of {_or_list(options)}, not {node.value!r}"
                f"{suggestion(node.value, options)}",
            )
            return None
        return node.value

    def identifier(self, node: Scalar, name: str, what: str) -> bool:
        if IDENTIFIER.match(name):
            return True
        self.error(node, f"invalid {what} {name!r}: it {IDENTIFIER_RULE}")
        return False

    # -- composites ------------------------------------------------------------

    def string_list(
        self,
        node: Node,
        where: str,
        *,
        expressions: bool = True,
        non_empty_items: bool = True,
        place: str | None = None,
    ) -> tuple[str, ...] | None:
        """A string, or a sequence of strings. ``place`` as for ``text``."""
        if isinstance(node, Scalar):
            one = self.text(
                node, where, expressions=expressions, non_empty=non_empty_items, place=place
            )
            return None if one is None else (one,)
        seq = self.sequence(node, where)
        if seq is None:
            return None
        if not seq.items:
            self.error(seq, f"{where} must list at least one item")
            return None
        out: list[str] = []
        for item in seq.items:
            value = self.text(
                item,
                f"an item of {where}",
                expressions=expressions,
                non_empty=non_empty_items,
                place=place,
            )
            if value is not None:
                out.append(value)
        return tuple(out)

    def string_map(
        self,
        node: Node,
        where: str,
        *,
        place: str | None = None,
        key_check: Callable[[Scalar, str], None] | None = None,
    ) -> dict[str, str]:
        """A mapping of strings (``env``, ``with``, ``outputs``...)."""
        if self.is_expression(node):
            self.error(
                node,
                f"{where} as one expression is not supported by Cairn; write a mapping of values",
            )
            return {}
        mapping = self.mapping(node, where)
        if mapping is None:
            return {}
        out: dict[str, str] = {}
        for name, key, value in mapping.items():
            if key_check is not None:
                key_check(key, name)
            self.check_template(key, name, f"a key of {where}", expressions=False)
            text = self.text(value, f"{where}.{name}", place=place)
            if text is not None:
                out[name] = text
        return out

    def plain(self, node: Node, where: str, place: str | None = None) -> Any:
        """The node as plain Python data (for matrix values and reusable-workflow ``with``)."""
        if isinstance(node, Scalar):
            if isinstance(node.value, str):
                self.check_template(node, node.value, where, place=place)
            return node.value
        if isinstance(node, Sequence):
            return [self.plain(item, where, place) for item in node.items]
        assert isinstance(node, Mapping)
        return {name: self.plain(value, where, place) for name, _, value in node.items()}


def _or_list(options: Collection[str]) -> str:
    items = [repr(o) for o in options]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]

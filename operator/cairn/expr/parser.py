"""A recursive-descent parser for GitHub Actions expressions.

Precedence, from GitHub's documentation, highest first::

    ( )  [ ]  .      grouping, index, property
    !                not
    < <= > >=        comparison
    == !=            equality
    &&               and
    ||               or

Unknown context names, unknown functions and wrong argument counts are
syntax errors, as they are on GitHub (the workflow is rejected before it
runs). Depth is capped at GitHub's limit of 50 levels, and the recursion of
the parser itself is bounded by the same limit, so no input can exhaust the
Python stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cairn.expr.ast import (
    Call,
    Comparison,
    ContextRef,
    Filter,
    Index,
    Literal,
    Logical,
    Node,
    Not,
    Property,
)
from cairn.expr.errors import ExpressionSyntaxError, position_of
from cairn.expr.lexer import Lexer, Tok, Token
from cairn.expr.values import normalize_number

#: GitHub's maximum depth of an expression tree.
MAX_DEPTH: Final = 50

#: The contexts of GitHub Actions (see "Contexts reference").
KNOWN_CONTEXTS: Final = frozenset(
    {
        "github",
        "env",
        "vars",
        "job",
        "jobs",
        "steps",
        "runner",
        "secrets",
        "strategy",
        "matrix",
        "needs",
        "inputs",
    }
)

#: lower-case name -> (documented spelling, minimum, maximum argument count)
FUNCTIONS: Final[dict[str, tuple[str, int, int]]] = {
    "contains": ("contains", 2, 2),
    "startswith": ("startsWith", 2, 2),
    "endswith": ("endsWith", 2, 2),
    "format": ("format", 1, 255),
    "join": ("join", 1, 2),
    "tojson": ("toJSON", 1, 1),
    "fromjson": ("fromJSON", 1, 1),
    "hashfiles": ("hashFiles", 1, 255),
    "case": ("case", 3, 255),
    "success": ("success", 0, 0),
    "always": ("always", 0, 0),
    "cancelled": ("cancelled", 0, 0),
    "failure": ("failure", 0, 0),
}

STATUS_FUNCTIONS: Final = frozenset({"success", "always", "cancelled", "failure"})

_EQUALITY: Final = frozenset({"==", "!="})
_RELATIONAL: Final = frozenset({"<", "<=", ">", ">="})
_LITERALS: Final = frozenset({Tok.NUMBER, Tok.STRING, Tok.BOOL, Tok.NULL})


def _arguments(count: int) -> str:
    return f"{count} argument" + ("" if count == 1 else "s")


class Parser:
    """Parses ``source[start:end]``; positions in errors index ``source``."""

    def __init__(self, source: str, start: int = 0, end: int | None = None) -> None:
        self.source = source
        self.start = start
        self.tokens = Lexer(source, start, end).tokens()
        self.i = 0
        self.nesting = 0

    # --- helpers -------------------------------------------------------------

    def error(self, message: str, pos: int) -> ExpressionSyntaxError:
        line, column = position_of(self.source, pos)
        return ExpressionSyntaxError(message, line, column)

    def unexpected(self, token: Token) -> ExpressionSyntaxError:
        if token.kind is Tok.END:
            # Like GitHub, point at the last token: that is where the
            # expression stopped making sense.
            last = self.tokens[self.i - 1] if self.i > 0 else token
            return self.error("unexpected end of expression", last.pos)
        return self.error(f"unexpected symbol: '{token.text}'", token.pos)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind is not Tok.END:
            self.i += 1
        return token

    def expect(self, kind: Tok) -> Token:
        token = self.peek()
        if token.kind is not kind:
            raise self.unexpected(token)
        return self.advance()

    def checked(self, node: Node) -> Node:
        if node.depth > MAX_DEPTH:
            raise self.error(
                f"expression nests deeper than the maximum of {MAX_DEPTH} levels", node.pos
            )
        return node

    def enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error(f"expression nests deeper than the maximum of {MAX_DEPTH} levels", pos)

    # --- grammar -------------------------------------------------------------

    def parse(self) -> Node:
        if self.peek().kind is Tok.END:
            raise self.error("expected an expression", self.start)
        node = self.or_expression()
        token = self.peek()
        if token.kind is not Tok.END:
            raise self.unexpected(token)
        return node

    def or_expression(self) -> Node:
        return self._logical("||", self.and_expression)

    def and_expression(self) -> Node:
        return self._logical("&&", self.equality)

    def _logical(self, op: str, parse_operand: Callable[[], Node]) -> Node:
        first = parse_operand()
        token = self.peek()
        if not (token.kind is Tok.OPERATOR and token.text == op):
            return first
        operands = [first]
        while token.kind is Tok.OPERATOR and token.text == op:
            self.advance()
            operands.append(parse_operand())
            token = self.peek()
        return self.checked(Logical(first.pos, op, tuple(operands)))

    def equality(self) -> Node:
        return self._binary(_EQUALITY, self.relational)

    def relational(self) -> Node:
        return self._binary(_RELATIONAL, self.unary)

    def _binary(self, ops: frozenset[str], parse_operand: Callable[[], Node]) -> Node:
        left = parse_operand()
        token = self.peek()
        while token.kind is Tok.OPERATOR and token.text in ops:
            self.advance()
            right = parse_operand()
            left = self.checked(Comparison(token.pos, token.text, left, right))
            token = self.peek()
        return left

    def unary(self) -> Node:
        token = self.peek()
        if token.kind is Tok.OPERATOR and token.text == "!":
            self.advance()
            self.enter(token.pos)
            operand = self.unary()
            self.nesting -= 1
            return self.checked(Not(token.pos, operand))
        return self.postfix()

    def postfix(self) -> Node:
        token = self.peek()
        node = self.primary()
        if token.kind in _LITERALS:
            # GitHub allows "." and "[" only after names, calls, groups and
            # other accessors: 'abc'[0] and 1.foo are errors.
            return node
        while True:
            token = self.peek()
            if token.kind is Tok.DOT:
                self.advance()
                name = self.advance()
                if name.kind is Tok.PROPERTY:
                    node = self.checked(Property(name.pos, node, name.text))
                elif name.kind is Tok.WILDCARD:
                    node = self.checked(Filter(name.pos, node))
                else:
                    raise self.unexpected(name)
            elif token.kind is Tok.LBRACKET:
                self.advance()
                if self.peek().kind is Tok.WILDCARD:
                    star = self.advance()
                    self.expect(Tok.RBRACKET)
                    node = self.checked(Filter(star.pos, node))
                else:
                    self.enter(token.pos)
                    index = self.or_expression()
                    self.nesting -= 1
                    self.expect(Tok.RBRACKET)
                    node = self.checked(Index(token.pos, node, index))
            else:
                return node

    def primary(self) -> Node:
        token = self.advance()
        kind = token.kind
        if kind is Tok.NUMBER:
            return Literal(token.pos, normalize_number(token.value))
        if kind in _LITERALS:
            return Literal(token.pos, token.value)
        if kind is Tok.NAME:
            name = token.text.lower()
            if name not in KNOWN_CONTEXTS:
                raise self.error(
                    f"unrecognized context '{token.text}' (known contexts: "
                    f"{', '.join(sorted(KNOWN_CONTEXTS))})",
                    token.pos,
                )
            return ContextRef(token.pos, name)
        if kind is Tok.FUNCTION:
            return self.call(token)
        if kind is Tok.LPAREN:
            self.enter(token.pos)
            node = self.or_expression()
            self.nesting -= 1
            self.expect(Tok.RPAREN)
            return node
        raise self.unexpected(token)

    def call(self, name_token: Token) -> Node:
        spelled = name_token.text
        info = FUNCTIONS.get(spelled.lower())
        if info is None:
            raise self.error(f"unrecognized function '{spelled}'", name_token.pos)
        documented, minimum, maximum = info
        self.expect(Tok.LPAREN)
        self.enter(name_token.pos)
        args: list[Node] = []
        if self.peek().kind is Tok.RPAREN:
            self.advance()
        else:
            while True:
                args.append(self.or_expression())
                token = self.advance()
                if token.kind is Tok.RPAREN:
                    break
                if token.kind is not Tok.COMMA:
                    raise self.unexpected(token)
        self.nesting -= 1
        if not minimum <= len(args) <= maximum:
            if minimum == maximum:
                expected = _arguments(minimum)
            elif len(args) < minimum:
                expected = f"at least {_arguments(minimum)}"
            else:
                expected = f"at most {_arguments(maximum)}"
            raise self.error(f"{documented}() takes {expected}, got {len(args)}", name_token.pos)
        if documented == "case" and len(args) % 2 == 0:
            raise self.error(
                "case() takes predicate/value pairs and a default: an odd number of "
                f"arguments, got {len(args)}",
                name_token.pos,
            )
        return self.checked(Call(name_token.pos, documented.lower(), spelled, tuple(args)))


def parse_tree(source: str, start: int = 0, end: int | None = None) -> Node:
    """The syntax tree of ``source[start:end]``; raises ExpressionSyntaxError."""
    return Parser(source, start, end).parse()

"""The lexer of the expression language.

It follows the token rules of GitHub's runner: a ``.`` starts a number only
where an operand may begin (``.5``) and is a dereference elsewhere; a word
after ``.`` is a property name even if it spells ``null``; a word followed by
``(`` is a function name; numbers run until a token boundary, so ``1-1`` is
one (invalid) token rather than a subtraction the language does not have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from cairn.expr.errors import ExpressionSyntaxError, position_of
from cairn.expr.values import parse_number

#: GitHub rejects longer expressions; so do we (it also bounds parse time).
MAX_EXPRESSION_LENGTH = 21000


class Tok(Enum):
    NUMBER = auto()
    STRING = auto()
    BOOL = auto()
    NULL = auto()
    NAME = auto()  # a context name (GitHub: named-value)
    FUNCTION = auto()  # a name followed by "("
    PROPERTY = auto()  # a name after "."
    WILDCARD = auto()
    LPAREN = auto()
    RPAREN = auto()
    LBRACKET = auto()
    RBRACKET = auto()
    COMMA = auto()
    DOT = auto()
    OPERATOR = auto()  # ! == != < <= > >= && ||
    END = auto()


@dataclass(frozen=True, slots=True)
class Token:
    kind: Tok
    text: str  # the raw source text
    pos: int  # offset in the full source
    value: Any = None  # the parsed value of a literal


# Characters that end a number or a word.
_BOUNDARY = frozenset("()[],.!><=&|")
_OPERATOR_CHARS = frozenset("!><=&|")
_TWO_CHAR_OPERATORS = frozenset({"!=", ">=", "<=", "==", "&&", "||"})
_ONE_CHAR_OPERATORS = frozenset({"!", ">", "<"})
# Tokens after which an operand (and so a ".5" number) may start.
_OPERAND_START_AFTER = frozenset({None, Tok.COMMA, Tok.LPAREN, Tok.LBRACKET, Tok.OPERATOR})
_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD_CHARS = _WORD_START | frozenset("0123456789-")
_KEYWORD_LITERALS: dict[str, tuple[Tok, Any]] = {
    "null": (Tok.NULL, None),
    "true": (Tok.BOOL, True),
    "false": (Tok.BOOL, False),
    "NaN": (Tok.NUMBER, math.nan),
    "Infinity": (Tok.NUMBER, math.inf),
}


class Lexer:
    """Turns ``source[start:end]`` into tokens whose positions index ``source``."""

    def __init__(self, source: str, start: int = 0, end: int | None = None) -> None:
        self.source = source
        self.start = start
        self.end = len(source) if end is None else end
        self.pos = start
        self.last: Tok | None = None

    def error(self, message: str, pos: int) -> ExpressionSyntaxError:
        line, column = position_of(self.source, pos)
        return ExpressionSyntaxError(message, line, column)

    def tokens(self) -> list[Token]:
        if self.end - self.start > MAX_EXPRESSION_LENGTH:
            raise self.error(
                f"expression is longer than the maximum of {MAX_EXPRESSION_LENGTH} characters",
                self.start,
            )
        result: list[Token] = []
        while True:
            token = self._next()
            result.append(token)
            if token.kind is Tok.END:
                return result
            self.last = token.kind

    def _read_while_not_boundary(self, pos: int, *, allow_dot: bool = False) -> int:
        source, end = self.source, self.end
        while pos < end:
            c = source[pos]
            if (c in _BOUNDARY and not (allow_dot and c == ".")) or c.isspace():
                break
            pos += 1
        return pos

    def _next(self) -> Token:
        source, end = self.source, self.end
        pos = self.pos
        while pos < end and source[pos].isspace():
            pos += 1
        self.pos = pos
        if pos >= end:
            return Token(Tok.END, "", pos)
        c = source[pos]
        simple = _SIMPLE.get(c)
        if simple is not None:
            self.pos = pos + 1
            return Token(simple, c, pos)
        if c == "'":
            return self._string(pos)
        if c in _OPERATOR_CHARS:
            return self._operator(pos)
        if c == ".":
            if self.last in _OPERAND_START_AFTER:
                return self._number(pos)
            self.pos = pos + 1
            return Token(Tok.DOT, c, pos)
        if c in "+-" or "0" <= c <= "9":
            return self._number(pos)
        return self._word(pos)

    def _string(self, start: int) -> Token:
        source, end = self.source, self.end
        pos = start + 1
        chunks: list[str] = []
        while True:
            quote = source.find("'", pos, end)
            if quote < 0:
                raise self.error("unterminated string literal", start)
            chunks.append(source[pos:quote])
            if quote + 1 < end and source[quote + 1] == "'":
                chunks.append("'")
                pos = quote + 2
                continue
            self.pos = quote + 1
            return Token(Tok.STRING, source[start : quote + 1], start, "".join(chunks))

    def _operator(self, start: int) -> Token:
        source = self.source
        two = source[start : start + 2] if start + 2 <= self.end else ""
        if two in _TWO_CHAR_OPERATORS:
            self.pos = start + 2
            return Token(Tok.OPERATOR, two, start)
        one = source[start]
        if one in _ONE_CHAR_OPERATORS:
            self.pos = start + 1
            return Token(Tok.OPERATOR, one, start)
        stop = self._read_while_not_boundary(start + 1)
        text = source[start:stop]
        hint = " (use '==' to compare)" if one == "=" else ""
        raise self.error(f"unexpected symbol: '{text}'{hint}", start)

    def _number(self, start: int) -> Token:
        stop = self._read_while_not_boundary(start + 1, allow_dot=True)
        text = self.source[start:stop]
        value = parse_number(text)
        if value != value:
            raise self.error(f"unexpected symbol: '{text}'", start)
        self.pos = stop
        return Token(Tok.NUMBER, text, start, value)

    def _word(self, start: int) -> Token:
        source = self.source
        stop = self._read_while_not_boundary(start + 1)
        text = source[start:stop]
        if text[0] not in _WORD_START or any(c not in _WORD_CHARS for c in text):
            hint = ""
            if text.startswith('"'):
                hint = " (string literals use single quotes)"
            elif text.startswith("${{") or text.startswith("}}"):
                hint = " (an expression cannot contain ${{ }})"
            raise self.error(f"unexpected symbol: '{text}'{hint}", start)
        self.pos = stop
        if self.last is Tok.DOT:
            return Token(Tok.PROPERTY, text, start)
        literal = _KEYWORD_LITERALS.get(text)
        if literal is not None:
            return Token(literal[0], text, start, literal[1])
        ahead = stop
        while ahead < self.end and source[ahead].isspace():
            ahead += 1
        if ahead < self.end and source[ahead] == "(":
            return Token(Tok.FUNCTION, text, start)
        return Token(Tok.NAME, text, start)


_SIMPLE: dict[str, Tok] = {
    "(": Tok.LPAREN,
    ")": Tok.RPAREN,
    "[": Tok.LBRACKET,
    "]": Tok.RBRACKET,
    ",": Tok.COMMA,
    "*": Tok.WILDCARD,
}

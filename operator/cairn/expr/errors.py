"""Errors of the expression language.

Every error names where it happened as ``LINE:COL`` (both 1-based) so a user
can find the offending character in a multi-line ``if:`` or ``run:`` block.
"""

from __future__ import annotations

from cairn.errors import CairnError


class ExpressionError(CairnError):
    """Base of every error raised while parsing, checking or evaluating an expression."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        #: False when raised below the level that knows the position; the
        #: expression re-raises it at the position of the call that failed.
        self.located = line is not None
        self.line = 1 if line is None else line
        self.column = 1 if column is None else column
        super().__init__(f"{self.line}:{self.column}: {message}")


class ExpressionSyntaxError(ExpressionError):
    """The text is not a valid expression (or template): raised by the parse functions."""


class ExpressionEvaluationError(ExpressionError):
    """Evaluation failed: a bad ``fromJSON`` input, a ``format`` string referencing a
    missing argument, ``hashFiles`` without a workspace, a value of an unsupported type..."""


class ContextNotAvailableError(ExpressionError):
    """The expression uses a context (or a special function) that GitHub does not
    make available at that place in a workflow (``steps`` in a job-level ``if``...)."""


class UnknownPlaceError(ExpressionError):
    """``check_contexts`` was asked about a workflow key that is not in the table."""


def position_of(text: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    last_newline = text.rfind("\n", 0, offset)
    return line, offset - last_newline

"""Errors of the workflow compiler.

A workflow file is checked as a whole: every problem found becomes a
``Diagnostic`` and they are raised together in one ``WorkflowError``, sorted
by position, so a user fixes a file in one pass instead of one error at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cairn.errors import CairnError


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a workflow file. ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        # One diagnostic, one line: names quoted from the file (a matrix key,
        # an env name) may hold line breaks, which would split it.
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return text.translate(_ONE_LINE)


_ONE_LINE = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class WorkflowError(CairnError):
    """A workflow file is invalid. ``diagnostics`` holds every problem found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = sorted(set(diagnostics))
        if not self.diagnostics:
            raise ValueError("WorkflowError needs at least one diagnostic")
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class MatrixError(CairnError):
    """A concrete matrix cannot be expanded (bad shape, too many combinations)."""


class WorkflowNotFoundError(CairnError):
    """A path given to discover workflows does not exist."""

"""Evaluating a job's expressions inside the sandbox.

Each value is checked against GitHub's context-availability table for its
place (``jobs.<job_id>.steps.env``...) before it is evaluated, so a workflow
that reads ``steps`` in a job-level ``env`` fails here as it does on GitHub.
Every failure becomes a :class:`StepExpressionError` naming the key and the
expression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.expr import (
    ExpressionError,
    Status,
    check_contexts,
    parse_condition,
    parse_template,
    to_str,
    truthy,
)
from cairn.runner.errors import StepExpressionError

WORKFLOW_ENV = "env"
JOB_ENV = "jobs.<job_id>.env"
JOB_DEFAULTS_RUN = "jobs.<job_id>.defaults.run"
JOB_OUTPUTS = "jobs.<job_id>.outputs.<output_id>"
STEP_IF = "jobs.<job_id>.steps.if"
STEP_NAME = "jobs.<job_id>.steps.name"
STEP_ENV = "jobs.<job_id>.steps.env"
STEP_RUN = "jobs.<job_id>.steps.run"
STEP_WITH = "jobs.<job_id>.steps.with"
STEP_WORKING_DIRECTORY = "jobs.<job_id>.steps.working-directory"
STEP_CONTINUE_ON_ERROR = "jobs.<job_id>.steps.continue-on-error"
STEP_TIMEOUT_MINUTES = "jobs.<job_id>.steps.timeout-minutes"


class Evaluator:
    """Evaluates values of one job against the contexts it is given."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace

    def render(
        self,
        text: str,
        contexts: Mapping[str, Any],
        *,
        place: str,
        what: str,
        status: Status = "success",
    ) -> str:
        """A string value (env, run, with, working-directory, outputs)."""
        rendered: str = self._template(text, contexts, place, what, status, as_text=True)
        return rendered

    def value(
        self,
        text: str,
        contexts: Mapping[str, Any],
        *,
        place: str,
        what: str,
        status: Status = "success",
    ) -> Any:
        """A value that may be of any type (``continue-on-error``)."""
        return self._template(text, contexts, place, what, status, as_text=False)

    def _template(
        self,
        text: str,
        contexts: Mapping[str, Any],
        place: str,
        what: str,
        status: Status,
        *,
        as_text: bool,
    ) -> Any:
        """``text`` rendered as a string, or evaluated to its value; a
        literal (no ``${{ }}``) is returned as it is."""
        try:
            template = parse_template(text)
            if template.is_literal:
                return text
            check_contexts(template, place)
            run = template.render if as_text else template.evaluate
            return run(contexts, status=status, workspace=self.workspace)
        except ExpressionError as exc:
            raise StepExpressionError(f"{what}: {_describe(text, exc)}") from exc

    def condition(
        self, text: str, contexts: Mapping[str, Any], *, status: Status, what: str
    ) -> bool:
        """A step's ``if``; GitHub's truthiness decides."""
        try:
            expression = parse_condition(text)
            check_contexts(expression, STEP_IF)
            result = expression.evaluate(contexts, status=status, workspace=self.workspace)
        except ExpressionError as exc:
            raise StepExpressionError(f"{what}: {_describe(text, exc)}") from exc
        return truthy(result)

    def flag(self, raw: bool | str, contexts: Mapping[str, Any], *, place: str, what: str) -> bool:
        """``continue-on-error``: a boolean, literally or from an expression."""
        if isinstance(raw, bool):
            return raw
        value = self.value(raw, contexts, place=place, what=what)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise StepExpressionError(f"{what}: expected a boolean, got {to_str(value)!r}")

    def minutes(
        self, raw: float | str, contexts: Mapping[str, Any], *, place: str, what: str
    ) -> float:
        """``timeout-minutes``: a positive number, literally or from an expression."""
        value: Any = raw
        if isinstance(raw, str):
            value = self.value(raw, contexts, place=place, what=what)
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise StepExpressionError(
                    f"{what}: expected a number of minutes, got {value!r}"
                ) from None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or math.isnan(value)
            or value <= 0
        ):
            raise StepExpressionError(
                f"{what}: expected a positive number of minutes, got {to_str(value)!r}"
            )
        return float(value)


def _describe(text: str, exc: ExpressionError) -> str:
    source = text if len(text) <= 200 else text[:200] + "..."
    return f"{exc} (in {source.strip()!r})"

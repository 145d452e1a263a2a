"""Evaluating a job's run-time expressions, with one error type for all.

Every value GitHub evaluates before a job starts (``if``, ``runs-on``,
``timeout-minutes``, ``continue-on-error``, ``strategy``, ``concurrency``,
``environment``, a dynamic matrix) goes through here. A failure becomes an
:class:`EvaluationFailure` naming the key, and the engine concludes the
instance ``failure`` with that message as the reason, as GitHub fails a job
whose expressions cannot be evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cairn.engine.errors import EngineError
from cairn.expr import ExpressionError, Status, parse_condition, parse_template, to_str, truthy
from cairn.workflow import MatrixError, expand_matrix
from cairn.workflow.model import Concurrency, Matrix, RunsOn

Contexts = Mapping[str, Any]

#: What success()/failure()/cancelled() read in a job-level ``if``; "skipped"
#: means none of them is true (an ancestor was skipped or cancelled, none failed).
JobStatus = Status


class EvaluationFailure(EngineError):
    """A job-level expression could not be evaluated to a usable value."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}")
        self.place = place
        self.message = message


def condition_uses_status(source: str | None) -> bool:
    """Whether a job ``if`` calls success()/failure()/cancelled()/always()."""
    if source is None:
        return False
    try:
        return parse_condition(source).uses_status_function
    except ExpressionError:
        return False


def condition(source: str | None, contexts: Contexts, status: JobStatus) -> bool:
    """A job-level ``if`` (None: ``success()``)."""
    try:
        expression = parse_condition(source if source is not None else "success()")
        value = expression.evaluate(contexts, status=status)
    except ExpressionError as error:
        raise EvaluationFailure("if", str(error)) from None
    return truthy(value)


def value(text: str, contexts: Contexts, place: str) -> Any:
    """A template's value: the raw value of a lone ``${{ }}``, else the string."""
    try:
        return parse_template(text).evaluate(contexts)
    except ExpressionError as error:
        raise EvaluationFailure(place, str(error)) from None


def text(source: str, contexts: Contexts, place: str) -> str:
    try:
        return parse_template(source).render(contexts)
    except ExpressionError as error:
        raise EvaluationFailure(place, str(error)) from None


def boolean(setting: bool | str, contexts: Contexts, place: str) -> bool:
    """``continue-on-error``, ``fail-fast``, ``cancel-in-progress``."""
    if isinstance(setting, bool):
        return setting
    result = value(setting, contexts, place)
    if isinstance(result, bool):
        return result
    if isinstance(result, str) and result.strip().lower() in ("true", "false"):
        return result.strip().lower() == "true"
    raise EvaluationFailure(place, f"expected a boolean, got {_show(result)}")


def minutes(setting: float | str, contexts: Contexts, place: str) -> float:
    """``timeout-minutes``: a positive number (fractions allowed)."""
    result = setting if not isinstance(setting, str) else value(setting, contexts, place)
    number = _number(result)
    if number is None or not math.isfinite(number) or number <= 0:
        message = f"expected a positive number of minutes, got {_show(result)}"
        raise EvaluationFailure(place, message)
    return number


def count(setting: int | str | None, contexts: Contexts, place: str) -> int | None:
    """``max-parallel``: a positive whole number, or None when not set."""
    if setting is None:
        return None
    result = setting if not isinstance(setting, str) else value(setting, contexts, place)
    number = _number(result)
    if number is None or number != int(number) or number < 1:
        raise EvaluationFailure(place, f"expected a positive whole number, got {_show(result)}")
    return int(number)


def concurrency(settings: Concurrency, contexts: Contexts) -> tuple[str, bool]:
    """A ``concurrency`` setting as (group name, cancel-in-progress).

    GitHub compares group names case-insensitively ("prod" and "Prod" are one
    group), so the name is lowercased here: every adapter then groups members
    by the plain string.
    """
    group = group_name(text(settings.group, contexts, "concurrency.group"))
    if not group.strip():
        raise EvaluationFailure("concurrency.group", "evaluates to an empty string")
    place = "concurrency.cancel-in-progress"
    return group, boolean(settings.cancel_in_progress, contexts, place)


def group_name(name: str) -> str:
    """A concurrency group's name in its one spelling: lowercased character by
    character (a character whose lowercase is longer, like 'İ', stays as is)."""
    if name.isascii():
        return name.lower()
    return "".join(c if len(low := c.lower()) != 1 else low for c in name)


def runner(runs_on: RunsOn | None, contexts: Contexts) -> tuple[tuple[str, ...], str | None]:
    """``runs-on`` as (labels, runner group)."""
    place = "runs-on"
    if runs_on is None:
        raise EvaluationFailure(place, "the job has no runs-on")
    labels: list[str] = []
    group: str | None = None
    if runs_on.expression is not None:
        result = value(runs_on.expression, contexts, place)
        if isinstance(result, Mapping):
            group = _optional_str(result.get("group"), place)
            labels.extend(_labels(result.get("labels", []), place))
        else:
            labels.extend(_labels(result, place))
    for label in runs_on.labels:
        labels.extend(_labels(value(label, contexts, place), place))
    if runs_on.group is not None:
        group = text(runs_on.group, contexts, place)
    if not labels and not group:
        raise EvaluationFailure(place, "evaluates to no runner label and no group")
    return tuple(labels), group or None


def matrix_combinations(matrix: Matrix, contexts: Contexts) -> list[dict[str, Any]]:
    """A dynamic matrix evaluated and expanded with GitHub's include/exclude rules."""
    place = "strategy.matrix"
    concrete: dict[str, Any]
    if matrix.expression is not None:
        result = value(matrix.expression, contexts, place)
        if not isinstance(result, Mapping):
            raise EvaluationFailure(place, f"expected an object, got {_show(result)}")
        concrete = dict(result)
    else:
        concrete = {
            name: value(values, contexts, f"{place}.{name}") if isinstance(values, str) else values
            for name, values in matrix.dimensions.items()
        }
        for key in ("include", "exclude"):
            entries = getattr(matrix, key)
            if isinstance(entries, str):
                concrete[key] = value(entries, contexts, f"{place}.{key}")
            elif entries:
                concrete[key] = entries
    try:
        combinations = expand_matrix(concrete)
    except MatrixError as error:
        raise EvaluationFailure(place, str(error)) from None
    if not combinations:
        raise EvaluationFailure(place, "expands to no combination")
    return combinations


def _labels(result: Any, place: str) -> list[str]:
    items = result if isinstance(result, list) else [result]
    labels = []
    for item in items:
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise EvaluationFailure(place, f"a runner label must be a string, got {_show(item)}")
        label = to_str(item).strip()
        if not label:
            raise EvaluationFailure(place, "a runner label evaluates to an empty string")
        labels.append(label)
    return labels


def _optional_str(result: Any, place: str) -> str | None:
    if result is None or result == "":
        return None
    if not isinstance(result, str):
        raise EvaluationFailure(place, f"a runner group must be a string, got {_show(result)}")
    return result


def _number(result: Any) -> float | None:
    if isinstance(result, bool):
        return None
    if isinstance(result, int | float):
        return float(result)
    if isinstance(result, str):
        try:
            return float(result.strip())
        except ValueError:
            return None
    return None


def _show(result: Any) -> str:
    shown = repr(result)
    return shown if len(shown) <= 60 else shown[:57] + "..."

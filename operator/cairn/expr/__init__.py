"""The GitHub Actions expression language.

Every ``if:`` and every ``${{ }}`` of a workflow goes through this package::

    from cairn.expr import parse_condition, parse_template, truthy

    cond = parse_condition("github.event_name == 'push' && matrix.os != 'windows'")
    if truthy(cond.evaluate({"github": {...}, "matrix": {...}}, status="success")):
        ...
    parse_template("Hello ${{ github.actor }}").render({"github": {"actor": "octocat"}})

Parsing is cached and the parsed objects are immutable and reusable. The
package does no I/O, except ``hashFiles()`` reading the workspace it is given.
See ``docs/expressions.md`` for the semantics and the places where Cairn
departs from GitHub or from act.
"""

from cairn.expr.availability import AVAILABILITY, SPECIAL_FUNCTION_AVAILABILITY
from cairn.expr.errors import (
    ContextNotAvailableError,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    UnknownPlaceError,
)
from cairn.expr.expression import (
    Expression,
    Status,
    Template,
    check_contexts,
    parse,
    parse_condition,
    parse_template,
)
from cairn.expr.parser import KNOWN_CONTEXTS
from cairn.expr.values import to_json, to_str, truthy

__all__ = [
    "AVAILABILITY",
    "KNOWN_CONTEXTS",
    "SPECIAL_FUNCTION_AVAILABILITY",
    "ContextNotAvailableError",
    "Expression",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "Status",
    "Template",
    "UnknownPlaceError",
    "check_contexts",
    "parse",
    "parse_condition",
    "parse_template",
    "to_json",
    "to_str",
    "truthy",
]

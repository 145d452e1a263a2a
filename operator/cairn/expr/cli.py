"""``cairn expr``: evaluate a GitHub Actions expression, to debug an ``if:``.

    cairn expr "github.event_name == 'push'" --context ctx.json
    cairn expr --condition "failure()" --status failure
    cairn expr --template 'Hello ${{ github.actor }}' --context ctx.json

The value is printed as JSON (as ``toJSON`` prints it); with ``--template`` the
rendered string is printed as it is. Errors go to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from cairn.expr.errors import ExpressionError
from cairn.expr.expression import parse, parse_condition, parse_template
from cairn.expr.values import to_json


class _UsageProblem(Exception):
    """A bad command-line input (unreadable or malformed context file)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n", 1)[0] if __doc__ else None
    parser.add_argument(
        "expression", metavar="EXPR", help="the expression (or template) to evaluate"
    )
    parser.add_argument(
        "--context",
        metavar="FILE.json",
        help='JSON file mapping context names to values ({"github": {...}, "matrix": {...}}); '
        "'-' reads standard input",
    )
    parser.add_argument(
        "--status",
        choices=("success", "failure", "cancelled", "skipped"),
        default="success",
        help="what success()/failure()/cancelled() see; skipped makes all three false "
        "(default: success)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--template",
        action="store_true",
        help="treat EXPR as a string with ${{ }} parts and print the rendered string",
    )
    mode.add_argument(
        "--condition",
        action="store_true",
        help="treat EXPR as an if: value (implicit success() && unless it calls a status function)",
    )
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=None,
        help="the directory hashFiles() reads (default: the current directory)",
    )


def _load_contexts(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        if path == "-":
            data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        raise _UsageProblem(f"cannot read the context file {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise _UsageProblem(
            f"the context file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from exc
    try:
        contexts = json.loads(text)
    except ValueError as exc:
        raise _UsageProblem(f"the context file {path} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        # json's decoder recurses once per level of nesting
        raise _UsageProblem(
            f"the context file {path} nests its values too deeply to be read"
        ) from exc
    if not isinstance(contexts, dict):
        raise _UsageProblem(
            f"the context file {path} must hold a JSON object mapping context names to values"
        )
    return {str(name).lower(): value for name, value in contexts.items()}


def _current_directory() -> str | None:
    """The default workspace; ``None`` (hashFiles() then says it has none) when
    the current directory no longer exists."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _evaluate(args: argparse.Namespace) -> str:
    contexts = _load_contexts(args.context)
    workspace = args.workspace if args.workspace is not None else _current_directory()
    options: dict[str, Any] = {"status": args.status, "workspace": workspace}
    text: str = args.expression
    if args.template:
        return parse_template(text).render(contexts, **options)
    if args.condition:
        return to_json(parse_condition(text).evaluate(contexts, **options))
    if "${{" in text:
        template = parse_template(text)
        if not template.is_single_expression:
            raise _UsageProblem(
                "EXPR mixes text and ${{ }}: use --template to render it as a string"
            )
        return to_json(template.evaluate(contexts, **options))
    return to_json(parse(text).evaluate(contexts, **options))


def main(args: argparse.Namespace) -> int:
    try:
        output = _evaluate(args)
    except (ExpressionError, _UsageProblem) as exc:
        print(f"cairn expr: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(output + "\n")
    return 0

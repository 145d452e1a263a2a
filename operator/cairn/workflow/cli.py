"""``cairn plan``: compile workflow files and show their job graphs.

Exit status: 0 when every workflow compiled; 2 when any workflow is invalid
or the input is unusable (missing path, bad payload, unknown event), with
``path:line:col: message`` lines on stderr. The plans of the valid files are
still printed, so one broken file does not hide the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cairn.workflow import vocabulary as vocab
from cairn.workflow.dag import compile_plan
from cairn.workflow.errors import WorkflowError, WorkflowNotFoundError
from cairn.workflow.loader import discover_workflows, load_workflow
from cairn.workflow.reader import suggestion
from cairn.workflow.render import RENDERERS, PlannedWorkflow
from cairn.workflow.triggers import explain_trigger

DEFAULT_PATH = Path(".github") / "workflows"
DEFAULT_REF = "refs/heads/main"
EXIT_OK = 0
EXIT_INVALID = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Compile GitHub Actions workflows and show the job graph."
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=f"workflow files or directories of them (default: {DEFAULT_PATH})",
    )
    parser.add_argument(
        "--event",
        default="push",
        metavar="NAME",
        help="the event to check the workflows' 'on' filters against (default: push)",
    )
    parser.add_argument(
        "--payload",
        metavar="FILE",
        help="a JSON file with the event's webhook payload (ref, action, commits, ...)",
    )
    parser.add_argument(
        "--ref",
        default=DEFAULT_REF,
        metavar="REF",
        help=(
            "without --payload: the ref pushed to, or a pull request's base branch "
            f"(default: {DEFAULT_REF})"
        ),
    )
    parser.add_argument(
        "--format",
        choices=sorted(RENDERERS),
        default="text",
        help="text for people, json for programs (see docs/plan.md), mermaid for docs",
    )


def main(args: argparse.Namespace) -> int:
    err = sys.stderr
    if args.event not in vocab.EVENTS:
        print(
            f"cairn plan: unknown event {args.event!r}{suggestion(args.event, vocab.EVENTS)}",
            file=err,
        )
        return EXIT_INVALID
    payload = _read_payload(args.payload) if args.payload else default_payload(args.event, args.ref)
    if payload is None:
        return EXIT_INVALID

    failed = False
    files: list[Path] = []
    for given in args.paths or [str(DEFAULT_PATH)]:
        try:
            found = discover_workflows(given)
        except WorkflowNotFoundError as exc:
            print(f"cairn plan: {exc}", file=err)
            failed = True
            continue
        if not found:
            print(f"cairn plan: no workflow files (*.yml, *.yaml) in {given}", file=err)
            failed = True
        files.extend(found)

    planned: list[PlannedWorkflow] = []
    for path in files:
        try:
            plan = compile_plan(load_workflow(path))
        except WorkflowError as exc:
            print(str(exc), file=err)
            failed = True
            continue
        decision = explain_trigger(plan.workflow, args.event, payload)
        planned.append(PlannedWorkflow(plan, args.event, decision))

    sys.stdout.write(RENDERERS[args.format](planned))
    return EXIT_INVALID if failed else EXIT_OK


def default_payload(event: str, ref: str) -> dict[str, Any]:
    """The payload assumed without ``--payload``: a push to ``ref``, or a pull
    request opened against it; other events get an empty payload."""
    if not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    if event == "push":
        return {"ref": ref}
    if event in ("pull_request", "pull_request_target"):
        return {
            "action": "opened",
            "pull_request": {"base": {"ref": ref.removeprefix("refs/heads/")}},
        }
    return {}


def _read_payload(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except OSError as exc:
        print(f"cairn plan: cannot read payload {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"cairn plan: payload {path} is not valid JSON: {exc}", file=sys.stderr)
        return None
    except RecursionError:
        # json's decoder recurses once per level of nesting
        print(f"cairn plan: payload {path} nests its values too deeply to be read", file=sys.stderr)
        return None
    if not isinstance(payload, dict):
        print(f"cairn plan: payload {path} must be a JSON object", file=sys.stderr)
        return None
    return payload

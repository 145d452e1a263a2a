"""The ``cairn`` command. Each subcommand lives beside the code it drives and
is imported only when used, so ``cairn run`` does not pay for Kopf."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cairn import __version__

#: name -> (module defining ``configure(parser)`` and ``main(args) -> int``, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("cairn.workflow.cli", "compile workflows and show the job graph"),
    "expr": ("cairn.expr.cli", "evaluate a GitHub Actions expression"),
    "run": ("cairn.local.cli", "run workflows on this machine (no cluster needed)"),
    "runner": ("cairn.runner.cli", "run one job's steps from a job spec (a sandbox's entrypoint)"),
    "operator": (
        "cairn.k8s.cli",
        "run the Kubernetes operator (reconciles CIRuns and CIWorkflows)",
    ),
    "webhook": ("cairn.webhook.cli", "serve GitHub webhooks and sandbox callbacks (in-cluster)"),
    "cancel": ("cairn.k8s.client_cli", "cancel a CIRun (writes cairn.dev/cancel)"),
    "retry": ("cairn.k8s.client_cli", "retry a finished job of a running CIRun"),
    "approve": ("cairn.k8s.client_cli", "approve a job waiting on its environment"),
    "rerun-failed": ("cairn.k8s.client_cli", "re-run the failed jobs of a finished CIRun"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cairn", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cairn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == chosen:
            importlib.import_module(module).configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    result: int = module.main(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

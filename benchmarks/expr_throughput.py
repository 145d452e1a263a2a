"""Parse and evaluate throughput of typical ``if:`` expressions.

    python benchmarks/expr_throughput.py [--seconds S]

A workflow evaluates the same ``if:`` once per job instance (every matrix
combination) and once per step, so evaluation is the hot path and parsing
happens once per distinct expression (``parse_condition`` is cached). For each
expression the script measures:

- parse: ``parse_condition`` with its cache bypassed (lex, parse, compile);
- evaluate: ``Expression.evaluate`` of the parsed expression against
  realistic contexts;
- native: the same test written by hand in Python (dict lookups and string
  comparisons), the baseline measured in the same run.

Figures: evaluations per second; parse cost / evaluate cost (how many
evaluations one parse costs); evaluate cost / native cost (the price of the
interpreter over hand-written Python).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from cairn.expr import Status, parse_condition, truthy
from cairn.expr.expression import _parse_condition

CONTEXTS: dict[str, Any] = {
    "github": {
        "event_name": "pull_request",
        "ref": "refs/heads/main",
        "repository": "octo-org/hello-world",
        "event": {
            "pull_request": {
                "draft": False,
                "labels": [{"name": "bug"}, {"name": "deploy"}, {"name": "ci"}],
                "head": {"ref": "feature/x"},
            }
        },
    },
    "matrix": {"os": "ubuntu-latest", "node": 20, "experimental": False},
    "needs": {"build": {"result": "success", "outputs": {"version": "1.2.3"}}},
    "steps": {"test": {"outcome": "failure", "conclusion": "failure", "outputs": {}}},
    "env": {"CI": "true"},
}

Check = Callable[[dict[str, Any], str], bool]


def _labels(ctx: dict[str, Any]) -> list[str]:
    return [lbl["name"] for lbl in ctx["github"]["event"]["pull_request"]["labels"]]


# (if: expression, status, the same decision written by hand)
CASES: list[tuple[str, Status, Check]] = [
    (
        "github.event_name == 'push' && github.ref == 'refs/heads/main'",
        "success",
        lambda c, s: (
            s == "success"
            and c["github"]["event_name"].upper() == "PUSH"
            and c["github"]["ref"].upper() == "REFS/HEADS/MAIN"
        ),
    ),
    (
        "contains(github.event.pull_request.labels.*.name, 'deploy')",
        "success",
        lambda c, s: s == "success" and any(n.upper() == "DEPLOY" for n in _labels(c)),
    ),
    (
        "always() && needs.build.result == 'success'",
        "failure",
        lambda c, s: c["needs"]["build"]["result"].upper() == "SUCCESS",
    ),
    (
        "${{ matrix.os == 'ubuntu-latest' && !cancelled() }}",
        "success",
        lambda c, s: c["matrix"]["os"].upper() == "UBUNTU-LATEST" and s != "cancelled",
    ),
    (
        "startsWith(github.ref, 'refs/tags/v') || github.event_name == 'workflow_dispatch'",
        "success",
        lambda c, s: (
            s == "success"
            and (
                c["github"]["ref"].upper().startswith("REFS/TAGS/V")
                or c["github"]["event_name"].upper() == "WORKFLOW_DISPATCH"
            )
        ),
    ),
    (
        "failure() && steps.test.outcome == 'failure'",
        "failure",
        lambda c, s: s == "failure" and c["steps"]["test"]["outcome"].upper() == "FAILURE",
    ),
    (
        "github.event_name == 'pull_request' && !github.event.pull_request.draft",
        "success",
        lambda c, s: (
            s == "success"
            and c["github"]["event_name"].upper() == "PULL_REQUEST"
            and not c["github"]["event"]["pull_request"]["draft"]
        ),
    ),
    (
        'contains(fromJSON(\'["push", "schedule"]\'), github.event_name)',
        "success",
        lambda c, s: s == "success" and c["github"]["event_name"].upper() in ("PUSH", "SCHEDULE"),
    ),
]


def per_call_seconds(function: Callable[[], object], budget: float) -> float:
    """The median time of one call, over batches filling about ``budget`` seconds."""
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.01:
            break
        batch *= 4
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline or len(samples) < 5:
        start = time.perf_counter()
        for _ in range(batch):
            function()
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="time budget per figure")
    args = parser.parse_args()
    parse_uncached = _parse_condition.__wrapped__

    print(f"{'expression':<62} {'evals/s':>10} {'parse/eval':>10} {'eval/native':>11}")
    total_eval = total_parse = total_native = 0.0
    for text, status, native in CASES:
        expression = parse_condition(text)
        decision = truthy(expression.evaluate(CONTEXTS, status=status))
        if decision != native(CONTEXTS, status):
            raise SystemExit(f"the hand-written check disagrees on {text!r}")
        parse = per_call_seconds(functools.partial(parse_uncached, text), args.seconds)
        evaluate = per_call_seconds(
            functools.partial(expression.evaluate, CONTEXTS, status=status), args.seconds
        )
        baseline = per_call_seconds(functools.partial(native, CONTEXTS, status), args.seconds)
        total_eval += evaluate
        total_parse += parse
        total_native += baseline
        label = text if len(text) <= 60 else text[:57] + "..."
        print(
            f"{label:<62} {1 / evaluate:>10,.0f} {parse / evaluate:>10.1f} "
            f"{evaluate / baseline:>11.1f}"
        )
    count = len(CASES)
    print()
    print(f"evaluations per second (mean over {count} expressions): {count / total_eval:,.0f}")
    print(f"parse cost / evaluate cost:   {total_parse / total_eval:.1f}")
    print(f"evaluate cost / native Python: {total_eval / total_native:.1f}")
    cached = per_call_seconds(lambda: parse_condition(CASES[0][0]), args.seconds)
    print(f"cached parse cost / evaluate cost: {cached / (total_eval / count):.2f}")


if __name__ == "__main__":
    main()

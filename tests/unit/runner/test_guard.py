"""The orphan guard: what a process registered with it is ended (and removed)
when that process dies without warning, and only then."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cairn.runner.guard import OrphanGuard

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

#: a stand-in for cairn run: starts a guard and process groups, registers
#: what it is told, prints the pids, then waits to be killed
OWNER = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    from cairn.runner.guard import OrphanGuard

    guard = OrphanGuard.start(grace=0.3)
    watched = subprocess.Popen(["sleep", "300"], start_new_session=True)
    stubborn = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"], start_new_session=True
    )
    forgotten = subprocess.Popen(["sleep", "300"], start_new_session=True)
    for process in (watched, stubborn, forgotten):
        guard.watch_group(process.pid)
    guard.forget_group(forgotten.pid)
    guard.watch_path(Path(sys.argv[1]))
    guard.watch_path(Path(sys.argv[2]))
    guard.forget_path(Path(sys.argv[2]))
    print(guard.pid, watched.pid, stubborn.pid, forgotten.pid, flush=True)
    if sys.argv[3] == "close":
        guard.close()
        print("closed", flush=True)
    time.sleep(300)
    """
)


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def wait_for(condition: object, what: str, timeout: float = 20) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_owner(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], list[int]]:
    (tmp_path / "temp").mkdir()
    (tmp_path / "kept").mkdir()
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path / "temp"), str(tmp_path / "kept"), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    pids = [int(word) for word in owner.stdout.readline().split()]
    if mode == "close":
        assert owner.stdout.readline().strip() == "closed"
    return owner, pids


def end(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def test_a_killed_owner_takes_its_groups_and_temporary_directories_with_it(
    tmp_path: Path,
) -> None:
    owner, pids = start_owner(tmp_path, "stay")
    guard, watched, stubborn, forgotten = pids
    try:
        assert all(running(pid) for pid in pids)
        owner.kill()
        owner.wait()
        wait_for(lambda: not running(watched), "the watched group to end (SIGTERM)")
        wait_for(lambda: not running(stubborn), "the group ignoring SIGTERM to be killed")
        wait_for(lambda: not (tmp_path / "temp").exists(), "the directory to be removed")
        wait_for(lambda: not running(guard), "the guard to exit")
        # what was forgotten is left alone
        assert running(forgotten)
        assert (tmp_path / "kept").is_dir()
    finally:
        end(pids[1:])


def test_a_clean_close_leaves_everything_as_it_is(tmp_path: Path) -> None:
    owner, pids = start_owner(tmp_path, "close")
    guard, watched, stubborn, _ = pids
    try:
        # once gone, the guard can act no more: the owner's death changes nothing
        wait_for(lambda: not running(guard), "the guard to exit after bye")
        owner.kill()
        owner.wait()
        assert running(watched) and running(stubborn)
        assert (tmp_path / "temp").is_dir()
    finally:
        end(pids[1:])


def test_a_dead_guard_costs_nothing_but_its_protection() -> None:
    guard = OrphanGuard.start(grace=0.1)
    os.kill(guard.pid, signal.SIGKILL)
    wait_for(lambda: not running(guard.pid), "the guard to die")
    for pgid in range(3):  # the pipe is broken: every call is a no-op
        guard.watch_group(100_000 + pgid)
    guard.close()

"""Process groups: output lines, and the SIGINT -> SIGTERM -> SIGKILL ladder
ending a whole process tree."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from cairn.runner.process import ProcessGroups, run_process
from cairn.runner.settings import RunnerSettings

ENV = {"PATH": os.environ["PATH"]}


async def _run(
    script: str,
    settings: RunnerSettings,
    tmp_path: Path,
    *,
    stop: asyncio.Event | None = None,
    timeout: float | None = None,
    groups: ProcessGroups | None = None,
) -> tuple[int, str | None, list[str]]:
    lines: list[str] = []
    outcome = await run_process(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=ENV,
        on_line=lines.append,
        stop=stop or asyncio.Event(),
        timeout=timeout,
        settings=settings,
        groups=groups or ProcessGroups(),
    )
    return outcome.exit_code, outcome.interrupted, lines


async def test_lines_exit_code_and_crlf(settings: RunnerSettings, tmp_path: Path) -> None:
    code, why, lines = await _run(
        "echo one; printf 'two\\r\\nthree'; echo err >&2; exit 4", settings, tmp_path
    )
    assert (code, why) == (4, None)
    # stderr shares the pipe: "err" continues the unterminated line
    assert lines == ["one", "two", "threeerr"]


async def test_long_lines_are_split(tmp_path: Path) -> None:
    settings = RunnerSettings(max_line_bytes=1000)
    _, _, lines = await _run("head -c 2500 /dev/zero | tr '\\0' a; echo", settings, tmp_path)
    assert [len(x) for x in lines] == [1000, 1000, 500]


async def test_timeout_escalates_to_sigkill_and_ends_children(
    settings: RunnerSettings, tmp_path: Path, until: Callable[..., Awaitable[None]]
) -> None:
    marker = tmp_path / "child.pid"
    script = f"trap '' INT TERM; sleep 60 & echo $! > {marker}; wait"
    groups = ProcessGroups()
    code, why, _ = await _run(script, settings, tmp_path, timeout=0.5, groups=groups)
    assert why == "timed_out"
    assert code == -9  # it ignored SIGINT and SIGTERM
    child = int(marker.read_text())
    # SIGKILL is delivered asynchronously: wait for the child to be gone.
    await until(lambda: not _pid_alive(child), timeout=5.0)


async def test_stop_ends_a_cooperative_process_with_sigint(
    settings: RunnerSettings, tmp_path: Path, until: Callable[..., Awaitable[None]]
) -> None:
    started = tmp_path / "started"
    stop = asyncio.Event()
    slow = RunnerSettings(sigint_grace=5.0, sigterm_grace=5.0)
    task = asyncio.create_task(
        _run(
            f"trap 'echo got INT; exit 130' INT; touch {started}; sleep 60 & wait",
            slow,
            tmp_path,
            stop=stop,
        )
    )
    await until(started.exists)
    stop.set()
    code, why, lines = await asyncio.wait_for(task, 4.0)
    assert why == "stopped"
    assert code == 130
    assert "got INT" in lines


async def test_background_process_does_not_hold_the_step(
    settings: RunnerSettings, tmp_path: Path
) -> None:
    groups = ProcessGroups()
    code, why, lines = await asyncio.wait_for(
        _run("sleep 60 & echo started", settings, tmp_path, groups=groups), 5.0
    )
    assert (code, why, lines) == (0, None, ["started"])
    assert groups.alive()
    ended = await groups.cleanup(settings)
    assert ended and not groups.alive()


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"

"""Running one step's process: its own session and process group, output
read line by line, and the end of the whole group on cancellation or timeout
with GitHub's escalation (SIGINT, grace, SIGTERM, grace, SIGKILL).

GitHub signals only a step's entry process; Cairn signals its whole process
group so that nothing a cancelled step started outlives it. Processes a step
leaves running in the background on purpose (``server &``) survive the step,
as on GitHub, and are ended with the job (:class:`ProcessGroups`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cairn.runner.guard import OrphanGuard
from cairn.runner.settings import RunnerSettings

_POLL_SECONDS = 0.02
_CHUNK = 64 * 1024

Interruption = Literal["stopped", "timed_out"]


@dataclass(frozen=True)
class ProcessOutcome:
    #: the entry process's exit code; negative: killed by that signal
    exit_code: int
    #: why the runner ended it, None when it ended by itself
    interrupted: Interruption | None = None


def _live_groups(candidates: set[int]) -> set[int]:
    """Which of ``candidates`` still hold a live (non-zombie) process.

    Zombies count as gone: when the runner is PID 1 of a pod, orphans
    re-parented to it are never reaped, yet they run nothing."""
    alive = set()
    for pgid in candidates:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        alive.add(pgid)
    proc = Path("/proc")
    # a group without any process needs no scan of /proc (the common case:
    # every step's processes have exited), which costs milliseconds per job
    if not alive or not proc.is_dir():
        return alive
    candidates = alive
    found: set[int] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) in candidates:
            found.add(int(fields[2]))
            if found == candidates:
                break
    return found


def _group_alive(pgid: int) -> bool:
    return bool(_live_groups({pgid}))


class _LinePump:
    """Reads a stream to its end and hands each decoded line to ``on_line``,
    which can be swapped (a detached pump logs plain output)."""

    def __init__(
        self, stream: asyncio.StreamReader, on_line: Callable[[str], None], max_line: int
    ) -> None:
        self.on_line = on_line
        self._stream = stream
        self._max_line = max_line

    def _deliver(self, raw: bytes) -> None:
        # one endless line is delivered in pieces so it cannot exhaust memory
        for start in range(0, max(len(raw), 1), self._max_line):
            line = raw[start : start + self._max_line].decode("utf-8", errors="replace")
            if line.endswith("\r"):
                line = line[:-1]
            self.on_line(line)

    async def run(self) -> None:
        buffer = bytearray()
        while True:
            chunk = await self._stream.read(_CHUNK)
            if not chunk:
                break
            buffer += chunk
            while True:
                newline = buffer.find(b"\n")
                if newline < 0:
                    break
                self._deliver(bytes(buffer[:newline]))
                del buffer[: newline + 1]
            if len(buffer) > self._max_line:
                whole = len(buffer) - len(buffer) % self._max_line
                self._deliver(bytes(buffer[:whole]))
                del buffer[:whole]
        if buffer:
            self._deliver(bytes(buffer))


class _Child:
    """A started process and a future for its exit code.

    ``asyncio``'s own subprocess ``wait()`` (Python 3.11) does not return
    until every pipe is closed, which a step's background process can delay
    forever; so exits are watched through a pidfd (a thread where there is
    none) and output is read separately."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int] = loop.create_future()
        try:
            fd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):
            threading.Thread(target=self._wait_in_thread, args=(loop,), daemon=True).start()
            return

        def readable() -> None:
            code = popen.poll()
            if code is not None:
                loop.remove_reader(fd)
                os.close(fd)
                if not self.exited.done():
                    self.exited.set_result(code)

        loop.add_reader(fd, readable)

    def _wait_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        code = self.popen.wait()
        loop.call_soon_threadsafe(self._set, code)

    def _set(self, code: int) -> None:
        if not self.exited.done():
            self.exited.set_result(code)

    @property
    def returncode(self) -> int | None:
        return self.exited.result() if self.exited.done() else None


async def _wait_gone(child: _Child, seconds: float) -> bool:
    """Wait up to ``seconds`` for the entry process to exit and its group to
    empty (there is no event for the latter, hence the short polling)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        remaining = deadline - loop.time()
        if not child.exited.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(child.exited), timeout=max(0.0, min(remaining, _POLL_SECONDS))
                )
        if child.exited.done() and not _group_alive(child.pid):
            return True
        if remaining <= 0:
            return False
        if child.exited.done():
            await asyncio.sleep(min(remaining, _POLL_SECONDS))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def terminate_group(child: _Child, settings: RunnerSettings) -> None:
    """SIGINT to the group, and once the entry process has exited or its
    grace has passed, SIGTERM to whatever is left, then SIGKILL.

    Background processes of a non-interactive shell ignore SIGINT, so once
    the entry process is gone the rest goes straight to SIGTERM rather than
    waiting out the SIGINT grace."""
    _signal_group(child.pid, signal.SIGINT)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(child.exited), settings.sigint_grace)
    if child.exited.done() and not _group_alive(child.pid):
        return
    _signal_group(child.pid, signal.SIGTERM)
    if await _wait_gone(child, settings.sigterm_grace):
        return
    _signal_group(child.pid, signal.SIGKILL)
    await asyncio.shield(child.exited)


class ProcessGroups:
    """The process groups a job started, and output pumps still attached to
    background processes, so the job can end them all when it finishes.
    With a ``guard``, the groups are also ended if this process dies first."""

    def __init__(self, guard: OrphanGuard | None = None) -> None:
        self._groups: list[int] = []
        self._pumps: list[asyncio.Task[None]] = []
        self._guard = guard

    def add_group(self, pgid: int) -> None:
        self._groups.append(pgid)
        if self._guard is not None:
            self._guard.watch_group(pgid)

    def adopt_pump(self, task: asyncio.Task[None]) -> None:
        self._pumps.append(task)

    def alive(self) -> list[int]:
        live = _live_groups(set(self._groups)) if self._groups else set()
        return [pgid for pgid in self._groups if pgid in live]

    async def cleanup(self, settings: RunnerSettings) -> list[int]:
        """End every process still running in the job's groups; returns the
        groups that had to be ended."""
        leftover = self.alive()
        for pgid in leftover:
            _signal_group(pgid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.sigterm_grace
        while leftover and _live_groups(set(leftover)) and loop.time() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
        for pgid in _live_groups(set(leftover)) if leftover else ():
            _signal_group(pgid, signal.SIGKILL)
        # the pumps see end-of-file once the writers are gone
        if self._pumps:
            _, pending = await asyncio.wait(self._pumps, timeout=settings.output_drain_timeout)
            for task in pending:
                task.cancel()
        if self._guard is not None:
            for pgid in self._groups:
                self._guard.forget_group(pgid)
        self._groups.clear()
        self._pumps.clear()
        return leftover


async def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    stop: asyncio.Event,
    timeout: float | None,
    settings: RunnerSettings,
    groups: ProcessGroups,
    detached_line: Callable[[str], None] | None = None,
) -> ProcessOutcome:
    """Run ``argv`` to its end, or until ``stop`` is set or ``timeout``
    seconds pass (then its group is terminated). Raises ``OSError`` when the
    process cannot be started."""
    popen = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    child = _Child(popen)
    groups.add_group(child.pid)  # a session leader's group id is its pid
    assert popen.stdout is not None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=settings.max_line_bytes, loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), popen.stdout
    )
    pump = _LinePump(reader, on_line, settings.max_line_bytes)

    async def pump_then_close() -> None:
        try:
            await pump.run()
        finally:
            transport.close()

    pump_task = asyncio.create_task(pump_then_close())
    stopped = asyncio.create_task(stop.wait())
    interrupted: Interruption | None = None
    try:
        waiters: set[asyncio.Future[Any]] = {child.exited, stopped}
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if child.exited not in done:
            interrupted = "stopped" if stopped in done else "timed_out"
            await terminate_group(child, settings)
    except asyncio.CancelledError:
        # the caller itself is being cancelled: leave nothing behind
        _signal_group(child.pid, signal.SIGKILL)
        raise
    finally:
        stopped.cancel()
    try:
        await asyncio.wait_for(asyncio.shield(pump_task), settings.output_drain_timeout)
    except TimeoutError:
        # a background process still holds the output pipe: keep logging what
        # it prints, but as plain output, and let the step end now
        if detached_line is not None:
            pump.on_line = detached_line
        groups.adopt_pump(pump_task)
    code = child.returncode
    assert code is not None
    return ProcessOutcome(code, interrupted)

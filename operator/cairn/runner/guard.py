"""Ending a job's processes when the process running them dies without
warning (``kill -9``, the OOM killer, a closed terminal).

Every step runs in its own session and process group, so that a cancelled
step can be ended as a whole and a terminal's Ctrl-C reaches only Cairn. The
price is that nothing ends those groups when Cairn itself is killed: the
kernel's parent-death signal (``PR_SET_PDEATHSIG``) would reach only each
step's entry process, not what it started, and asking for it costs every
step a full ``fork`` instead of ``vfork``.

So one small helper process watches for Cairn's death instead. Cairn tells it,
through a pipe, every process group it starts and every temporary directory
it creates (and forgets them once they are gone); the helper only reads. When
the pipe closes without a goodbye, the process that held its other end is
dead: the helper sends SIGTERM to every group it knows, SIGKILL to what is
left after a grace period, and removes the directories (a step's script, with
its expressions rendered, sits in one while it runs).

A pod does not need this: the runner is the container's first process, and
its death ends the container.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import IO

from cairn.runner.errors import RunnerSetupError

#: the helper, run with ``python -I -S -c`` so that it starts in milliseconds
#: and imports nothing from the project; it is written for that: small and
#: standalone. Lines: ``+g PGID``/``-g PGID``, ``+d PATH``/``-d PATH`` (a JSON
#: string), ``bye`` (a clean end: nothing to do).
_HELPER = r"""
import json, os, shutil, signal, sys, time
groups, paths = set(), set()
for line in sys.stdin:
    op, _, arg = line.rstrip("\n").partition(" ")
    if op == "bye":
        sys.exit(0)
    if op in ("+g", "-g"):
        (groups.add if op == "+g" else groups.discard)(int(arg))
    elif op in ("+d", "-d"):
        (paths.add if op == "+d" else paths.discard)(json.loads(arg))
def signalled(pgid, sig):
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
def running():
    # killed processes whose parent (the dead owner) cannot reap them stay as
    # zombies, which a signal still reaches: /proc tells them apart
    try:
        names = os.listdir("/proc")
    except OSError:
        return any(signalled(g, 0) for g in groups)
    for name in names:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) in groups:
                return True
    return False
groups = {g for g in groups if signalled(g, signal.SIGTERM)}
deadline = time.monotonic() + float(sys.argv[1])
while groups and time.monotonic() < deadline and running():
    time.sleep(0.05)
for pgid in groups:
    signalled(pgid, signal.SIGKILL)
for path in paths:
    shutil.rmtree(path, ignore_errors=True)
"""


class OrphanGuard:
    """The parent's side of the helper. Use :meth:`start`, and :meth:`close`
    when the process ends normally."""

    def __init__(self, process: subprocess.Popen[bytes], pipe: IO[bytes]) -> None:
        self._process = process
        self._pipe: IO[bytes] | None = pipe

    @classmethod
    def start(cls, *, grace: float) -> OrphanGuard:
        """Start the helper; ``grace`` is the time between SIGTERM and SIGKILL."""
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, str(grace)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # its own session: a terminal's Ctrl-C or hang-up must not end
                # it before it could end the steps
                start_new_session=True,
            )
        except OSError as exc:
            raise RunnerSetupError(
                f"the helper that ends steps if cairn dies could not start: {exc}"
            ) from None
        assert process.stdin is not None
        return cls(process, process.stdin)

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, line: str) -> None:
        if self._pipe is None:
            return
        try:
            self._pipe.write(line.encode() + b"\n")
            self._pipe.flush()
        except (BrokenPipeError, ValueError):
            # the helper is gone (killed on its own): steps keep running as
            # they would without it; nothing else depends on it
            self._pipe = None

    def watch_group(self, pgid: int) -> None:
        self._send(f"+g {pgid}")

    def forget_group(self, pgid: int) -> None:
        self._send(f"-g {pgid}")

    def watch_path(self, path: Path) -> None:
        self._send(f"+d {json.dumps(str(path))}")

    def forget_path(self, path: Path) -> None:
        self._send(f"-d {json.dumps(str(path))}")

    def close(self) -> None:
        """A clean end: the helper exits without touching anything."""
        self._send("bye")
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> OrphanGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

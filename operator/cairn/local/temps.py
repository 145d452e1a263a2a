"""``RUNNER_TEMP`` directories, reused from one job to the next.

A job's runner otherwise creates a temporary directory, its event file and
five command files, and removes them all at the end: on a slow file system
that is a good part of what a short job costs. The run keeps one directory
per job running at once instead; the runner empties a directory it is given
at the start and the end of each job (GitHub empties ``RUNNER_TEMP`` at both)
and takes over its own files there. Every directory is registered with the
guard, so a killed ``cairn run`` leaves none behind; the others are removed
when the run ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cairn.runner.guard import OrphanGuard


class TempPool:
    def __init__(self, guard: OrphanGuard | None = None) -> None:
        self._guard = guard
        self._free: list[Path] = []
        self._all: list[Path] = []

    @contextmanager
    def lease(self) -> Iterator[Path]:
        """A directory for one job, to nobody else until the job ends."""
        if self._free:
            path = self._free.pop()
        else:
            path = Path(tempfile.mkdtemp(prefix="cairn-runner-")).resolve()
            self._all.append(path)
            if self._guard is not None:
                self._guard.watch_path(path)
        try:
            yield path
        finally:
            self._free.append(path)

    def close(self) -> None:
        """Remove every directory (the run is over)."""
        for path in self._all:
            shutil.rmtree(path, ignore_errors=True)
            if self._guard is not None:
                self._guard.forget_path(path)
        self._all.clear()
        self._free.clear()

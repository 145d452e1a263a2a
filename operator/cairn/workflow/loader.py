"""Reading workflow files from disk (the only part of the compiler that does I/O)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cairn.workflow.errors import Diagnostic, WorkflowError, WorkflowNotFoundError
from cairn.workflow.model import Workflow
from cairn.workflow.parser import parse_workflow
from cairn.workflow.yamltree import MAX_FILE_BYTES

WORKFLOW_SUFFIXES = (".yml", ".yaml")


def load_workflow(path: str | Path, *, name: str | None = None) -> Workflow:
    """Read and compile one workflow file; problems are raised as ``WorkflowError``.
    ``name`` is how messages (and a workflow without ``name:``) refer to the
    file, when not as ``path`` (``cairn run`` reads absolute paths but shows
    them relative to where it was started)."""
    name = str(path) if name is None else name
    try:
        # O_NONBLOCK: opening a named pipe with no writer would otherwise wait
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise WorkflowError(
                    [Diagnostic(name, 1, 1, "cannot read the file: it is not a regular file")]
                )
            size = status.st_size
            if size > MAX_FILE_BYTES:
                raise WorkflowError(
                    [
                        Diagnostic(
                            name,
                            1,
                            1,
                            f"the workflow file is {size} bytes; the limit is {MAX_FILE_BYTES} "
                            f"bytes ({MAX_FILE_BYTES // 1024} KiB)",
                        )
                    ]
                )
            # one byte more than the limit tells a file that grew while read
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WorkflowError([Diagnostic(name, 1, 1, f"cannot read the file: {reason}")]) from None
    return parse_workflow(data, name)


def discover_workflows(path: str | Path) -> list[Path]:
    """``path`` itself when it is a file, else every ``*.yml``/``*.yaml`` directly
    in the directory (GitHub does not look into subdirectories), sorted.

    Raises ``WorkflowNotFoundError`` when ``path`` does not exist.
    """
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise WorkflowNotFoundError(f"no such file or directory: {root}")
    return sorted(
        entry for entry in root.iterdir() if entry.suffix in WORKFLOW_SUFFIXES and entry.is_file()
    )

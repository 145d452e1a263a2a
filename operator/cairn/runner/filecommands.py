"""The per-step files a step writes to talk back to the runner:
``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_STATE`` (``NAME=value`` lines or
the multi-line ``NAME<<DELIMITER`` form), ``GITHUB_PATH`` (one directory a
line) and ``GITHUB_STEP_SUMMARY`` (markdown).

The parsing follows actions/runner's ``EnvFileKeyValuePairs`` so a file that
works on GitHub works here and a malformed one fails the same way.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from cairn.runner.errors import FileCommandError

#: the step environment variable -> the runner's file name prefix
FILE_COMMANDS = {
    "GITHUB_OUTPUT": "set_output_",
    "GITHUB_ENV": "set_env_",
    "GITHUB_PATH": "add_path_",
    "GITHUB_STATE": "save_state_",
    "GITHUB_STEP_SUMMARY": "step_summary_",
}


def _read_line(text: str, index: int) -> tuple[str | None, int, bool]:
    """(line, next index, whether a newline ended it) from ``index``."""
    if index >= len(text):
        return None, index, False
    end = text.find("\n", index)
    if end < 0:
        return text[index:], len(text), False
    return text[index:end], end + 1, True


def parse_key_value_file(text: str) -> list[tuple[str, str]]:
    """The pairs of a ``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_STATE`` file,
    in order (a later pair with the same name wins when applied)."""
    pairs: list[tuple[str, str]] = []
    index = 0
    while True:
        line, index, _ = _read_line(text, index)
        if line is None:
            return pairs
        if not line:
            continue
        equals = line.find("=")
        heredoc = line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            key, value = line.split("=", 1)
            if not key:
                raise FileCommandError(f"Invalid format '{line}'. Name must not be empty")
            pairs.append((key, value))
        elif heredoc >= 0:
            key, delimiter = line.split("<<", 1)
            if not key or not delimiter:
                raise FileCommandError(
                    f"Invalid format '{line}'. Name must not be empty and delimiter must "
                    "not be empty"
                )
            start = end = index
            while True:
                value_line, index, had_newline = _read_line(text, index)
                if value_line == delimiter:
                    break
                if value_line is None:
                    raise FileCommandError(
                        f"Invalid value. Matching delimiter not found '{delimiter}'"
                    )
                if not had_newline:
                    raise FileCommandError("Invalid value. EOF marker missing new line.")
                end = index - 1
            pairs.append((key, text[start:end] if end > start else ""))
        else:
            raise FileCommandError(f"Invalid format '{line}'")


def parse_path_file(text: str) -> list[str]:
    """Directories from a ``GITHUB_PATH`` file, in file order."""
    return [line for line in text.split("\n") if line]


class CommandFiles:
    """The five files of a job's steps, created once per job (or taken over
    from the previous job in a reused ``RUNNER_TEMP``) and emptied before
    each step.

    GitHub's runner gives every step new files; what the step sees is the
    same either way (empty files at the paths in its environment), and
    reusing the paths spares five file creations and removals per step.
    Before a step, a file is truncated only if it is still the one created
    here: one a step deleted or replaced (by a link to another file, a
    directory) is replaced by a new file, so the runner never truncates
    anything but its own files.
    """

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self._inodes: dict[str, tuple[int, int]] = {}

    @classmethod
    def open(cls, directory: Path) -> CommandFiles:
        """Empty files in ``directory``: the ones an earlier job left there
        when they are still plain files nothing else links to, new ones
        otherwise."""
        directory.mkdir(parents=True, exist_ok=True)
        found: dict[str, Path] = {}
        with os.scandir(directory) as entries:
            for entry in entries:
                for var, prefix in FILE_COMMANDS.items():
                    if entry.name.startswith(prefix) and var not in found:
                        found[var] = Path(entry.path)
        if len(found) < len(FILE_COMMANDS):
            for path in found.values():
                _remove(path)
            suffix = os.urandom(16).hex()
            files = cls({v: directory / f"{prefix}{suffix}" for v, prefix in FILE_COMMANDS.items()})
            for var in files.paths:
                files._create(var)
            return files
        files = cls(found)
        for var, path in found.items():
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                files._inodes[var] = (info.st_dev, info.st_ino)
        files.empty()
        return files

    def _create(self, var: str) -> None:
        fd = os.open(self.paths[var], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
        self._inodes[var] = (info.st_dev, info.st_ino)

    def empty(self) -> None:
        """Empty files: for the next step, or to leave nothing behind."""
        for var, path in self.paths.items():
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                self._create(var)
                continue
            if (info.st_dev, info.st_ino) == self._inodes.get(var) and stat.S_ISREG(info.st_mode):
                if info.st_size:
                    os.truncate(path, 0)
                continue
            _remove(path)
            self._create(var)

    def read(self, var: str) -> str:
        """The file's text; a step may delete its file, which GitHub treats as empty."""
        if not self.size(var):
            return ""
        try:
            return self.paths[var].read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, IsADirectoryError):
            return ""

    def size(self, var: str) -> int:
        try:
            return self.paths[var].stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)

"""The per-step files a step writes to talk back to the runner:
``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_STATE`` (``NAME=value`` lines or
the multi-line ``NAME<<DELIMITER`` form), ``GITHUB_PATH`` (one directory a
line) and ``GITHUB_STEP_SUMMARY`` (markdown).

The parsing follows actions/runner's ``EnvFileKeyValuePairs`` so a file that
works on GitHub works here and a malformed one fails the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StepFiles:
    """The fresh, empty files of one step (the runner uses a new set per step)."""

    paths: dict[str, Path]

    @classmethod
    def create(cls, directory: Path) -> StepFiles:
        directory.mkdir(parents=True, exist_ok=True)
        suffix = uuid.uuid4().hex
        paths = {var: directory / f"{prefix}{suffix}" for var, prefix in FILE_COMMANDS.items()}
        for path in paths.values():
            path.write_bytes(b"")
        return cls(paths)

    def read(self, var: str) -> str:
        try:
            return self.paths[var].read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            # a step may delete its file; GitHub treats that as empty
            return ""

    def size(self, var: str) -> int:
        try:
            return self.paths[var].stat().st_size
        except FileNotFoundError:
            return 0

    def remove(self) -> None:
        for path in self.paths.values():
            path.unlink(missing_ok=True)

"""Where the runner's log lines go.

The runner emits :class:`LogRecord` objects, already masked, to one
:class:`LogSink`. A pod uses a :class:`StreamSink` on stdout; the local
executor can combine a prefixed :class:`StreamSink` (``[build] ...``) with a
:class:`FileSink` per job through a :class:`TeeSink`, or collect records with
a :class:`MemorySink`/:class:`CallbackSink` for a live view.

Records are rendered like GitHub's raw logs (``##[group]``, ``##[error]``...)
so people who read GitHub logs read these the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, TextIO

from cairn.engine.jobspec import Annotation

LogKind = Literal[
    "output",  # a line a step printed
    "group",  # start of a collapsible group (text: its title)
    "endgroup",
    "error",  # annotations; ``annotation`` holds the details
    "warning",
    "notice",
    "debug",  # only emitted when step debug logging is on
    "info",  # the runner's own lines (step headers, checkout progress)
    "step",  # a step finished: text is its conclusion
]


@dataclass(frozen=True)
class LogRecord:
    time: datetime
    kind: LogKind
    text: str
    #: index of the step in the job, None for job-level lines
    step: int | None = None
    step_name: str | None = None
    annotation: Annotation | None = None


class LogSink(Protocol):
    def write(self, record: LogRecord) -> None: ...


def _location(annotation: Annotation) -> str:
    if annotation.file is None:
        return ""
    parts = [annotation.file]
    if annotation.line is not None:
        parts.append(str(annotation.line))
        if annotation.column is not None:
            parts.append(str(annotation.column))
    return ":".join(parts) + ": "


def format_record(record: LogRecord) -> str:
    """One line of text (without newline) for ``record``."""
    kind = record.kind
    if kind == "output" or kind == "info":
        return record.text
    if kind == "group":
        return f"##[group]{record.text}"
    if kind == "endgroup":
        return "##[endgroup]"
    if kind == "step":
        return f"##[step]{record.step_name}: {record.text}"
    if kind in ("error", "warning", "notice") and record.annotation is not None:
        a = record.annotation
        title = f"{a.title}: " if a.title else ""
        return f"##[{kind}]{_location(a)}{title}{a.message}"
    return f"##[{kind}]{record.text}"


class StreamSink:
    """Writes formatted lines to a text stream, each behind ``prefix``."""

    def __init__(self, stream: TextIO, *, prefix: str = "") -> None:
        self._stream = stream
        self._prefix = prefix

    def write(self, record: LogRecord) -> None:
        # a record's text never holds a newline except a multi-line message
        # (an annotation); prefix each physical line so per-job logs interleave
        # readably
        for line in format_record(record).split("\n"):
            self._stream.write(f"{self._prefix}{line}\n")
        self._stream.flush()


class FileSink:
    """Appends formatted lines to a file (one per job, for the local executor)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: LogRecord) -> None:
        self._file.write(format_record(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class MemorySink:
    """Keeps every record; ``lines`` gives the formatted text."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []

    def write(self, record: LogRecord) -> None:
        self.records.append(record)

    @property
    def lines(self) -> list[str]:
        return [format_record(r) for r in self.records]

    def output(self, step: int | None = None) -> list[str]:
        """The ``output`` lines, of one step when ``step`` is given."""
        return [
            r.text for r in self.records if r.kind == "output" and (step is None or r.step == step)
        ]


class CallbackSink:
    def __init__(self, callback: Callable[[LogRecord], None]) -> None:
        self._callback = callback

    def write(self, record: LogRecord) -> None:
        self._callback(record)


class TeeSink:
    def __init__(self, *sinks: LogSink) -> None:
        self._sinks = sinks

    def write(self, record: LogRecord) -> None:
        for sink in self._sinks:
            sink.write(record)

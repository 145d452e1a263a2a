"""The live view for terminals: one row per job (status, duration, the last
line it printed), redrawn a few times a second by ``rich``. Errors and
warnings the steps report are printed above the table as they happen; whole
logs are in the run directory (their paths are printed at the end).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cairn.engine.jobspec import JobSpec
from cairn.engine.run import WorkflowRun
from cairn.engine.state import JobState, WorkflowState
from cairn.local.report import Labels, reason_text
from cairn.local.summary import ordered_instances
from cairn.runner.logsink import CallbackSink, LogRecord, LogSink, format_record

_STYLE = {
    "success": ("✓", "green"),
    "failure": ("✗", "red"),
    "cancelled": ("⊘", "yellow"),
    "skipped": ("-", "dim"),
    "running": ("●", "cyan"),
    "queued": ("○", "cyan"),
    "pending": ("·", "dim"),
}
_LAST_LINE = 60


@dataclass
class _Row:
    key: str
    instance_id: str
    status: str = "pending"
    reason: str = ""
    started: float | None = None
    seconds: float | None = None
    last: str = ""


class LiveReporter:
    def __init__(
        self,
        stream: TextIO,
        labels: Labels,
        runs: Mapping[str, WorkflowRun],
        states: Mapping[str, WorkflowState],
    ) -> None:
        self.labels = labels
        self.console = Console(file=stream)
        self.rows: dict[tuple[str, str], _Row] = {}
        for key, state in states.items():
            run = runs[key]
            for instance_id in ordered_instances(run, state):
                job = state.jobs[instance_id]
                row = self._row(key, instance_id)
                if job.completed:
                    row.status = job.conclusion or "skipped"
                    row.reason = reason_text(job.reason)
        self.live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=4,
            transient=False,
        )

    def start(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.live.stop()

    def _row(self, key: str, instance_id: str) -> _Row:
        row = self.rows.get((key, instance_id))
        if row is None:
            row = self.rows[(key, instance_id)] = _Row(key, instance_id)
            # a dynamic matrix's placeholder row gives way to its instances
            job_id = instance_id.split(".", 1)[0]
            if job_id != instance_id:
                self.rows.pop((key, job_id), None)
        return row

    # -- Reporter ---------------------------------------------------------------

    def job_sink(self, key: str, spec: JobSpec) -> LogSink:
        self.labels.remember(key, spec)
        row = self._row(key, spec.instance_id)
        label = self.labels.label(key, spec.instance_id)

        def on_record(record: LogRecord) -> None:
            if record.kind == "output" and record.text.strip():
                row.last = record.text.strip()[:_LAST_LINE]
            elif record.kind in ("error", "warning"):
                style = "red" if record.kind == "error" else "yellow"
                self.console.print(Text(f"{label} {format_record(record)}", style=style))

        return CallbackSink(on_record)

    def job_started(self, key: str, spec: JobSpec) -> None:
        row = self._row(key, spec.instance_id)
        row.status, row.started, row.seconds, row.last = "running", time.monotonic(), None, ""

    def job_finished(self, key: str, instance_id: str, state: JobState) -> None:
        row = self._row(key, instance_id)
        row.status = state.conclusion or "failure"
        row.reason = "" if state.conclusion == "success" else reason_text(state.reason)
        if row.started is not None:
            row.seconds = time.monotonic() - row.started

    def job_skipped(self, key: str, instance_id: str, conclusion: str, reason: str) -> None:
        row = self._row(key, instance_id)
        row.status, row.reason = conclusion, reason_text(reason)

    def workflow_finished(self, key: str, state: WorkflowState) -> None:
        style = _STYLE.get(state.conclusion or "", ("", ""))[1]
        self.console.print(
            f"Workflow [bold]{escape(self.labels.workflow(key))}[/]: [{style}]{state.conclusion}[/]"
        )

    def notice(self, text: str) -> None:
        self.console.print(f"[bold]cairn:[/] {escape(text)}")

    # -- drawing ------------------------------------------------------------------

    def _render(self) -> RenderableType:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("", width=1)
        table.add_column("Job", no_wrap=True)
        table.add_column("Status", no_wrap=True)
        table.add_column("Time", justify="right", no_wrap=True)
        table.add_column("", overflow="ellipsis", no_wrap=True)
        now = time.monotonic()
        for row in self.rows.values():
            icon, style = _STYLE.get(row.status, ("?", ""))
            seconds = row.seconds
            if seconds is None and row.status == "running" and row.started is not None:
                seconds = now - row.started
            shown = "" if seconds is None else f"{seconds:.1f}s"
            detail = row.last if row.status == "running" else row.reason
            name = self.labels.label(row.key, row.instance_id)[1:-1]
            table.add_row(
                Text(icon, style=style),
                name,
                Text(row.status, style=style),
                shown,
                Text(detail, style="dim"),
            )
        return table

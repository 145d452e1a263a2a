"""What people see while a run goes: plain prefixed log lines (for pipes,
files and CI logs) — every line a step prints, behind the job's name::

    [build (ubuntu, 3.11)] ##[group]Run make test
    [build (ubuntu, 3.11)] ok
    [build (ubuntu, 3.11)] Job succeeded in 1.4s

The live view for terminals is in ``live.py``; both implement the
executor's ``Reporter``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TextIO

from cairn.engine.jobspec import JobSpec
from cairn.engine.state import JobState, WorkflowState
from cairn.runner.logsink import LogSink, StreamSink

#: the engine's reasons, in words
REASONS = {
    "if_false": "its 'if' is false",
    "needs_failed": "a job it needs did not succeed",
    "fail_fast": "another job of the matrix failed (fail-fast)",
    "timed_out": "timed out (timeout-minutes)",
    "queue_timeout": "waited too long for a runner",
    "step_failed": "a step failed",
    "cancelled": "the run was cancelled",
    "workflow_error": "the workflow could not start",
    "max_duration": "the run exceeded its maximum duration",
}

VERBS = {
    "success": "succeeded",
    "failure": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
}


def reason_text(reason: str | None) -> str:
    if not reason:
        return ""
    return REASONS.get(reason, reason)


def duration_text(job: JobState) -> str:
    if job.started_at is None or job.completed_at is None:
        return ""
    seconds = (job.completed_at - job.started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


class Labels:
    """``[job name]``, or ``[workflow / job name]`` when several workflows run."""

    def __init__(self, workflow_names: Mapping[str, str], names: Callable[[str, str], str]) -> None:
        self._workflows = dict(workflow_names)
        self._names = names
        self._started: dict[tuple[str, str], str] = {}
        self.multi = len(self._workflows) > 1

    def remember(self, key: str, spec: JobSpec) -> None:
        self._started[(key, spec.instance_id)] = spec.name

    def name(self, key: str, instance_id: str) -> str:
        started = self._started.get((key, instance_id))
        return started if started is not None else self._names(key, instance_id)

    def label(self, key: str, instance_id: str) -> str:
        name = self.name(key, instance_id)
        return f"[{self._workflows[key]} / {name}]" if self.multi else f"[{name}]"

    def workflow(self, key: str) -> str:
        return self._workflows[key]


def finished_text(job: JobState) -> str:
    verb = VERBS.get(job.conclusion or "", job.conclusion or "ended")
    text = f"Job {verb}"
    reason = reason_text(job.reason)
    if reason and job.conclusion != "success":
        text += f": {reason}"
    duration = duration_text(job)
    if duration:
        text += f" in {duration}"
    if job.attempt > 1:
        text += f" (attempt {job.attempt})"
    return text


class PlainReporter:
    def __init__(self, stream: TextIO, labels: Labels) -> None:
        self.stream = stream
        self.labels = labels

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def job_sink(self, key: str, spec: JobSpec) -> LogSink:
        self.labels.remember(key, spec)
        return StreamSink(self.stream, prefix=self.labels.label(key, spec.instance_id) + " ")

    def job_started(self, key: str, spec: JobSpec) -> None:
        attempt = f" (attempt {spec.attempt})" if spec.attempt > 1 else ""
        self._line(f"{self.labels.label(key, spec.instance_id)} Job started{attempt}")

    def job_finished(self, key: str, instance_id: str, state: JobState) -> None:
        self._line(f"{self.labels.label(key, instance_id)} {finished_text(state)}")

    def job_skipped(self, key: str, instance_id: str, conclusion: str, reason: str) -> None:
        verb = VERBS.get(conclusion, conclusion)
        text = f"Job {verb}" if conclusion == "skipped" else f"Job {verb} before it started"
        self._line(f"{self.labels.label(key, instance_id)} {text}: {reason_text(reason)}")

    def workflow_finished(self, key: str, state: WorkflowState) -> None:
        reason = f" ({reason_text(state.reason)})" if state.reason else ""
        self._line(f"Workflow {self.labels.workflow(key)}: {state.conclusion}{reason}")

    def notice(self, text: str) -> None:
        self._line(f"cairn: {text}")

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

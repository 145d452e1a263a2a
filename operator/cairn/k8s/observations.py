"""What the cluster says about sandboxes and requests, as data the loop can use.

Pure functions from API objects (a Pod, a Job, a CIWorkflow's annotations) to
:class:`SandboxReport` and :class:`Requests`. They are level-based: each looks
at an object's current state, never at how it changed, so a duplicate watch
event, a relist after a restart or a batch of skipped intermediate events all
read the same. Whether a report still matters (is its attempt the one
running?) is the loop's question, not theirs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cairn.engine.jobspec import JobResult
from cairn.k8s import resources, tokens
from cairn.k8s.callbacks import InvalidCallback, ProgressReport, parse_callback
from cairn.k8s.sandbox import RUNNER_CONTAINER
from cairn.runner.termination import ResultDecodeError, decode_termination_message

ReportKind = Literal["started", "result", "finished", "gone"]

#: Which report wins when several describe one attempt: a result says the most.
#: A deleted Job outranks an ending without a result, because deleting a Job
#: kills its pod: the pod's "ended without a result" that follows (exit 137) is
#: the deletion's consequence, and its cause is what the job should fail with.
_STRENGTH: dict[ReportKind, int] = {"started": 0, "finished": 1, "gone": 2, "result": 3}


@dataclass(frozen=True)
class SandboxReport:
    """One thing known about the sandbox of one attempt."""

    workflow: str
    instance_id: str
    attempt: int
    kind: ReportKind
    #: ``started``: when the runner container started
    at: datetime | None = None
    #: ``result``: what the runner reported
    result: JobResult | None = None
    #: ``finished``/``gone``: the cluster's words for how it ended
    detail: str = ""
    #: ``finished``: the Job's own verdict (Complete or Failed)
    succeeded: bool | None = None
    #: ``finished``: the Job ran out of ``activeDeadlineSeconds``
    deadline_exceeded: bool = False

    @property
    def attempt_key(self) -> tuple[str, int]:
        return (self.instance_id, self.attempt)

    def stronger_than(self, other: SandboxReport | None) -> bool:
        return other is None or _STRENGTH[self.kind] >= _STRENGTH[other.kind]


@dataclass(frozen=True)
class SandboxIdentity:
    namespace: str
    workflow: str
    instance_id: str
    attempt: int


def sandbox_identity(obj: Mapping[str, Any]) -> SandboxIdentity | None:
    """The attempt a Cairn Job or Pod belongs to; None for anything else."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if labels.get(resources.LABEL_MANAGED_BY) != resources.MANAGED_BY:
        return None
    workflow = labels.get(resources.LABEL_WORKFLOW)
    instance_id = annotations.get(resources.ANNOTATION_INSTANCE_ID)
    namespace = meta.get("namespace")
    try:
        attempt = int(labels.get(resources.LABEL_ATTEMPT, ""))
    except ValueError:
        return None
    if not workflow or not instance_id or not namespace or attempt < 1:
        return None
    return SandboxIdentity(namespace, workflow, instance_id, attempt)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _runner_status(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(status, Mapping) and status.get("name") == RUNNER_CONTAINER:
            return status
    return None


def report_from_pod(pod: Mapping[str, Any]) -> SandboxReport | None:
    """A pod's runner container: started, or ended (with its termination message)."""
    who = sandbox_identity(pod)
    if who is None:
        return None
    status = pod.get("status") or {}
    container = _runner_status(pod)
    state = (container or {}).get("state") or {}
    terminated = state.get("terminated")
    if isinstance(terminated, Mapping):
        return _ended(who, terminated)
    if status.get("phase") == "Failed":
        # Evicted, or failed before the runner ever started: no result will come.
        why = status.get("reason") or "Failed"
        detail = f"the pod failed before its runner reported ({why}: {status.get('message', '')})"
        return SandboxReport(
            who.workflow, who.instance_id, who.attempt, "finished", detail=detail.strip(": ")
        )
    running = state.get("running")
    if isinstance(running, Mapping):
        return SandboxReport(
            who.workflow,
            who.instance_id,
            who.attempt,
            "started",
            at=_timestamp(running.get("startedAt")),
        )
    return None


def _ended(who: SandboxIdentity, terminated: Mapping[str, Any]) -> SandboxReport:
    message = terminated.get("message")
    exit_code = terminated.get("exitCode")
    reason = terminated.get("reason") or "Terminated"
    if isinstance(message, str) and message.strip():
        try:
            result = decode_termination_message(message)
        except ResultDecodeError as error:
            detail = f"the runner's termination message is not a result ({error})"
            return SandboxReport(
                who.workflow, who.instance_id, who.attempt, "finished", detail=detail
            )
        if (result.instance_id, result.attempt) != (who.instance_id, who.attempt):
            detail = (
                f"the pod reported a result for {result.instance_id} attempt {result.attempt}, "
                f"not for {who.instance_id} attempt {who.attempt}"
            )
            return SandboxReport(
                who.workflow, who.instance_id, who.attempt, "finished", detail=detail
            )
        return SandboxReport(who.workflow, who.instance_id, who.attempt, "result", result=result)
    detail = f"the runner ended without a result ({reason}, exit code {exit_code})"
    return SandboxReport(
        who.workflow, who.instance_id, who.attempt, "finished", detail=detail, succeeded=False
    )


def _finished(who: SandboxIdentity, detail: str) -> SandboxReport:
    return SandboxReport(who.workflow, who.instance_id, who.attempt, "finished", detail=detail)


def report_from_job(job: Mapping[str, Any], *, deleted: bool = False) -> SandboxReport | None:
    """A Job that finished (its Complete/Failed condition) or is gone."""
    who = sandbox_identity(job)
    if who is None:
        return None
    if deleted:
        return SandboxReport(
            who.workflow,
            who.instance_id,
            who.attempt,
            "gone",
            detail=f"the Job {job['metadata'].get('name')} was deleted before it reported a result",
        )
    for condition in (job.get("status") or {}).get("conditions") or []:
        if not isinstance(condition, Mapping) or condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind not in ("Complete", "Failed"):
            continue
        reason = str(condition.get("reason") or kind)
        message = str(condition.get("message") or "")
        return SandboxReport(
            who.workflow,
            who.instance_id,
            who.attempt,
            "finished",
            detail=f"the Job ended {kind} ({reason}{': ' + message if message else ''})",
            succeeded=kind == "Complete",
            deadline_exceeded=reason == "DeadlineExceeded",
        )
    return None


# --- requests written as annotations ------------------------------------------------


@dataclass(frozen=True)
class Callback:
    """A ``callback.cairn.dev/<token>`` annotation, decoded."""

    annotation: str
    value: str
    #: the engine's token (the part after the callback key)
    token: str
    payload: JobResult | ProgressReport


@dataclass(frozen=True)
class Requests:
    """Every request annotation on a CIWorkflow (values as written)."""

    callbacks: tuple[Callback, ...] = ()
    #: annotations that cannot be used: (annotation, value, why) — consumed and reported
    rejected: tuple[tuple[str, str, str], ...] = ()
    #: cairn.dev/cancel, retry, rerun-failed, approve: annotation -> value
    commands: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.callbacks or self.rejected or self.commands)


COMMAND_ANNOTATIONS = (
    resources.ANNOTATION_CANCEL,
    resources.ANNOTATION_RETRY,
    resources.ANNOTATION_RERUN_FAILED,
    resources.ANNOTATION_APPROVE,
    resources.ANNOTATION_REJECT,
)


def has_requests(annotations: Mapping[str, str] | None) -> bool:
    """Cheap check for the watch handler: is there anything for the loop to read?"""
    if not annotations:
        return False
    return any(
        key.startswith(resources.CALLBACK_ANNOTATION_PREFIX) or key in COMMAND_ANNOTATIONS
        for key in annotations
    )


def read_requests(annotations: Mapping[str, str] | None, callback_key: str) -> Requests:
    """Decode the request annotations of the CIWorkflow whose callback key is ``callback_key``."""
    callbacks: list[Callback] = []
    rejected: list[tuple[str, str, str]] = []
    commands: dict[str, str] = {}
    for key, value in sorted((annotations or {}).items()):
        if key in COMMAND_ANNOTATIONS:
            commands[key] = value
            continue
        if not key.startswith(resources.CALLBACK_ANNOTATION_PREFIX):
            continue
        public = key[len(resources.CALLBACK_ANNOTATION_PREFIX) :]
        try:
            owner, token = tokens.split_token(public)
        except tokens.InvalidTokenError:
            rejected.append((key, value, "malformed callback token"))
            continue
        if owner != callback_key:
            rejected.append((key, value, "the token belongs to another workflow"))
            continue
        try:
            payload = parse_callback(value.encode())
        except InvalidCallback as error:
            rejected.append((key, value, str(error)))
            continue
        callbacks.append(Callback(key, value, token, payload))
    return Requests(tuple(callbacks), tuple(rejected), commands)


def is_progress(payload: JobResult | ProgressReport) -> bool:
    return isinstance(payload, ProgressReport)


def describe_value(value: str, limit: int = 80) -> str:
    """An annotation value short enough for an Event message."""
    try:
        text = json.dumps(json.loads(value), separators=(",", ":"))
    except ValueError:
        text = value
    return text if len(text) <= limit else text[: limit - 3] + "..."

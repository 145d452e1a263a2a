"""Sandbox callbacks: what may be written, and whether the attempt still listens.

A sandbox POSTs its ``JobResult`` (completion) or a ``ProgressReport`` to
``/callbacks/<token>``. The receiver stores it, canonicalised, in the
CIWorkflow's annotation ``callback.cairn.dev/<token>``; the operator consumes
it. Everything here is pure: the HTTP layer authenticates and does the I/O.

Rules that keep repeated and late callbacks harmless:

- the value is canonical JSON, so sending the same result twice writes the
  same value (and the second write is skipped altogether);
- a completion is final: a later progress report never replaces it, and a
  *different* completion for the same attempt is a conflict (409);
- a token whose attempt is over, or whose workflow finished or is gone, is
  answered 410 Gone: the caller has already proven it owns the token, and
  "stop retrying, this attempt is over" is what it needs to hear.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cairn.engine.jobspec import JobResult, StepResult
from cairn.k8s.resources import CALLBACK_ANNOTATION_PREFIX
from cairn.webhook.errors import InvalidPayload, RequestRejected

#: Kubernetes' TotalAnnotationSizeLimitB: the sum of every annotation's key and value
ANNOTATIONS_SIZE_LIMIT = 256 * 1024
#: no single callback body can be larger than all annotations together
MAX_CALLBACK_BODY_BYTES = ANNOTATIONS_SIZE_LIMIT

#: workflow phases after which no attempt is running
_FINISHED_WORKFLOW_PHASES = frozenset(
    {"succeeded", "failed", "cancelled", "canceled", "error", "completed", "skipped"}
)
#: attempt phases/conclusions that mean the attempt is over
_FINISHED_ATTEMPT_PHASES = frozenset(
    {
        "succeeded",
        "success",
        "failed",
        "failure",
        "cancelled",
        "canceled",
        "skipped",
        "timed_out",
        "timedout",
        "completed",
        "error",
    }
)


class ProgressReport(BaseModel):
    """A running job's interim state: the steps finished so far."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["progress"]
    instance_id: str
    attempt: int = Field(ge=1)
    steps: tuple[StepResult, ...] = ()
    message: str | None = Field(default=None, max_length=4096)


CallbackPayload = JobResult | ProgressReport


def annotation_key(token: str) -> str:
    return CALLBACK_ANNOTATION_PREFIX + token


def annotations_size(annotations: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())


def parse_callback(body: bytes) -> CallbackPayload:
    """A completion (``JobResult``) or a progress report (``"kind": "progress"``)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(f"the callback body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidPayload("the callback body must be a JSON object")
    model: type[BaseModel] = ProgressReport if data.get("kind") == "progress" else JobResult
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        what = "progress report" if model is ProgressReport else "job result"
        raise InvalidPayload(f"the callback body is not a valid {what}: {problems}") from None


def canonical_value(payload: CallbackPayload) -> str:
    return payload.model_dump_json()


def is_completion(value: str) -> bool:
    """Whether a stored annotation value is a completion (not progress)."""
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("kind") != "progress"


@dataclass(frozen=True)
class AttemptEntry:
    """What a CIWorkflow's status says about the attempt a token belongs to."""

    entry: dict[str, Any]

    @property
    def finished(self) -> bool:
        if self.entry.get("conclusion") or self.entry.get("completedAt"):
            return True
        phase = self.entry.get("phase")
        return isinstance(phase, str) and phase.lower() in _FINISHED_ATTEMPT_PHASES

    @property
    def attempt(self) -> int | None:
        value = self.entry.get("attempt")
        return value if isinstance(value, int) else None

    @property
    def instance_id(self) -> str | None:
        for key in ("instanceId", "instance_id", "id"):
            value = self.entry.get(key)
            if isinstance(value, str):
                return value
        return None


def _find_entry(node: Any, tokens: frozenset[str]) -> dict[str, Any] | None:
    """The status entry (at any depth) whose ``callbackToken`` is one of ``tokens``."""
    if isinstance(node, dict):
        if node.get("callbackToken") in tokens:
            return node
        children: Any = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_entry(child, tokens)
        if found is not None:
            return found
    return None


def stale_reason(workflow: dict[str, Any], engine_token: str, public_token: str) -> str | None:
    """Why this attempt no longer accepts callbacks, or None if it does.

    The status is the operator's checkpoint: the attempt must appear there
    (the operator records an attempt's token before it starts the Job) and
    must not be finished, and the workflow must not be finished.
    """
    status = workflow.get("status") or {}
    name = workflow.get("metadata", {}).get("name", "?")
    phase = status.get("phase")
    if status.get("completedAt") or (
        isinstance(phase, str) and phase.lower() in _FINISHED_WORKFLOW_PHASES
    ):
        return f"workflow {name} has finished"
    entry = _find_entry(status, frozenset({engine_token, public_token}))
    if entry is None:
        return f"workflow {name} has no running attempt with this token"
    if AttemptEntry(entry).finished:
        return f"the attempt of workflow {name} this token belongs to has finished"
    return None


def check_matches_attempt(
    workflow: dict[str, Any], engine_token: str, public_token: str, payload: CallbackPayload
) -> None:
    """A payload must describe the attempt its token belongs to."""
    entry = _find_entry(workflow.get("status") or {}, frozenset({engine_token, public_token}))
    if entry is None:
        return
    attempt = AttemptEntry(entry)
    if attempt.attempt is not None and attempt.attempt != payload.attempt:
        raise InvalidPayload(
            f"the payload reports attempt {payload.attempt}, the token belongs to attempt"
            f" {attempt.attempt}"
        )
    if attempt.instance_id is not None and attempt.instance_id != payload.instance_id:
        raise InvalidPayload(
            f"the payload reports job {payload.instance_id!r}, the token belongs to"
            f" {attempt.instance_id!r}"
        )


WriteDecision = Literal["write", "duplicate"]


def decide_write(
    annotations: dict[str, str], key: str, value: str, *, completion: bool
) -> WriteDecision:
    """Whether to write ``value`` under ``key`` given the object's annotations.

    Raises ``RequestRejected`` (409) when a different completion is already
    recorded, (413) when the annotations would exceed Kubernetes' limit.
    """
    existing = annotations.get(key)
    if existing == value:
        return "duplicate"
    if existing is not None and is_completion(existing):
        if completion:
            raise RequestRejected(
                409, "a different completion was already recorded for this attempt", "conflict"
            )
        # a late progress report after the completion: keep the completion
        return "duplicate"
    others = {k: v for k, v in annotations.items() if k != key}
    total = annotations_size(others) + len(key.encode()) + len(value.encode())
    if total > ANNOTATIONS_SIZE_LIMIT:
        raise RequestRejected(
            413,
            f"the callback payload ({len(value.encode())} bytes) does not fit in the"
            f" workflow's annotations: {total} bytes would exceed Kubernetes' limit of"
            f" {ANNOTATIONS_SIZE_LIMIT} bytes (shorten outputs or step summaries)",
            "too_large",
        )
    return "write"

"""Sandbox callbacks: what may be written, and whether the attempt still listens.

A sandbox POSTs its ``JobResult`` (completion) or a ``ProgressReport`` to
``/callbacks/<token>``. The receiver stores it, canonicalised, in the
CIWorkflow's annotation ``callback.cairn.dev/<token>``; the operator consumes
it (the payloads themselves are ``cairn.k8s.callbacks``, shared with the
operator). Everything here is pure: the HTTP layer authenticates and does the I/O.

Rules that keep repeated and late callbacks harmless:

- the value is canonical JSON, so sending the same result twice writes the
  same value (and the second write is skipped altogether);
- a completion is final: a later progress report never replaces it, and a
  *different* completion for the same attempt is a conflict (409);
- a token whose attempt is over, or whose workflow finished or is gone, is
  answered 410 Gone: the caller has already proven it owns the token (a wrong
  secret is 403 before anything is looked up), and "stop retrying, this
  attempt is over" is what it needs to hear.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from cairn.engine.state import STATE_VERSION, JobState, WorkflowState
from cairn.k8s.callbacks import CallbackPayload, InvalidCallback, is_completion
from cairn.k8s.callbacks import parse_callback as parse_callback_payload
from cairn.webhook.errors import InvalidPayload, RequestRejected

#: Kubernetes' TotalAnnotationSizeLimitB: the sum of every annotation's key and value
ANNOTATIONS_SIZE_LIMIT = 256 * 1024
#: no single callback body can be larger than all annotations together
MAX_CALLBACK_BODY_BYTES = ANNOTATIONS_SIZE_LIMIT

#: CIWorkflow phases (``status.phase``) after which no attempt runs
_FINISHED_WORKFLOW_PHASES = frozenset({"Succeeded", "Failed", "Cancelled", "Error"})


def annotations_size(annotations: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())


def parse_callback(body: bytes) -> CallbackPayload:
    """The callback body's payload; ``InvalidPayload`` (400) when it is not one."""
    try:
        return parse_callback_payload(body)
    except InvalidCallback as exc:
        raise InvalidPayload(str(exc)) from None


class StaleToken(RequestRejected):
    def __init__(self, reason: str) -> None:
        super().__init__(410, f"stale callback token: {reason}", "gone")


@dataclass(frozen=True)
class LiveAttempt:
    """The running attempt a token belongs to, per the workflow's checkpoint."""

    instance_id: str
    attempt: int


# the checkpoint's compact keys, taken from the engine's models so they cannot drift
_VERSION_KEY = WorkflowState.model_fields["version"].alias or "version"
_PHASE_KEY = WorkflowState.model_fields["phase"].alias or "phase"
_JOBS_KEY = WorkflowState.model_fields["jobs"].alias or "jobs"
_TOKEN_KEY = JobState.model_fields["token"].alias or "token"


def live_attempt(workflow: dict[str, Any], engine_token: str) -> LiveAttempt:
    """The attempt of ``engine_token`` if it still runs; ``StaleToken`` otherwise.

    The checkpoint (``status.state``, the engine's ``WorkflowState``) keeps the
    token of each dispatched attempt while it runs; the engine records it before
    the operator creates the Job, so a live sandbox always finds it there. Only
    the matching job's entry is validated: a callback into a 1,000-job workflow
    should not parse 1,000 jobs.
    """
    name = workflow.get("metadata", {}).get("name", "?")
    status = workflow.get("status") or {}
    if status.get("phase") in _FINISHED_WORKFLOW_PHASES:
        raise StaleToken(f"workflow {name} has finished")
    state = status.get("state")
    if not state:
        raise StaleToken(f"workflow {name} has not started any job")
    jobs = state.get(_JOBS_KEY) if isinstance(state, dict) else None
    if state.get(_VERSION_KEY, STATE_VERSION) != STATE_VERSION or not isinstance(jobs, dict):
        # the operator's problem, not the sandbox's: let it retry later
        raise RequestRejected(
            503,
            f"cannot read workflow {name}'s checkpoint (not version {STATE_VERSION})",
            "unavailable",
        )
    if state.get(_PHASE_KEY) == "completed":
        raise StaleToken(f"workflow {name} has finished")
    for instance_id, raw in jobs.items():
        token = raw.get(_TOKEN_KEY) if isinstance(raw, dict) else None
        if isinstance(token, str) and hmac.compare_digest(token, engine_token):
            try:
                job = JobState.model_validate(raw)
            except ValidationError:
                raise RequestRejected(
                    503,
                    f"cannot read job {instance_id} in workflow {name}'s checkpoint",
                    "unavailable",
                ) from None
            if job.completed:
                raise StaleToken(f"job {instance_id} attempt {job.attempt} has finished")
            return LiveAttempt(instance_id, job.attempt)
    raise StaleToken(f"no running attempt of workflow {name} has this token")


def check_matches_attempt(attempt: LiveAttempt, payload: CallbackPayload) -> None:
    """A payload must describe the attempt its token belongs to."""
    if (payload.instance_id, payload.attempt) != (attempt.instance_id, attempt.attempt):
        raise InvalidPayload(
            f"the payload reports job {payload.instance_id!r} attempt {payload.attempt}; the"
            f" token belongs to job {attempt.instance_id!r} attempt {attempt.attempt}"
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

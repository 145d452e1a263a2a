"""What wakes the engine. Events are data: adapters build them from watch
events, callbacks, annotations and timers, and may deliver any of them twice
or late; ``decide()`` absorbs those without side effects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from cairn.engine.errors import InvalidEventError
from cairn.engine.jobspec import JobResult


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class JobStarted(_Event):
    """The sandbox of one attempt began running (a pod is Running)."""

    kind: Literal["job_started"] = "job_started"
    instance_id: str
    attempt: int
    token: str
    #: when the sandbox started, if before the decide's ``now`` (a start and a
    #: result that arrive together are decided at once): the attempt's start
    #: time and timeout count from here; None: at ``now``
    at: AwareDatetime | None = None


class JobCompleted(_Event):
    """A sandbox reported its result (the Job finished, or a callback came)."""

    kind: Literal["job_completed"] = "job_completed"
    token: str
    result: JobResult


class JobLost(_Event):
    """The sandbox of one attempt is gone without a result (the local
    executor died with it, a pod vanished). Unless a cancellation was under
    way (then the attempt ends ``cancelled``), the instance starts again as a
    new attempt; the lost attempt's late reports are absorbed as stale."""

    kind: Literal["job_lost"] = "job_lost"
    instance_id: str
    attempt: int
    token: str
    reason: str = "sandbox_lost"


class DeadlinePassed(_Event):
    """The wake scheduled with ScheduleWake fired. ``decide()`` handles every
    deadline at or before ``now`` anyway; this event only names the cause."""

    kind: Literal["deadline_passed"] = "deadline_passed"


class CancelRequested(_Event):
    """Cancel the whole workflow (``instance_id`` None), or one job: an
    instance id (``build.3``) or a job id (every instance of ``build``).

    ``attempt``, when given, names what the request was made against: the job's
    attempt, or for the whole workflow the run attempt. A request that arrives
    after a retry or re-run moved past it is stale and absorbed, so a request
    delivered twice cannot stop the new attempt."""

    kind: Literal["cancel_requested"] = "cancel_requested"
    instance_id: str | None = None
    reason: str = "cancelled"
    attempt: int | None = None


class RetryRequested(_Event):
    """Run a finished job again while the workflow is still running.
    ``attempt`` is the attempt being retried: a repeated request for the same
    attempt is a duplicate, not a second retry."""

    kind: Literal["retry_requested"] = "retry_requested"
    instance_id: str
    attempt: int


class RerunRequested(_Event):
    """Re-run a finished workflow: its failed and cancelled jobs and their
    dependents (``failed_only``), or every job. ``run_attempt`` is the run
    attempt being re-run, for the same duplicate protection."""

    kind: Literal["rerun_requested"] = "rerun_requested"
    run_attempt: int
    failed_only: bool = True


class ConcurrencyGranted(_Event):
    """The claim ``key`` now holds its group (the previous holder released)."""

    kind: Literal["concurrency_granted"] = "concurrency_granted"
    key: str
    #: the group, so a run that no longer has the claim can release it
    group: str | None = None


class ConcurrencyCancelled(_Event):
    """The claim ``key`` lost its group: ``superseded`` (a newer run waits in
    its place) or ``cancel_in_progress`` (a newer run cancels the holder)."""

    kind: Literal["concurrency_cancelled"] = "concurrency_cancelled"
    key: str
    reason: str
    group: str | None = None


class ApprovalGranted(_Event):
    """A reviewer approved a job waiting on its protected environment
    (an instance id, or a job id for all its waiting instances)."""

    kind: Literal["approval_granted"] = "approval_granted"
    instance_id: str


class ApprovalRejected(_Event):
    kind: Literal["approval_rejected"] = "approval_rejected"
    instance_id: str
    reason: str = "approval_rejected"


Event = Annotated[
    JobStarted
    | JobCompleted
    | JobLost
    | DeadlinePassed
    | CancelRequested
    | RetryRequested
    | RerunRequested
    | ConcurrencyGranted
    | ConcurrencyCancelled
    | ApprovalGranted
    | ApprovalRejected,
    Field(discriminator="kind"),
]

EVENT_TYPES: tuple[type[_Event], ...] = (
    JobStarted,
    JobCompleted,
    JobLost,
    DeadlinePassed,
    CancelRequested,
    RetryRequested,
    RerunRequested,
    ConcurrencyGranted,
    ConcurrencyCancelled,
    ApprovalGranted,
    ApprovalRejected,
)

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes | Mapping[str, Any]) -> Event:
    """An event from its JSON (or the decoded mapping); InvalidEventError if
    it is not one of the engine's events."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise InvalidEventError(f"event is not JSON: {error}") from None
    if not isinstance(data, Mapping):
        raise InvalidEventError(f"an event is a JSON object, not {type(data).__name__}")
    kinds = ", ".join(t.model_fields["kind"].default for t in EVENT_TYPES)
    if data.get("kind") not in {t.model_fields["kind"].default for t in EVENT_TYPES}:
        raise InvalidEventError(f"unknown event kind {data.get('kind')!r} (known: {kinds})")
    try:
        return _EVENT_ADAPTER.validate_python(dict(data))
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"][1:]) or "(event)"
        message = f"malformed {data['kind']} event: {where}: {problem['msg']}"
        raise InvalidEventError(message) from None

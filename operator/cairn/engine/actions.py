"""What the engine asks the adapters to do. Every action is idempotent on the
adapter's side: a crash between deciding and checkpointing replays the same
actions, and the adapter must treat a repeat as done (a Job that already exists,
a cancel of a finished Job, a release of a claim it no longer has).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cairn.engine.jobspec import JobSpec
from cairn.engine.state import JobConclusion, WorkflowConclusion, WorkflowState


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class StartJob(_Action):
    """Create the sandbox of one attempt (``spec.callback_token`` names it)."""

    kind: Literal["start_job"] = "start_job"
    spec: JobSpec


class CancelJob(_Action):
    """Stop the sandbox of one attempt (delete the pending Job, or signal the
    running one so its ``always()`` steps run)."""

    kind: Literal["cancel_job"] = "cancel_job"
    instance_id: str
    attempt: int
    token: str
    reason: str


class SkipJob(_Action):
    """An instance concluded without ever being dispatched (skipped, or
    cancelled/failed before it could start). Nothing to stop; adapters report it."""

    kind: Literal["skip_job"] = "skip_job"
    instance_id: str
    conclusion: JobConclusion
    reason: str


class RequestApproval(_Action):
    """An instance waits for a reviewer of its protected environment."""

    kind: Literal["request_approval"] = "request_approval"
    instance_id: str
    environment: str


class AcquireConcurrency(_Action):
    """Join a concurrency group; the adapter arbitrates (concurrency.py) and
    answers with ConcurrencyGranted or ConcurrencyCancelled events."""

    kind: Literal["acquire_concurrency"] = "acquire_concurrency"
    key: str
    group: str
    cancel_in_progress: bool
    requested_at: datetime


class ReleaseConcurrency(_Action):
    """Leave a concurrency group (finished, cancelled, or gave up waiting)."""

    kind: Literal["release_concurrency"] = "release_concurrency"
    key: str
    group: str


class CompleteWorkflow(_Action):
    kind: Literal["complete_workflow"] = "complete_workflow"
    conclusion: WorkflowConclusion
    reason: str | None = None


class ScheduleWake(_Action):
    """Wake the engine at ``at`` (the earliest deadline); ``None``: no wake is
    needed any more. Replaces any wake announced before."""

    kind: Literal["schedule_wake"] = "schedule_wake"
    at: datetime | None


Action = Annotated[
    StartJob
    | CancelJob
    | SkipJob
    | RequestApproval
    | AcquireConcurrency
    | ReleaseConcurrency
    | CompleteWorkflow
    | ScheduleWake,
    Field(discriminator="kind"),
]


@dataclass(frozen=True)
class Decision:
    """The result of one ``decide()``: the next checkpoint and what to do."""

    state: WorkflowState
    actions: tuple[Action, ...]
    #: instance ids whose entry in ``state.jobs`` changed (for patch-only
    #: writes); an id absent from ``state.jobs`` was removed (a dynamic
    #: matrix's placeholder replaced by its instances, or the reverse)
    changed: frozenset[str]

"""The checkpoint: everything that happened in a run, as one compact document.

The same JSON is a ``CIWorkflow``'s status and the local checkpoint file.
Keys are short aliases and default values are left out, so a 1,000-job
workflow's state stays far below its budget (``benchmarks/engine_decide.py``
measures it). Models are frozen: ``decide()`` returns a new state and never
changes the one it was given.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from cairn.engine.errors import CheckpointError

#: Version of the checkpoint's shape; a checkpoint of another version is refused.
STATE_VERSION = 1

Phase = Literal["pending", "waiting", "queued", "running", "completed"]
WaitingOn = Literal["needs", "max-parallel", "approval", "concurrency"]
JobConclusion = Literal["success", "failure", "cancelled", "skipped"]
WorkflowPhase = Literal["pending", "waiting", "running", "completed"]
WorkflowConclusion = Literal["success", "failure", "cancelled"]

#: How many absorbed events are kept verbatim (the rest are only counted).
ABSORBED_KEPT = 16
#: Characters kept of a reason or an absorbed-event entry. Reasons come from
#: sandboxes, requests and error messages; the checkpoint keeps their gist so
#: that a thousand long ones cannot fill its budget.
TEXT_KEPT = 200


def clip(text: str) -> str:
    """``text`` cut to TEXT_KEPT characters, marked when it was cut."""
    if len(text) <= TEXT_KEPT:
        return text
    return text[: TEXT_KEPT - 1] + "…"


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class StepSummary(_State):
    """One step's result, as much as the checkpoint keeps of it."""

    name: str = Field(alias="n")
    id: str | None = Field(default=None, alias="i")
    conclusion: JobConclusion = Field(default="success", alias="c")
    #: only when it differs from the conclusion (``continue-on-error`` steps)
    outcome: JobConclusion | None = Field(default=None, alias="o")


class ConcurrencyClaim(_State):
    """A membership in a concurrency group: requested, then held."""

    group: str = Field(alias="g")
    #: the membership's key among all members of the group (see concurrency.py)
    key: str = Field(alias="k")
    requested_at: datetime = Field(alias="at")
    cancel_in_progress: bool = Field(default=False, alias="x")
    holding: bool = Field(default=False, alias="h")
    #: when waiting for the group gives up (workflow-level claims; a job's
    #: wait deadline is the job's own deadline)
    deadline: datetime | None = Field(default=None, alias="d")


class JobState(_State):
    """One job instance (``build`` or ``build.3``) in its current attempt."""

    phase: Phase = Field(default="pending", alias="p")
    waiting_on: WaitingOn | None = Field(default=None, alias="w")
    conclusion: JobConclusion | None = Field(default=None, alias="c")
    #: why it concluded so: timed_out, queue_timeout, fail_fast, needs_failed,
    #: if_false, cancelled, approval_rejected, an evaluation error, ...
    reason: str | None = Field(default=None, alias="r")
    attempt: int = Field(default=1, alias="a")
    #: callback token of the dispatched attempt (kept while it runs)
    token: str | None = Field(default=None, alias="t")
    #: when the current wait or run gives up
    deadline: datetime | None = Field(default=None, alias="d")
    #: when StartJob was emitted: set means this attempt was dispatched
    queued_at: datetime | None = Field(default=None, alias="q")
    started_at: datetime | None = Field(default=None, alias="s")
    completed_at: datetime | None = Field(default=None, alias="e")
    #: ``continue-on-error`` as evaluated when dispatched
    continue_on_error: bool = Field(default=False, alias="ce")
    #: ``timeout-minutes`` as evaluated when dispatched, kept only while the
    #: attempt is out when it was an expression (the run deadline counts it
    #: from JobStarted, when the expression's inputs may have changed)
    timeout_minutes: float | None = Field(default=None, alias="tm")
    #: a cancellation sent to the dispatched attempt, with its reason
    cancel: str | None = Field(default=None, alias="x")
    claim: ConcurrencyClaim | None = Field(default=None, alias="k")
    outputs: dict[str, str] = Field(default_factory=dict, alias="o")
    #: order in which instances with outputs completed (a matrix job's outputs
    #: combine in completion order, later values winning)
    output_order: int | None = Field(default=None, alias="z")
    steps: tuple[StepSummary, ...] = Field(default=(), alias="st")
    #: steps left out of ``steps`` (a job with many steps keeps its failed ones)
    steps_omitted: int = Field(default=0, alias="so")

    @property
    def dispatched(self) -> bool:
        return self.queued_at is not None

    @property
    def completed(self) -> bool:
        return self.phase == "completed"

    @property
    def admitted(self) -> bool:
        """Past the ``max-parallel`` gate and not finished: counts against it."""
        if self.phase in ("queued", "running"):
            return True
        return self.phase == "waiting" and self.waiting_on in ("approval", "concurrency")

    @property
    def effective_result(self) -> JobConclusion | None:
        """The result dependents see: ``continue-on-error`` turns a failure
        into success (GitHub reports it so in ``needs.<job>.result``)."""
        if self.conclusion == "failure" and self.continue_on_error:
            return "success"
        return self.conclusion


class Absorbed(_State):
    """Events that changed nothing: duplicates, late or unknown ones."""

    count: int = Field(default=0, alias="n")
    #: the most recent ones, ``kind:detail``, oldest first
    recent: tuple[str, ...] = Field(default=(), alias="l")

    def add(self, entry: str) -> Absorbed:
        recent = (*self.recent, clip(entry))[-ABSORBED_KEPT:]
        return Absorbed.model_construct(count=self.count + 1, recent=recent)


class WorkflowState(_State):
    version: int = Field(default=STATE_VERSION, alias="v")
    phase: WorkflowPhase = Field(default="pending", alias="p")
    conclusion: WorkflowConclusion | None = Field(default=None, alias="c")
    reason: str | None = Field(default=None, alias="r")
    #: ``github.run_attempt``: 1, then +1 for each re-run after completion
    run_attempt: int = Field(default=1, alias="ra")
    #: a workflow cancellation in progress, with its reason
    cancel: str | None = Field(default=None, alias="x")
    created_at: datetime = Field(alias="ct")
    started_at: datetime | None = Field(default=None, alias="s")
    completed_at: datetime | None = Field(default=None, alias="e")
    #: the run's hard limit (RunLimits.max_run_minutes after creation or re-run)
    deadline: datetime = Field(alias="d")
    claim: ConcurrencyClaim | None = Field(default=None, alias="k")
    jobs: dict[str, JobState] = Field(alias="j")
    #: dynamic matrices expanded at run time: job id -> combinations
    matrices: dict[str, list[dict[str, Any]]] = Field(default_factory=dict, alias="m")
    #: number of instances per phase and per conclusion (printer columns)
    counts: dict[str, int] = Field(default_factory=dict, alias="n")
    #: the last ``output_order`` given out
    output_order: int = Field(default=0, alias="z")
    #: the wake last announced with ScheduleWake: adapters re-arm it on restart
    wake: datetime | None = Field(default=None, alias="w")
    absorbed: Absorbed = Field(default_factory=Absorbed, alias="ab")

    #: derived indexes travelling with the newest state (see index.py)
    _index: Any = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # The derived index is a cache, not part of the value.
        if not isinstance(other, WorkflowState):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """The compact JSON-ready form (aliases, defaults left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_defaults=True)

    @classmethod
    def from_dict(cls, data: Any) -> WorkflowState:
        """Load a checkpoint; CheckpointError when it is not one of ours."""
        if not isinstance(data, dict):
            raise CheckpointError(f"a checkpoint is a JSON object, not {type(data).__name__}")
        version = data.get("v", STATE_VERSION)
        if version != STATE_VERSION:
            raise CheckpointError(
                f"checkpoint version {version!r} is not supported (this engine reads "
                f"version {STATE_VERSION})"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise CheckpointError(f"malformed checkpoint: {_first_problem(error)}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkflowState:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise CheckpointError(f"checkpoint is not JSON: {error}") from None
        return cls.from_dict(data)

    def without_audit(self) -> WorkflowState:
        """The state with the absorbed-events record cleared, for comparing
        runs that saw different duplicate deliveries."""
        return self.model_copy(update={"absorbed": Absorbed()})


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
    more = error.error_count() - 1
    suffix = f" (and {more} more problems)" if more else ""
    return f"{where}: {problem['msg']}{suffix}"

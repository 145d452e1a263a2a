"""The durable orchestration engine: a pure state machine with GitHub's job
semantics. No I/O, no clock reads, no randomness: time comes in as ``now`` and
identifiers derive from the run's ``token_seed``. Adapters (``cairn.k8s``,
``cairn.local``) persist the state, perform the actions and feed the events.
"""

from cairn.engine.actions import (
    AcquireConcurrency,
    Action,
    CancelJob,
    CompleteWorkflow,
    Decision,
    ReleaseConcurrency,
    RequestApproval,
    ScheduleWake,
    SkipJob,
    StartJob,
)
from cairn.engine.concurrency import (
    Cancel,
    ConcurrencyRegistry,
    Grant,
    Member,
    arbitrate,
    claims_of,
    member_of,
)
from cairn.engine.decide import decide, initial_state
from cairn.engine.errors import (
    CheckpointError,
    EngineError,
    InvalidEventError,
    InvalidRunError,
    InvalidTimeError,
)
from cairn.engine.events import (
    ApprovalGranted,
    ApprovalRejected,
    CancelRequested,
    ConcurrencyCancelled,
    ConcurrencyGranted,
    DeadlinePassed,
    Event,
    JobCompleted,
    JobLost,
    JobStarted,
    RerunRequested,
    RetryRequested,
    parse_event,
)
from cairn.engine.jobspec import JobResult, JobSpec, StepResult
from cairn.engine.run import RunLimits, WorkflowRun
from cairn.engine.state import (
    Absorbed,
    ConcurrencyClaim,
    JobState,
    StepSummary,
    WorkflowState,
)
from cairn.engine.tokens import callback_token, token_matches

__all__ = [
    "Absorbed",
    "AcquireConcurrency",
    "Action",
    "ApprovalGranted",
    "ApprovalRejected",
    "Cancel",
    "CancelJob",
    "CancelRequested",
    "CheckpointError",
    "CompleteWorkflow",
    "ConcurrencyCancelled",
    "ConcurrencyClaim",
    "ConcurrencyGranted",
    "ConcurrencyRegistry",
    "DeadlinePassed",
    "Decision",
    "EngineError",
    "Event",
    "Grant",
    "InvalidEventError",
    "InvalidRunError",
    "InvalidTimeError",
    "JobCompleted",
    "JobLost",
    "JobResult",
    "JobSpec",
    "JobStarted",
    "JobState",
    "Member",
    "ReleaseConcurrency",
    "RequestApproval",
    "RerunRequested",
    "RetryRequested",
    "RunLimits",
    "ScheduleWake",
    "SkipJob",
    "StartJob",
    "StepResult",
    "StepSummary",
    "WorkflowRun",
    "WorkflowState",
    "arbitrate",
    "callback_token",
    "claims_of",
    "decide",
    "initial_state",
    "member_of",
    "parse_event",
    "token_matches",
]

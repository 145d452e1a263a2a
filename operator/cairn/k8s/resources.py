"""Cairn's Kubernetes resources: names, labels, annotations, and the CIRun spec.

These are the contract between the operator, the webhook receiver, the CLI and
users writing YAML by hand; ``crds/`` declares the same shapes to the API
server. Field names are camelCase in the API, snake_case in Python.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cairn.engine.run import WorkflowRun
from cairn.errors import CairnError
from cairn.k8s.environments import MAX_PROTECTED_PER_RUN, unique_names

GROUP = "cairn.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

CIRUN_PLURAL = "ciruns"
CIWORKFLOW_PLURAL = "ciworkflows"
RUNNERCLASS_PLURAL = "runnerclasses"

# Labels put on every child, so children are found by selector, never by listing all.
LABEL_RUN = "cairn.dev/run"
LABEL_WORKFLOW = "cairn.dev/workflow"
LABEL_JOB = "cairn.dev/job"
LABEL_ATTEMPT = "cairn.dev/attempt"
LABEL_INSTANCE_HASH = "cairn.dev/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "cairn"

# Annotations people and sandboxes write to wake the orchestrator.
#: ``callback.cairn.dev/<token>``: a sandbox's (or the receiver's) callback payload (JSON)
CALLBACK_ANNOTATION_PREFIX = "callback.cairn.dev/"
#: ``cairn.dev/cancel=<reason>`` on a CIRun or CIWorkflow: cancel it
ANNOTATION_CANCEL = "cairn.dev/cancel"
#: ``cairn.dev/retry=<job>`` on a CIWorkflow (or ``<workflow>/<job>`` on a CIRun)
ANNOTATION_RETRY = "cairn.dev/retry"
#: ``cairn.dev/rerun-failed=<any new value>``: re-run failed jobs of a finished run
ANNOTATION_RERUN_FAILED = "cairn.dev/rerun-failed"
#: ``cairn.dev/approve=<job>``: approve a job waiting on its environment
ANNOTATION_APPROVE = "cairn.dev/approve"
#: ``cairn.dev/reject=<job>``: reject a job waiting on its environment (it fails)
ANNOTATION_REJECT = "cairn.dev/reject"
#: ``cairn.dev/delivery=<X-GitHub-Delivery>`` on CIRuns made by the webhook receiver
ANNOTATION_DELIVERY = "cairn.dev/delivery"

# Annotations on sandbox Jobs and pods: exact values, where labels may be hashed.
#: the job instance id (``build.3``) the Job runs an attempt of
ANNOTATION_INSTANCE_ID = "cairn.dev/instance-id"
#: the RunnerClass the pod was rendered from
ANNOTATION_RUNNER_CLASS = "cairn.dev/runner-class"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class InlineWorkflow(_Spec):
    """A workflow file given inline in the CIRun."""

    #: file name as it would appear under ``.github/workflows/`` (``ci.yml``)
    name: str = Field(min_length=1, max_length=253)
    content: str


class GitSource(_Spec):
    """A repository to clone at one commit; workflows are read from ``path``."""

    repo: str = Field(min_length=1, description="clone URL (https://, file://, git://)")
    sha: str = Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    ref: str | None = None
    path: str = ".github/workflows"


class EventSpec(_Spec):
    """The triggering event: the ``github`` context's ``event_name`` and ``event``."""

    name: str = "push"
    payload: dict[str, Any] = Field(default_factory=dict)


class SecretReference(_Spec):
    """A Secret in the CIRun's namespace whose keys become the ``secrets`` context."""

    name: str


class CIRunSpec(_Spec):
    workflows: tuple[InlineWorkflow, ...] = ()
    source: GitSource | None = None
    event: EventSpec = Field(default_factory=EventSpec)
    secrets: SecretReference | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    cancel: bool = False
    #: environments whose jobs wait for approval, besides the operator-wide
    #: ``CAIRN_PROTECTED_ENVIRONMENTS`` (a run can add protection, never remove it)
    protected_environments: tuple[str, ...] = Field(
        default=(), alias="protectedEnvironments", max_length=MAX_PROTECTED_PER_RUN
    )
    #: ``github.run_number`` of every workflow of the run, instead of the next
    #: number of its counter (replays, imports)
    run_number: int | None = Field(default=None, alias="runNumber", ge=1)

    @field_validator("protected_environments")
    @classmethod
    def _environment_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        # CairnError is not a ValueError: say it as one, so pydantic reports the field
        try:
            return unique_names(names)
        except CairnError as error:
            raise ValueError(str(error)) from None

    @model_validator(mode="after")
    def _one_source(self) -> CIRunSpec:
        if bool(self.workflows) == (self.source is not None):
            raise ValueError("give exactly one of spec.workflows (inline) or spec.source (git)")
        return self


RunPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled", "Error"]


class Condition(BaseModel):
    """A status condition, as Kubernetes API conventions define it."""

    model_config = ConfigDict(populate_by_name=True)

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str = Field(alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


#: ``cairn.dev/callback-key=<16 hex>`` on a CIWorkflow: how a callback token finds it
LABEL_CALLBACK_KEY = "cairn.dev/callback-key"


# --- status documents (declared in crds/: a field missing there is pruned) ----------

CIRUN_KIND = "CIRun"
CIWORKFLOW_KIND = "CIWorkflow"
RUNNERCLASS_KIND = "RunnerClass"


class _Status(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """The API form: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class JobCounts(_Status):
    """Job instances by where they stand; ``completed`` counts every finished one."""

    total: int = 0
    pending: int = 0
    running: int = 0
    completed: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0


class WorkflowReference(_Status):
    """One CIWorkflow of a run, as the run's status lists it."""

    #: the CIWorkflow object's name
    name: str
    #: the workflow file (``ci.yml``)
    file: str
    #: the workflow's ``name:`` (or its file), as GitHub shows it
    workflow_name: str | None = Field(default=None, alias="workflowName")
    phase: RunPhase = "Pending"
    progress: str | None = None


class CIRunStatus(_Status):
    phase: RunPhase = "Pending"
    conditions: list[Condition] = Field(default_factory=list)
    workflows: list[WorkflowReference] = Field(default_factory=list)
    counts: JobCounts = Field(default_factory=JobCounts)
    #: ``completed/total`` job instances over all workflows (printer column JOBS)
    progress: str | None = None
    started_at: str | None = Field(default=None, alias="startedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")
    #: wall time so far, updated at each transition, final once completed (DURATION)
    duration: str | None = None
    #: the commit the workflows were read from (git sources)
    sha: str | None = None
    #: ``github.run_number`` of each triggered workflow file, allocated once
    #: (the checkpoint written before the CIWorkflows are created)
    run_numbers: dict[str, int] | None = Field(default=None, alias="runNumbers")
    message: str | None = None
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


class CIWorkflowSpec(_Spec):
    """A CIWorkflow: one compiled workflow of one run, and what the engine needs."""

    #: the CIRun this workflow belongs to
    run: str = Field(min_length=1)
    #: the workflow file (``ci.yml``)
    file: str = Field(min_length=1)
    #: the run's Secret, mounted into sandboxes by name (never read by the operator)
    secret_name: str | None = Field(default=None, alias="secretName")
    #: the engine's run spec: plan, github context, inputs, vars, limits
    workflow_run: WorkflowRun = Field(alias="workflowRun")


class CIWorkflowStatus(_Status):
    #: the engine's checkpoint: ``WorkflowState.to_dict()``, compact keys
    state: dict[str, Any] | None = None
    phase: RunPhase = "Pending"
    conditions: list[Condition] = Field(default_factory=list)
    counts: JobCounts = Field(default_factory=JobCounts)
    progress: str | None = None
    started_at: str | None = Field(default=None, alias="startedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")
    duration: str | None = None
    message: str | None = None
    #: the job table ``kubectl describe`` prints (a header row, then one row per instance)
    jobs: list[str] | None = None
    #: request annotations already applied (retry, re-run), until they are removed
    consumed_requests: dict[str, str] | None = Field(default=None, alias="consumedRequests")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


def progress(completed: int, total: int) -> str:
    """The JOBS printer column: ``3/5``."""
    return f"{completed}/{total}"


def format_duration(seconds: float) -> str:
    """The DURATION printer column, as kubectl prints ages: ``45s``, ``3m12s``, ``2h5m``."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"

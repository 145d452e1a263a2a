"""Cairn's Kubernetes resources: names, labels, annotations, and the CIRun spec.

These are the contract between the operator, the webhook receiver, the CLI and
users writing YAML by hand; ``crds/`` declares the same shapes to the API
server. Field names are camelCase in the API, snake_case in Python.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
#: ``cairn.dev/delivery=<X-GitHub-Delivery>`` on CIRuns made by the webhook receiver
ANNOTATION_DELIVERY = "cairn.dev/delivery"


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

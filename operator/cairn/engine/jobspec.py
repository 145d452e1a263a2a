"""What the engine hands to a sandbox, and what a sandbox hands back.

A ``JobSpec`` is the payload of the engine's ``StartJob`` action: everything a
step runner needs to run one attempt of one job instance, with the parts the
engine can evaluate already evaluated. Expressions that need the sandbox
(``env``, ``secrets``, ``steps``, ``runner``, ``job``) stay raw in ``job`` and
are evaluated by the runner. A ``JobResult`` is what the runner reports.

Both travel as JSON: into a ConfigMap for a Kubernetes Job pod, into a file
for the local executor, and back through a termination message or callback.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cairn.workflow.model import Job, RunDefaults

Conclusion = Literal["success", "failure", "cancelled", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class JobSpec(_Model):
    workflow_file: str
    workflow_name: str
    #: ``JobInstance.id`` (``build`` or ``build.3``)
    instance_id: str
    #: display name, matrix values included: ``build (ubuntu-latest, 3.11)``
    name: str
    attempt: int
    #: identifies this attempt in callbacks; unguessable per run
    callback_token: str
    #: when the engine gives up on this attempt (start + timeout)
    deadline: datetime
    #: the job's IR, its expressions still raw
    job: Job
    workflow_env: dict[str, str] = Field(default_factory=dict)
    workflow_defaults: RunDefaults = Field(default_factory=RunDefaults)
    #: contexts known before the sandbox starts: ``github``, ``needs``,
    #: ``matrix``, ``strategy``, ``inputs``, ``vars`` (never ``secrets``)
    contexts: dict[str, Any] = Field(default_factory=dict)
    #: ``runs-on`` evaluated to labels
    runs_on: tuple[str, ...] = ()
    #: ``runs-on.group`` evaluated, when given
    runner_group: str | None = None
    #: ``environment`` (its name) evaluated, when given
    environment: str | None = None
    #: ``timeout-minutes`` evaluated
    timeout_minutes: float = 360.0
    #: names of the secrets the job may read (values come from the adapter)
    secret_names: tuple[str, ...] = ()


StepOutcome = Literal["success", "failure", "cancelled", "skipped"]

AnnotationLevel = Literal["error", "warning", "notice"]


class Annotation(_Model):
    """An ``::error``/``::warning``/``::notice`` a step printed, or a problem
    the runner reports the same way (a failed expression, a timeout)."""

    level: AnnotationLevel
    message: str
    #: the step's display name; None for job-level problems
    step: str | None = None
    title: str | None = None
    #: relative to the workspace when the file lies inside it
    file: str | None = None
    line: int | None = None
    end_line: int | None = None
    column: int | None = None
    end_column: int | None = None


class StepResult(_Model):
    name: str
    id: str | None = None
    #: the result before ``continue-on-error`` is applied
    outcome: StepOutcome
    #: the result after ``continue-on-error`` is applied
    conclusion: StepOutcome
    outputs: dict[str, str] = Field(default_factory=dict)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    #: what the step wrote to ``GITHUB_STEP_SUMMARY`` (secrets masked)
    summary: str | None = None


class JobResult(_Model):
    instance_id: str
    attempt: int
    conclusion: Literal["success", "failure", "cancelled"]
    #: job ``outputs`` evaluated at the end of the job (also when it failed)
    outputs: dict[str, str] = Field(default_factory=dict)
    steps: tuple[StepResult, ...] = ()
    #: why it ended so, when it is not obvious (``timed_out``, ``cancelled``,
    #: ``step_failed``, a runner error message)
    reason: str | None = None
    annotations: tuple[Annotation, ...] = ()
    started_at: datetime | None = None
    completed_at: datetime | None = None
    #: set on a result cut down to fit a small channel (a termination
    #: message): steps and outputs were dropped, fetch the full result elsewhere
    truncated: bool = False

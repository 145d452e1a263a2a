"""The run spec: what ``decide()`` needs besides the state, and never changes.

In Kubernetes it is the ``CIWorkflow`` spec (the compiled plan and the run's
inputs); locally it sits next to the checkpoint file. Keeping it out of the
state is what keeps the checkpoint small: the state holds only what happened.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from cairn.engine.graph import Graph, build_graph
from cairn.workflow.model import Plan

MINUTES_PER_DAY = 24 * 60


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RunLimits(_Spec):
    """Bounds on every wait, so nothing can hang forever, and on sizes, so the
    checkpoint fits its budget (a CIWorkflow is one etcd object, ~1.5 MiB)."""

    #: a dispatched job that never reports it started fails (GitHub: 24 h)
    queue_timeout_minutes: float = Field(default=MINUTES_PER_DAY, gt=0)
    #: a job or workflow waiting on its concurrency group gives up after this
    concurrency_timeout_minutes: float = Field(default=MINUTES_PER_DAY, gt=0)
    #: a job waiting on an environment approval fails after this (GitHub: 30 days)
    approval_timeout_minutes: float = Field(default=30 * MINUTES_PER_DAY, gt=0)
    #: how long a cancelled sandbox may take to stop (its ``always()`` steps run)
    cancel_grace_minutes: float = Field(default=5, gt=0)
    #: a run still going after this is cancelled outright (GitHub: 35 days)
    max_run_minutes: float = Field(default=35 * MINUTES_PER_DAY, gt=0)
    #: outputs of one job, in UTF-8 bytes of names and values
    max_job_outputs_bytes: int = Field(default=64 * 1024, gt=0)
    #: outputs of all jobs of the run together
    max_total_outputs_bytes: int = Field(default=256 * 1024, gt=0)
    #: step summaries of all jobs together (bytes of step names and ids, plus
    #: a fixed 16 per step); beyond, a job keeps only its steps that did not
    #: succeed, or none, and ``steps_omitted`` counts what it left out
    max_step_summaries_bytes: int = Field(default=64 * 1024, gt=0)
    #: dynamic matrices expanded at run time, in bytes of their JSON; a job whose
    #: expansion would pass it fails (``strategy.matrix: ...``)
    max_matrix_bytes: int = Field(default=64 * 1024, gt=0)


class WorkflowRun(_Spec):
    """One run of one compiled workflow."""

    #: the run's identity among all runs the adapter knows (the CIWorkflow's
    #: namespace/name, a local run id); concurrency membership keys derive from it
    name: str = Field(min_length=1)
    plan: Plan
    #: the ``github`` context (event, sha, ref, repository...). The engine adds
    #: ``job`` and ``run_attempt`` per job.
    github: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    vars: dict[str, str] = Field(default_factory=dict)
    #: names of the secrets jobs may read; values never pass through the engine
    secret_names: tuple[str, ...] = ()
    #: the secret behind callback tokens; generated once by the adapter
    token_seed: str = Field(min_length=16)
    #: environments whose jobs wait for an ``ApprovalGranted`` event
    protected_environments: tuple[str, ...] = ()
    limits: RunLimits = Field(default_factory=RunLimits)

    _graph: Graph | None = PrivateAttr(default=None)

    def graph(self) -> Graph:
        """The plan's DAG, indexed once (InvalidRunError if inconsistent)."""
        # A copy made with model_copy(update={"plan": ...}) must not reuse the
        # graph of the original's plan.
        if self._graph is None or self._graph.plan is not self.plan:
            self._graph = build_graph(self.plan)
        return self._graph

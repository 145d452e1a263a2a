"""A test environment for the engine, shipped as part of the product.

:class:`EngineHarness` plays every adapter at once with a fake clock: it keeps
the checkpoint, records the actions, remembers which sandboxes were started,
arbitrates concurrency groups in a :class:`ConcurrencyRegistry` shared by any
number of runs, and turns test steps into events. Scenario tests read as what
happens to a run::

    h = EngineHarness(make_run(WORKFLOW))
    h.complete("build.0")
    h.advance(minutes=30)
    assert h.job("test").reason == "timed_out"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cairn.engine.actions import (
    AcquireConcurrency,
    Action,
    CancelJob,
    CompleteWorkflow,
    Decision,
    ReleaseConcurrency,
    StartJob,
)
from cairn.engine.concurrency import ConcurrencyRegistry
from cairn.engine.decide import decide, initial_state
from cairn.engine.errors import EngineError
from cairn.engine.events import (
    ApprovalGranted,
    ApprovalRejected,
    CancelRequested,
    DeadlinePassed,
    Event,
    JobCompleted,
    JobStarted,
    RerunRequested,
    RetryRequested,
)
from cairn.engine.jobspec import JobResult, JobSpec, StepResult
from cairn.engine.run import RunLimits, WorkflowRun
from cairn.engine.state import JobState, WorkflowState
from cairn.workflow import compile_plan, parse_workflow
from cairn.workflow.model import Plan

ResultConclusion = Literal["success", "failure", "cancelled"]

#: The fake clock's default start.
EPOCH = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TEST_SEED = "test-seed-0123456789abcdef"


def make_run(
    workflow: str | Plan,
    *,
    name: str = "run-1",
    github: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    vars: Mapping[str, str] | None = None,
    protected_environments: Iterable[str] = (),
    limits: RunLimits | None = None,
    file: str = ".github/workflows/ci.yml",
) -> WorkflowRun:
    """A run of a workflow given as YAML text (compiled here) or as a plan."""
    plan = workflow if isinstance(workflow, Plan) else compile_plan(parse_workflow(workflow, file))
    return WorkflowRun(
        name=name,
        plan=plan,
        github=dict(github or {"event_name": "push", "ref": "refs/heads/main"}),
        inputs=dict(inputs or {}),
        vars=dict(vars or {}),
        token_seed=TEST_SEED,
        protected_environments=tuple(protected_environments),
        limits=limits or RunLimits(),
    )


class HarnessError(EngineError):
    """A test step that makes no sense in the run's current state."""


class EngineHarness:
    def __init__(
        self,
        run: WorkflowRun,
        *,
        now: datetime = EPOCH,
        registry: ConcurrencyRegistry[EngineHarness] | None = None,
        observer: Callable[[Decision, tuple[Event, ...]], None] | None = None,
    ) -> None:
        self.run = run
        #: called with every decision (and its events) before its actions apply
        self.observer = observer
        self.now = now
        self.registry: ConcurrencyRegistry[EngineHarness] = registry or ConcurrencyRegistry()
        self.state: WorkflowState = initial_state(run, now)
        #: every action, in order
        self.actions: list[Action] = []
        #: every StartJob spec, in order (a repeat would show up here twice)
        self.started: list[JobSpec] = []
        #: instance id -> spec of its attempt that has a sandbox now
        self.live: dict[str, JobSpec] = {}
        #: (instance id, attempt, reason) of every CancelJob
        self.cancelled: list[tuple[str, int, str]] = []
        self.decide()

    # -- driving ----------------------------------------------------------------

    def decide(self, *events: Event) -> Decision:
        """One decide at the current time; actions are applied like an adapter."""
        decision = decide(self.run, self.state, events, self.now)
        self.state = decision.state
        if self.observer is not None:
            self.observer(decision, events)
        self._apply(decision.actions)
        return decision

    def _apply(self, actions: Iterable[Action]) -> None:
        deliveries: list[tuple[EngineHarness, Event]] = []
        for action in actions:
            self.actions.append(action)
            if isinstance(action, StartJob):
                self.started.append(action.spec)
                self.live[action.spec.instance_id] = action.spec
            elif isinstance(action, CancelJob):
                self.cancelled.append((action.instance_id, action.attempt, action.reason))
            elif isinstance(action, AcquireConcurrency | ReleaseConcurrency):
                deliveries.extend(self.registry.apply(self, [action]))
        for owner, event in deliveries:
            owner.decide(event)

    def advance(self, *, minutes: float = 0, seconds: float = 0) -> Decision:
        """Move the clock forward and let the engine wake."""
        self.now += timedelta(minutes=minutes, seconds=seconds)
        return self.decide(DeadlinePassed())

    def advance_to_wake(self) -> Decision:
        if self.state.wake is None:
            raise HarnessError("no wake is scheduled")
        self.now = max(self.now, self.state.wake)
        return self.decide(DeadlinePassed())

    def spec(self, instance_id: str) -> JobSpec:
        spec = self.live.get(instance_id)
        if spec is None:
            raise HarnessError(f"{instance_id} has no sandbox (live: {sorted(self.live)})")
        return spec

    def start(self, instance_id: str) -> Decision:
        spec = self.spec(instance_id)
        return self.decide(
            JobStarted(instance_id=instance_id, attempt=spec.attempt, token=spec.callback_token)
        )

    def complete(
        self,
        instance_id: str,
        conclusion: ResultConclusion = "success",
        *,
        outputs: Mapping[str, str] | None = None,
        steps: Iterable[StepResult] = (),
        reason: str | None = None,
    ) -> Decision:
        """The sandbox of ``instance_id``'s live attempt reports its result."""
        spec = self.spec(instance_id)
        del self.live[instance_id]
        return self.decide(self.result_event(spec, conclusion, outputs, steps, reason))

    def fail(self, instance_id: str, **kwargs: Any) -> Decision:
        return self.complete(instance_id, "failure", **kwargs)

    @staticmethod
    def result_event(
        spec: JobSpec,
        conclusion: ResultConclusion = "success",
        outputs: Mapping[str, str] | None = None,
        steps: Iterable[StepResult] = (),
        reason: str | None = None,
    ) -> JobCompleted:
        result = JobResult(
            instance_id=spec.instance_id,
            attempt=spec.attempt,
            conclusion=conclusion,
            outputs=dict(outputs or {}),
            steps=tuple(steps),
            reason=reason,
        )
        return JobCompleted(token=spec.callback_token, result=result)

    def cancel(self, instance_id: str | None = None) -> Decision:
        return self.decide(CancelRequested(instance_id=instance_id))

    def retry(self, instance_id: str) -> Decision:
        return self.decide(
            RetryRequested(instance_id=instance_id, attempt=self.job(instance_id).attempt)
        )

    def rerun(self, *, failed_only: bool = True) -> Decision:
        return self.decide(
            RerunRequested(run_attempt=self.state.run_attempt, failed_only=failed_only)
        )

    def approve(self, instance_id: str) -> Decision:
        return self.decide(ApprovalGranted(instance_id=instance_id))

    def reject(self, instance_id: str) -> Decision:
        return self.decide(ApprovalRejected(instance_id=instance_id))

    def crash(self) -> None:
        """Lose everything in memory but the checkpoint and the run spec, as a
        restart does: both are reloaded from their JSON (the spec as a
        CIWorkflow stores it), so no cached graph or index survives."""
        stored = self.run.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        self.run = WorkflowRun.model_validate(stored)
        self.state = WorkflowState.from_json(self.state.to_json())

    def run_to_end(
        self,
        outcome: Callable[[JobSpec], ResultConclusion] = lambda spec: "success",
        *,
        limit: int = 100_000,
    ) -> WorkflowState:
        """Complete live sandboxes (in id order) with ``outcome`` until the run ends."""
        for _ in range(limit):
            if self.state.phase == "completed":
                return self.state
            if self.live:
                instance_id = min(self.live)
                self.complete(instance_id, outcome(self.live[instance_id]))
            else:
                self.advance_to_wake()
        raise HarnessError(f"run did not end within {limit} steps")

    # -- looking ----------------------------------------------------------------

    def job(self, instance_id: str) -> JobState:
        try:
            return self.state.jobs[instance_id]
        except KeyError:
            raise HarnessError(
                f"no instance {instance_id!r} (have {sorted(self.state.jobs)})"
            ) from None

    def phase(self, instance_id: str) -> str:
        job = self.job(instance_id)
        if job.phase == "waiting":
            return f"waiting:{job.waiting_on}"
        if job.phase == "completed":
            return f"{job.conclusion}"
        return job.phase

    def phases(self) -> dict[str, str]:
        return {instance_id: self.phase(instance_id) for instance_id in self.state.jobs}

    def dispatched(self) -> list[str]:
        """Instances with a live sandbox, in id order."""
        return sorted(self.live)

    @property
    def conclusion(self) -> str | None:
        return self.state.conclusion

    def completions(self) -> list[CompleteWorkflow]:
        return [a for a in self.actions if isinstance(a, CompleteWorkflow)]

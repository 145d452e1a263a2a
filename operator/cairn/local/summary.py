"""The run's summary: one document for ``--json`` and the last lines people read.

The checkpoint is the authority on how each job ended (the engine's
conclusion: ``continue-on-error`` and timeouts applied); the recorded result
of the attempt adds what the checkpoint keeps only in short (step names are
cut at 100 characters there) or not at all (a timed-out attempt's steps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.engine.index import job_of
from cairn.engine.run import WorkflowRun
from cairn.engine.state import JobState, WorkflowState
from cairn.local.store import ResultRecord, SkippedWorkflow
from cairn.workflow import instance_name

ResultLookup = Callable[[str, str, int], ResultRecord | None]


def _position(instance_id: str) -> int:
    _, _, number = instance_id.partition(".")
    return int(number) if number.isdigit() else 0


def instance_matrix(run: WorkflowRun, state: WorkflowState, instance_id: str) -> dict[str, Any]:
    job_id = job_of(instance_id)
    expanded = state.matrices.get(job_id)
    if expanded is not None:
        position = _position(instance_id)
        return dict(expanded[position]) if position < len(expanded) else {}
    for instance in run.graph().instances_by_job.get(job_id, ()):
        if instance.id == instance_id:
            return dict(instance.matrix)
    return {}


def display_name(run: WorkflowRun, state: WorkflowState, instance_id: str) -> str:
    """GitHub's name of an instance (the engine renders names with
    expressions when the job is dispatched; the plan's is shown until then)."""
    job_id = job_of(instance_id)
    job = run.plan.workflow.jobs.get(job_id)
    if job is None:
        return instance_id
    if job_id in state.matrices:
        return instance_name(job, instance_matrix(run, state, instance_id))
    for instance in run.graph().instances_by_job.get(job_id, ()):
        if instance.id == instance_id:
            return instance.name
    return instance_id


def ordered_instances(run: WorkflowRun, state: WorkflowState) -> list[str]:
    """Instance ids in the order of the plan (jobs in topological order)."""
    order = run.graph().order
    return sorted(state.jobs, key=lambda i: (order.get(job_of(i), len(order)), _position(i)))


def run_conclusion(states: Sequence[WorkflowState]) -> str | None:
    """failure if a workflow failed, else cancelled if one was, else success;
    None while a workflow has not completed."""
    if any(state.phase != "completed" for state in states):
        return None
    conclusions = {state.conclusion for state in states}
    if "failure" in conclusions:
        return "failure"
    if "cancelled" in conclusions:
        return "cancelled"
    return "success"


@dataclass(frozen=True)
class WorkflowView:
    key: str
    path: str
    run: WorkflowRun
    state: WorkflowState


def _seconds(job: JobState) -> float | None:
    if job.started_at is None or job.completed_at is None:
        return None
    return round((job.completed_at - job.started_at).total_seconds(), 3)


def job_entry(
    view: WorkflowView, instance_id: str, lookup: ResultLookup, *, multi: bool
) -> dict[str, Any]:
    job = view.state.jobs[instance_id]
    record = lookup(view.key, instance_id, job.attempt) if job.dispatched else None
    if record is not None:
        steps = [
            {"name": s.name, "outcome": s.outcome, "conclusion": s.conclusion}
            for s in record.result.steps
        ]
    else:
        steps = [
            {"name": s.name, "outcome": s.outcome or s.conclusion, "conclusion": s.conclusion}
            for s in job.steps
        ]
    entry: dict[str, Any] = {
        "key": instance_id,
        "job": job_of(instance_id),
        "name": record.name if record else display_name(view.run, view.state, instance_id),
        "matrix": instance_matrix(view.run, view.state, instance_id),
        "conclusion": job.conclusion,
        "reason": job.reason,
        "attempt": job.attempt,
        "outputs": dict(job.outputs),
        "steps": steps,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        "duration_seconds": _seconds(job),
        "log": record.log if record else None,
    }
    if multi:
        entry["workflow"] = view.key
    return entry


def summary_document(
    run_id: str,
    views: Sequence[WorkflowView],
    skipped: Sequence[SkippedWorkflow],
    lookup: ResultLookup,
) -> dict[str, Any]:
    """``{"run_id", "conclusion", "jobs": [...]}`` and the workflows' details."""
    multi = len(views) > 1
    conclusion = run_conclusion([v.state for v in views]) if views else "skipped"
    return {
        "run_id": run_id,
        "conclusion": conclusion,
        "status": "completed" if conclusion is not None else "interrupted",
        "workflows": [
            {
                "key": v.key,
                "path": v.path,
                "name": v.run.plan.workflow.name,
                "conclusion": v.state.conclusion,
                "reason": v.state.reason,
                "run_attempt": v.state.run_attempt,
            }
            for v in views
        ],
        "skipped_workflows": [{"path": s.path, "reason": s.reason} for s in skipped],
        "jobs": [
            job_entry(v, instance_id, lookup, multi=multi)
            for v in views
            for instance_id in ordered_instances(v.run, v.state)
        ],
    }


def lookup_results(
    memory: Mapping[tuple[str, str, int], ResultRecord],
    disk: ResultLookup,
) -> ResultLookup:
    """Results of this process first, then those recorded by earlier ones."""

    def lookup(key: str, instance_id: str, attempt: int) -> ResultRecord | None:
        found = memory.get((key, instance_id, attempt))
        return found if found is not None else disk(key, instance_id, attempt)

    return lookup

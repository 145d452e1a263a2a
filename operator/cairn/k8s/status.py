"""What the operator writes in statuses: phases, conditions, counts, the job table.

Pure functions. ``kubectl get`` reads the printer-column fields (``phase``,
``progress``, ``duration``); ``kubectl describe`` prints everything, so the
status also answers "what is happening and why": a ``message`` in one line,
conditions with reasons, and ``jobs``, a small table with one row per job
instance (status, attempt, duration, and what a waiting job waits on).

The checkpoint itself (``status.state``) is written as a JSON merge patch of
only what changed (:func:`state_patch`): a wake that finishes one job of a
1,000-job workflow sends that job's entry, not the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cairn.engine.index import job_of
from cairn.engine.run import WorkflowRun
from cairn.engine.state import JobState, WorkflowState
from cairn.k8s.resources import JobCounts, RunPhase, format_duration, progress

#: rows of the ``jobs`` table; the rest is summed up in a last row
JOB_TABLE_ROWS = 60
#: an Event or condition message longer than this is cut
MESSAGE_LIMIT = 1024

TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed", "Cancelled", "Error"})

CONDITION_READY = "Ready"
CONDITION_SUCCEEDED = "Succeeded"
#: the Succeeded condition's reason while a workflow waits only on approvals
REASON_AWAITING_APPROVAL = "AwaitingApproval"


def rfc3339(moment: datetime) -> str:
    """Kubernetes' timestamp form: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- JSON merge patches -----------------------------------------------------------------


def merge_diff(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new``.

    Objects are diffed key by key (a removed key becomes ``null``); anything else,
    lists included, is replaced whole. ``new`` must hold no ``null`` values of its
    own (the engine's compact JSON never does: defaults are left out)."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_diff(old[key], value)
    return patch


def job_dict(job: JobState) -> dict[str, Any]:
    return job.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _header_dict(state: WorkflowState) -> dict[str, Any]:
    return state.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude={"jobs"})


def state_patch(
    old: Mapping[str, Any] | None, state: WorkflowState, changed: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(merge patch, new checkpoint dict)`` from the checkpoint dict last
    written (``old``, None for none) to ``state``, re-serialising only the job
    entries in ``changed``. The new dict equals ``state.to_dict()``."""
    if old is None:
        full = state.to_dict()
        return full, full
    header = _header_dict(state)
    old_header = {key: value for key, value in old.items() if key != "j"}
    patch: dict[str, Any] = merge_diff(old_header, header)
    old_jobs: Mapping[str, Any] = old.get("j") or {}
    jobs = dict(old_jobs)
    job_patch: dict[str, Any] = {}
    for instance_id in changed:
        job = state.jobs.get(instance_id)
        if job is None:
            if instance_id in jobs:
                del jobs[instance_id]
                job_patch[instance_id] = None
            continue
        entry = job_dict(job)
        before = old_jobs.get(instance_id)
        if before is None:
            job_patch[instance_id] = entry
        elif before != entry:
            job_patch[instance_id] = merge_diff(before, entry)
        jobs[instance_id] = entry
    if job_patch:
        patch["j"] = job_patch
    header["j"] = jobs
    return patch, header


# --- the CIWorkflow ---------------------------------------------------------------------


def workflow_phase(state: WorkflowState) -> RunPhase:
    if state.phase == "completed":
        return {"success": "Succeeded", "failure": "Failed", "cancelled": "Cancelled"}[
            state.conclusion or "failure"
        ]  # type: ignore[return-value]
    if state.phase == "running":
        return "Running"
    return "Pending"


def job_counts(state: WorkflowState) -> JobCounts:
    n = state.counts
    return JobCounts(
        total=len(state.jobs),
        pending=n.get("pending", 0) + n.get("waiting", 0),
        running=n.get("queued", 0) + n.get("running", 0),
        completed=n.get("completed", 0),
        succeeded=n.get("success", 0),
        failed=n.get("failure", 0),
        cancelled=n.get("cancelled", 0),
        skipped=n.get("skipped", 0),
    )


def job_status_word(job: JobState) -> str:
    if job.completed:
        return job.conclusion or "completed"
    if job.cancel is not None:
        return "cancelling"
    return job.phase


def open_jobs(state: WorkflowState) -> set[str]:
    """Job ids with an instance still to finish."""
    return {job_of(i) for i, job in state.jobs.items() if not job.completed}


def waiting_detail(
    run: WorkflowRun, state: WorkflowState, instance_id: str, unfinished: set[str]
) -> str:
    """What a waiting instance waits on, in words (``unfinished``: ``open_jobs``)."""
    job = state.jobs[instance_id]
    if job.waiting_on == "needs":
        known = run.plan.workflow.jobs.get(job_of(instance_id))
        needs = known.needs if known is not None else ()
        open_needs = [n for n in needs if n in unfinished]
        return f"needs {', '.join(open_needs)}" if open_needs else "needs"
    if job.waiting_on == "approval":
        environment = approval_environment(run, instance_id)
        return (
            f"approval of environment {environment} "
            f"(cairn approve RUN {job_of(instance_id)}; --reject to refuse)"
        )
    if job.waiting_on == "concurrency" and job.claim is not None:
        return f"concurrency group {job.claim.group}"
    if job.waiting_on == "max-parallel":
        return "max-parallel"
    return job.waiting_on or ""


def approval_environment(run: WorkflowRun, instance_id: str) -> str:
    """The environment a job waits to be approved for, as the workflow names it
    (an ``environment:`` expression is shown as written: its value is not kept)."""
    known = run.plan.workflow.jobs.get(job_of(instance_id))
    environment = known.environment if known is not None else None
    return environment.name if environment is not None else "?"


def awaiting_approval(state: WorkflowState) -> list[str]:
    """Instances waiting for an approval."""
    return [i for i, j in state.jobs.items() if j.phase == "waiting" and j.waiting_on == "approval"]


def _duration(job: JobState, now: datetime) -> str:
    if job.started_at is None:
        return "-"
    end = job.completed_at or now
    return format_duration((end - job.started_at).total_seconds())


def _detail(run: WorkflowRun, state: WorkflowState, instance_id: str, unfinished: set[str]) -> str:
    job = state.jobs[instance_id]
    if job.completed:
        return job.reason or ""
    if job.cancel is not None:
        return f"cancel sent: {job.cancel}"
    if job.phase == "waiting":
        return waiting_detail(run, state, instance_id, unfinished)
    if job.phase == "queued":
        return "Job created, waiting for its pod"
    return ""


def _row_rank(job: JobState) -> int:
    """Rows people look for first: running, waiting, failed, then the rest."""
    if job.phase in ("queued", "running"):
        return 0
    if job.phase == "waiting":
        return 1
    if job.conclusion in ("failure", "cancelled"):
        return 2
    return 3


def job_table(run: WorkflowRun, state: WorkflowState, now: datetime) -> list[str]:
    """The ``jobs`` rows ``kubectl describe`` prints, one string per instance."""
    order = {instance.id: n for n, instance in enumerate(run.plan.instances)}
    ids = sorted(
        state.jobs,
        key=lambda i: (_row_rank(state.jobs[i]), order.get(i, len(order)), i),
    )
    shown = ids[:JOB_TABLE_ROWS]
    unfinished = open_jobs(state)
    rows = [("JOB", "STATUS", "ATTEMPT", "DURATION", "DETAIL")]
    for instance_id in sorted(shown, key=lambda i: (order.get(i, len(order)), i)):
        job = state.jobs[instance_id]
        rows.append(
            (
                instance_id,
                job_status_word(job),
                str(job.attempt),
                _duration(job, now),
                clip(_detail(run, state, instance_id, unfinished), 120),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    lines = [line.rstrip() for line in lines]
    hidden = len(ids) - len(shown)
    if hidden:
        lines.append(f"... and {hidden} more job instances (see .status.state.j)")
    return lines


def workflow_message(run: WorkflowRun, state: WorkflowState) -> str:
    """One line: where the workflow stands and why."""
    if state.phase == "completed":
        failed = [
            f"{i} ({j.reason or j.conclusion})"
            for i, j in state.jobs.items()
            if j.conclusion == "failure" and not j.continue_on_error
        ]
        head = f"workflow {_CONCLUDED.get(state.conclusion or '', state.conclusion)}"
        if state.reason:
            head += f": {state.reason}"
        if failed:
            head += f"; failed: {', '.join(failed[:10])}" + (" ..." if len(failed) > 10 else "")
        return clip(head)
    if state.phase in ("pending", "waiting"):
        if state.claim is not None:
            return f"waiting for concurrency group {state.claim.group}"
        return "waiting to start"
    running = [i for i, j in state.jobs.items() if j.phase in ("queued", "running")]
    approvals = awaiting_approval(state)
    waiting = [i for i, j in state.jobs.items() if j.phase == "waiting" and i not in approvals]
    parts = []
    if state.cancel is not None:
        parts.append(f"cancelling ({state.cancel})")
    if running:
        parts.append(f"running: {_names(running)}")
    if approvals:
        environments = sorted({approval_environment(run, i) for i in approvals})
        parts.append(
            f"waiting on approval of {', '.join(environments)}: {_names(approvals)}"
            " (cairn approve RUN JOB)"
        )
    if waiting:
        parts.append(f"waiting: {_names(waiting)}")
    return clip("; ".join(parts) or "running")


_CONCLUDED = {"success": "succeeded", "failure": "failed", "cancelled": "cancelled"}


def _names(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# --- conditions ---------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionValue:
    type: str
    status: str
    reason: str
    message: str = ""


def merge_conditions(
    previous: Sequence[Mapping[str, Any]] | None,
    wanted: Iterable[ConditionValue],
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Conditions per API conventions: ``lastTransitionTime`` moves only when
    the status does; types not in ``wanted`` are kept as they were."""
    by_type = {c.get("type"): dict(c) for c in previous or () if isinstance(c, Mapping)}
    for value in wanted:
        old = by_type.get(value.type)
        changed = old is None or old.get("status") != value.status
        condition = {
            "type": value.type,
            "status": value.status,
            "reason": value.reason,
            "message": clip(value.message, 32768),
            "lastTransitionTime": rfc3339(now)
            if changed or old is None
            else old.get("lastTransitionTime", rfc3339(now)),
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        by_type[value.type] = condition
    return [by_type[key] for key in sorted(by_type, key=str)]


_SUCCEEDED_REASONS = {"success": "Succeeded", "failure": "Failed", "cancelled": "Cancelled"}


def workflow_conditions(state: WorkflowState, message: str) -> list[ConditionValue]:
    ready = ConditionValue(CONDITION_READY, "True", "Reconciled", "the checkpoint is current")
    if state.phase == "completed":
        reason = _SUCCEEDED_REASONS[state.conclusion or "failure"]
        if state.conclusion != "success" and state.reason:
            reason = _camel(state.reason) or reason
        status = "True" if state.conclusion == "success" else "False"
        return [ready, ConditionValue(CONDITION_SUCCEEDED, status, reason, message)]
    if state.cancel is not None:
        reason = "Cancelling"
    elif state.phase == "running" and _only_approvals_open(state):
        reason = REASON_AWAITING_APPROVAL
    elif state.phase == "running":
        reason = "Running"
    else:
        reason = "Waiting" if state.phase == "waiting" else "Pending"
    return [ready, ConditionValue(CONDITION_SUCCEEDED, "Unknown", reason, message)]


def _only_approvals_open(state: WorkflowState) -> bool:
    """Some job waits on an approval and none is queued or running: the
    workflow is blocked on a person."""
    return bool(awaiting_approval(state)) and not any(
        j.phase in ("queued", "running") for j in state.jobs.values()
    )


def _camel(reason: str) -> str:
    """``max_duration`` -> ``MaxDuration``: condition reasons are CamelCase words."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in reason).split() if w]
    if not words or len(words) > 6:
        return ""
    return "".join(w[:1].upper() + w[1:] for w in words)


def workflow_status(
    run: WorkflowRun,
    state: WorkflowState,
    *,
    previous: Mapping[str, Any] | None,
    now: datetime,
    generation: int | None,
) -> dict[str, Any]:
    """Every status field but the checkpoint, as the API wants them."""
    counts = job_counts(state)
    message = workflow_message(run, state)
    started = state.started_at
    status: dict[str, Any] = {
        "phase": workflow_phase(state),
        "conditions": merge_conditions(
            (previous or {}).get("conditions"),
            workflow_conditions(state, message),
            now,
            generation,
        ),
        "counts": counts.to_dict(),
        "progress": progress(counts.completed, counts.total),
        "message": message,
        "jobs": job_table(run, state, now),
        "observedGeneration": generation,
    }
    if started is not None:
        status["startedAt"] = rfc3339(started)
        end = state.completed_at or now
        status["duration"] = format_duration((end - started).total_seconds())
    if state.completed_at is not None:
        status["completedAt"] = rfc3339(state.completed_at)
    return {k: v for k, v in status.items() if v is not None}


def error_status(
    previous: Mapping[str, Any] | None, reason: str, message: str, now: datetime, generation: Any
) -> dict[str, Any]:
    """The status of an object the operator cannot work on (bad spec or checkpoint)."""
    wanted = [
        ConditionValue(CONDITION_READY, "False", reason, message),
        ConditionValue(CONDITION_SUCCEEDED, "False", reason, message),
    ]
    return {
        "phase": "Error",
        "message": clip(message),
        "conditions": merge_conditions((previous or {}).get("conditions"), wanted, now, generation),
    }

"""One handler per event type. A handler either changes the transaction or
absorbs the event (records it, changes nothing else): duplicates, late
completions of superseded attempts, unknown tokens and keys, requests that no
longer apply. No handler raises on an event's content.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cairn.engine import scheduler
from cairn.engine.actions import ReleaseConcurrency
from cairn.engine.events import (
    ApprovalGranted,
    ApprovalRejected,
    CancelRequested,
    ConcurrencyCancelled,
    ConcurrencyGranted,
    DeadlinePassed,
    JobCompleted,
    JobLost,
    JobStarted,
    RerunRequested,
    RetryRequested,
)
from cairn.engine.index import outputs_size, summaries_size
from cairn.engine.jobspec import StepResult
from cairn.engine.state import JobState, StepSummary
from cairn.engine.tokens import token_matches
from cairn.engine.tx import Tx

#: Step names longer than this are cut in the checkpoint (the sandbox's log has them whole).
STEP_NAME_KEPT = 100
#: At most this many step summaries per job are kept; the ones that did not
#: succeed first, and ``steps_omitted`` counts the rest.
STEPS_KEPT = 12


def handle(tx: Tx, event: Any) -> None:
    _HANDLERS[type(event)](tx, event)


def _live_attempt(tx: Tx, kind: str, instance_id: str, attempt: int, token: str) -> JobState | None:
    """The instance an attempt-addressed event is about, if that attempt is
    the current one, was dispatched and has not ended; else the event is
    absorbed (forged token, unknown instance, superseded or ended attempt)."""
    where = f"{instance_id}@{attempt}"
    if not token_matches(tx.run.token_seed, instance_id, attempt, token):
        tx.absorb(f"{kind}:bad_token:{where}")
        return None
    state = tx.jobs.get(instance_id)
    if state is None:
        tx.absorb(f"{kind}:unknown_instance:{instance_id}")
        return None
    if state.attempt != attempt or not state.dispatched:
        tx.absorb(f"{kind}:stale_attempt:{where}")
        return None
    if state.completed:
        tx.absorb(f"{kind}:already_concluded:{where}")
        return None
    return state


def on_job_started(tx: Tx, event: JobStarted) -> None:
    state = _live_attempt(tx, "started", event.instance_id, event.attempt, event.token)
    if state is None:
        return
    if state.phase != "queued":
        tx.absorb(f"started:duplicate:{event.instance_id}@{event.attempt}")
        return
    started = tx.now
    if event.at is not None:
        # never before its dispatch, never in the future
        started = min(max(event.at, state.queued_at or event.at), tx.now)
    deadline = started + timedelta(minutes=scheduler.timeout_of(tx, event.instance_id))
    if state.cancel is not None and state.deadline is not None:
        deadline = state.deadline
    tx.put(
        event.instance_id,
        state.model_copy(update={"phase": "running", "started_at": started, "deadline": deadline}),
    )
    if deadline <= tx.now:
        # It ran out of time before this decide: end it as the decide at its
        # deadline would have (the same outcome as deciding the start alone first).
        scheduler.expire_instance(tx, event.instance_id)


def on_job_completed(tx: Tx, event: JobCompleted) -> None:
    result = event.result
    state = _live_attempt(tx, "completed", result.instance_id, result.attempt, event.token)
    if state is None:
        return
    conclusion = result.conclusion
    reason = result.reason
    if state.cancel is not None and conclusion == "cancelled":
        reason = state.cancel
    outputs = dict(result.outputs)
    size = outputs_size(outputs)
    limits = tx.run.limits
    if size > limits.max_job_outputs_bytes:
        conclusion, outputs = "failure", {}
        reason = f"outputs_too_large: {size} bytes > {limits.max_job_outputs_bytes} per job"
    elif tx.index.output_bytes + size > limits.max_total_outputs_bytes:
        conclusion, outputs = "failure", {}
        reason = (
            f"outputs_too_large: the run's outputs would reach "
            f"{tx.index.output_bytes + size} bytes > {limits.max_total_outputs_bytes}"
        )
    if result.truncated and reason is None:
        reason = "result_truncated: the sandbox's outputs and step results did not reach Cairn"
    steps = _within_step_budget(tx, summarize_steps(result.steps)[0])
    scheduler.finish(
        tx,
        result.instance_id,
        conclusion,
        reason,
        outputs=outputs,
        steps=steps,
        steps_omitted=len(result.steps) - len(steps),
    )


def summarize_steps(steps: tuple[StepResult, ...]) -> tuple[tuple[StepSummary, ...], int]:
    """The step summaries the checkpoint keeps, and how many it leaves out."""
    if len(steps) <= STEPS_KEPT:
        return tuple(_summary(step) for step in steps), 0
    ranked = sorted(range(len(steps)), key=lambda i: (steps[i].outcome == "success", i))
    kept = sorted(ranked[:STEPS_KEPT])
    return tuple(_summary(steps[i]) for i in kept), len(steps) - STEPS_KEPT


def _within_step_budget(tx: Tx, steps: tuple[StepSummary, ...]) -> tuple[StepSummary, ...]:
    """The summaries that fit the run's budget for them: all, else the steps
    that did not succeed (what someone reading the status looks for), else none."""
    room = tx.run.limits.max_step_summaries_bytes - tx.index.step_bytes
    if summaries_size(steps) <= room:
        return steps
    unsuccessful = tuple(s for s in steps if s.conclusion != "success" or s.outcome is not None)
    return unsuccessful if summaries_size(unsuccessful) <= room else ()


def on_job_lost(tx: Tx, event: JobLost) -> None:
    state = _live_attempt(tx, "lost", event.instance_id, event.attempt, event.token)
    if state is None:
        return
    if state.cancel is not None:
        # it was being stopped anyway: losing it is the end of the cancellation
        scheduler.finish(tx, event.instance_id, "cancelled", state.cancel)
        return
    scheduler.reset(tx, event.instance_id, new_attempt=True)


def _summary(step: StepResult) -> StepSummary:
    return StepSummary(
        name=step.name[:STEP_NAME_KEPT],
        id=step.id,
        conclusion=step.conclusion,
        outcome=step.outcome if step.outcome != step.conclusion else None,
    )


def on_deadline_passed(tx: Tx, event: DeadlinePassed) -> None:
    """Deadlines are handled on every decide; the wake itself carries nothing."""
    del tx, event


def _targets(tx: Tx, name: str) -> list[str] | None:
    """Instances named by an instance id or a job id; None if neither."""
    if name in tx.jobs:
        return [name]
    if name in tx.graph.jobs:
        return list(tx.instances_of(name))
    return None


def on_cancel_requested(tx: Tx, event: CancelRequested) -> None:
    if event.instance_id is None:
        if event.attempt is not None and event.attempt != tx.workflow["run_attempt"]:
            tx.absorb(f"cancel:stale_run_attempt:{event.attempt}")
        elif not scheduler.cancel_workflow(tx, event.reason):
            tx.absorb(f"cancel:nothing_to_cancel:{tx.workflow['phase']}")
        return
    targets = _targets(tx, event.instance_id)
    if targets is None:
        tx.absorb(f"cancel:unknown_instance:{event.instance_id}")
        return
    if event.attempt is not None:
        targets = [t for t in targets if tx.jobs[t].attempt == event.attempt]
        if not targets:
            tx.absorb(f"cancel:stale_attempt:{event.instance_id}@{event.attempt}")
            return
    live = [t for t in targets if not tx.jobs[t].completed and tx.jobs[t].cancel is None]
    if not live or tx.workflow["phase"] == "completed":
        tx.absorb(f"cancel:already_finished:{event.instance_id}")
        return
    for instance_id in live:
        scheduler.cancel_instance(tx, instance_id, event.reason)


def on_retry_requested(tx: Tx, event: RetryRequested) -> None:
    name = event.instance_id
    state = tx.jobs.get(name)
    if tx.workflow["phase"] != "running" or tx.workflow["cancel"] is not None:
        tx.absorb(f"retry:workflow_not_running:{name}")
    elif state is None:
        tx.absorb(f"retry:unknown_instance:{name}")
    elif state.attempt != event.attempt:
        tx.absorb(f"retry:stale_attempt:{name}@{event.attempt}")
    elif not state.completed:
        tx.absorb(f"retry:not_finished:{name}@{event.attempt}")
    else:
        retry(tx, name)


def retry(tx: Tx, instance_id: str) -> None:
    """A new attempt of a finished instance. Descendants that never started
    are put back to wait for it (a dynamic matrix is evaluated again);
    descendants that started keep their result, and so do those that were
    cancelled before they started (someone or something chose to stop them:
    that was not a consequence of the old result)."""
    job_id = tx.job_id(instance_id)
    scheduler.reset(tx, instance_id, new_attempt=True)
    descendants = tx.graph.descendants(job_id)
    for descendant in descendants:
        instance_ids = tx.instances_of(descendant)
        states = [tx.jobs[i] for i in instance_ids]
        if descendant in tx.matrices and not any(_keeps_result(s) for s in states):
            scheduler.collapse(tx, descendant, new_attempt=False)
            continue
        for descendant_id, state in zip(list(instance_ids), states, strict=True):
            if not _keeps_result(state) and state.waiting_on != "needs":
                scheduler.reset(tx, descendant_id, new_attempt=False)
    tx.index.forget_ancestry(list(descendants))


def _keeps_result(state: JobState) -> bool:
    """Whether a descendant of a retried job keeps its current result."""
    return state.dispatched or state.conclusion == "cancelled"


def on_rerun_requested(tx: Tx, event: RerunRequested) -> None:
    workflow = tx.workflow
    if workflow["phase"] != "completed":
        tx.absorb(f"rerun:workflow_not_finished:{event.run_attempt}")
        return
    if event.run_attempt != workflow["run_attempt"]:
        tx.absorb(f"rerun:stale_run_attempt:{event.run_attempt}")
        return
    targets = [
        instance_id
        for instance_id, state in tx.jobs.items()
        if not event.failed_only or state.conclusion in ("failure", "cancelled")
    ]
    if not targets:
        tx.absorb(f"rerun:nothing_failed:{event.run_attempt}")
        return
    workflow.update(
        phase="pending",
        conclusion=None,
        reason=None,
        cancel=None,
        completed_at=None,
        claim=None,
        run_attempt=workflow["run_attempt"] + 1,
        deadline=tx.after(tx.run.limits.max_run_minutes),
    )
    downstream: set[str] = set()
    for job_id in {tx.job_id(t) for t in targets}:
        downstream.update(tx.graph.descendants(job_id))
    for instance_id in targets:
        if tx.job_id(instance_id) not in downstream:
            scheduler.reset(tx, instance_id, new_attempt=True)
    # Dependents run again whole; a dynamic matrix among them is evaluated again.
    for job_id in sorted(downstream, key=tx.graph.order.__getitem__):
        if job_id in tx.matrices:
            scheduler.collapse(tx, job_id, new_attempt=True)
            continue
        for instance_id in tx.instances_of(job_id):
            scheduler.reset(tx, instance_id, new_attempt=True)
    tx.index.upstream.clear()
    scheduler.start_workflow(tx)


def _claimant(tx: Tx, key: str) -> str | None:
    """The instance whose current claim is ``key``; None if none is."""
    prefix = f"{tx.run.name}/"
    if not key.startswith(prefix) or "@" not in key:
        return None
    instance_id = key[len(prefix) :].rsplit("@", 1)[0]
    state = tx.jobs.get(instance_id)
    if state is None or state.claim is None or state.claim.key != key:
        return None
    return instance_id


def _stale_claim(tx: Tx, kind: str, key: str, group: str | None) -> None:
    """A verdict about a claim this run no longer has. If the arbiter thinks we
    hold the group, let go of it, or the group stays blocked forever."""
    tx.absorb(f"{kind}:unknown_claim:{key}")
    # only a key of this run (``<name>#...`` or ``<name>/...``): releasing
    # another run's claim ("run-10" is not "run-1") would free its group
    name = tx.run.name
    if group is not None and key.startswith((f"{name}#", f"{name}/")):
        tx.emit(ReleaseConcurrency(key=key, group=group))


def on_concurrency_granted(tx: Tx, event: ConcurrencyGranted) -> None:
    claim = tx.workflow["claim"]
    if claim is not None and claim.key == event.key:
        if claim.holding:
            tx.absorb(f"granted:duplicate:{event.key}")
            return
        tx.workflow["claim"] = claim.model_copy(update={"holding": True, "deadline": None})
        if tx.workflow["phase"] == "waiting":
            scheduler.open_workflow(tx)
        return
    instance_id = _claimant(tx, event.key)
    if instance_id is None:
        _stale_claim(tx, "granted", event.key, event.group)
        return
    state = tx.jobs[instance_id]
    assert state.claim is not None
    if state.claim.holding:
        tx.absorb(f"granted:duplicate:{event.key}")
        return
    holding = state.claim.model_copy(update={"holding": True})
    tx.put(instance_id, state.model_copy(update={"claim": holding}))
    scheduler.dispatch(tx, instance_id)


def on_concurrency_cancelled(tx: Tx, event: ConcurrencyCancelled) -> None:
    reason = f"concurrency_{event.reason}"
    claim = tx.workflow["claim"]
    if claim is not None and claim.key == event.key:
        if not scheduler.cancel_workflow(tx, reason):
            tx.absorb(f"concurrency_cancelled:duplicate:{event.key}")
        return
    instance_id = _claimant(tx, event.key)
    if instance_id is None:
        tx.absorb(f"concurrency_cancelled:unknown_claim:{event.key}")
        return
    state = tx.jobs[instance_id]
    if state.cancel is not None:
        tx.absorb(f"concurrency_cancelled:duplicate:{event.key}")
        return
    scheduler.cancel_instance(tx, instance_id, reason)


def _awaiting_approval(tx: Tx, kind: str, name: str) -> list[str]:
    targets = _targets(tx, name)
    if targets is None:
        tx.absorb(f"{kind}:unknown_instance:{name}")
        return []
    waiting = [
        t for t in targets if tx.jobs[t].phase == "waiting" and tx.jobs[t].waiting_on == "approval"
    ]
    if not waiting:
        tx.absorb(f"{kind}:not_waiting:{name}")
    return waiting


def on_approval_granted(tx: Tx, event: ApprovalGranted) -> None:
    for instance_id in _awaiting_approval(tx, "approved", event.instance_id):
        scheduler.gate_concurrency(tx, instance_id)


def on_approval_rejected(tx: Tx, event: ApprovalRejected) -> None:
    for instance_id in _awaiting_approval(tx, "rejected", event.instance_id):
        scheduler.finish(tx, instance_id, "failure", event.reason)


_HANDLERS: dict[type, Callable[[Tx, Any], None]] = {
    JobStarted: on_job_started,
    JobCompleted: on_job_completed,
    JobLost: on_job_lost,
    DeadlinePassed: on_deadline_passed,
    CancelRequested: on_cancel_requested,
    RetryRequested: on_retry_requested,
    RerunRequested: on_rerun_requested,
    ConcurrencyGranted: on_concurrency_granted,
    ConcurrencyCancelled: on_concurrency_cancelled,
    ApprovalGranted: on_approval_granted,
    ApprovalRejected: on_approval_rejected,
}

"""How one instance moves from waiting to running to done, and what its
ending sets in motion. Every function works on a transaction (tx.py).

An instance passes these gates in order; each either lets it through at once
or parks it in a waiting phase that an event or a deadline ends:

    needs settled -> ``if`` (status functions over ancestors) -> dynamic matrix
    expanded -> ``max-parallel`` -> environment approval -> concurrency group
    -> dispatched (StartJob, ``queued``) -> started (``running``) -> completed
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cairn.engine import evaluate
from cairn.engine.actions import (
    AcquireConcurrency,
    CancelJob,
    CompleteWorkflow,
    ReleaseConcurrency,
    RequestApproval,
    SkipJob,
    StartJob,
)
from cairn.engine.contexts import instance_contexts, job_contexts, job_status
from cairn.engine.evaluate import EvaluationFailure
from cairn.engine.index import matrix_size
from cairn.engine.jobspec import JobSpec
from cairn.engine.state import (
    ConcurrencyClaim,
    JobConclusion,
    JobState,
    StepSummary,
    WorkflowConclusion,
    clip,
)
from cairn.engine.tokens import callback_token
from cairn.engine.tx import Tx
from cairn.workflow.model import DEFAULT_TIMEOUT_MINUTES


@dataclass(frozen=True)
class Strategy:
    fail_fast: bool
    max_parallel: int | None


# -- gates ---------------------------------------------------------------------


def advance(tx: Tx, instance_id: str) -> None:
    """Move an instance through every gate it can pass now."""
    job = tx.jobs.get(instance_id)
    if job is None or tx.workflow["phase"] != "running":
        return
    if job.phase == "pending" or (job.phase == "waiting" and job.waiting_on == "needs"):
        _gate_needs(tx, instance_id)
    elif job.phase == "waiting" and job.waiting_on == "max-parallel":
        _gate_capacity(tx, instance_id)


def _needs_settled(tx: Tx, job_id: str) -> bool:
    if any(tx.index.open[need] for need in tx.graph.jobs[job_id].needs):
        return False
    # A retried ancestor that is running again holds back everything below it
    # that has not started, even past dependents that kept their result.
    return not any(tx.graph.is_descendant(job_id, retried) for retried in tx.index.retrying)


def _gate_needs(tx: Tx, instance_id: str) -> None:
    job_id = tx.job_id(instance_id)
    state = tx.jobs[instance_id]
    if not _needs_settled(tx, job_id):
        if state.phase != "waiting":
            parked = state.model_copy(update={"phase": "waiting", "waiting_on": "needs"})
            tx.put(instance_id, parked)
        return
    if tx.forced:
        finish(tx, instance_id, "cancelled", tx.workflow["cancel"])
        return
    job = tx.graph.jobs[job_id]
    status = job_status(tx, job_id)
    try:
        run_it = evaluate.condition(job.if_, job_contexts(tx, job_id), status)
    except EvaluationFailure as failure:
        finish(tx, instance_id, "failure", str(failure))
        return
    if not run_it:
        if tx.workflow["cancel"] is not None:
            finish(tx, instance_id, "cancelled", tx.workflow["cancel"])
        elif status == "success" or evaluate.condition_uses_status(job.if_):
            finish(tx, instance_id, "skipped", "if_false")
        else:
            finish(tx, instance_id, "skipped", "needs_failed")
        return
    if tx.index.instance[instance_id].dynamic_matrix:
        _expand(tx, instance_id)
        return
    if job.uses is not None:
        finish(
            tx,
            instance_id,
            "failure",
            f"jobs.{job_id}.uses: calling a reusable workflow is not supported by Cairn",
        )
        return
    _gate_capacity(tx, instance_id)


def _expand(tx: Tx, placeholder_id: str) -> None:
    job_id = tx.job_id(placeholder_id)
    settings = tx.graph.jobs[job_id].strategy
    try:
        if settings is None or settings.matrix is None:
            raise EvaluationFailure("strategy.matrix", "a dynamic-matrix instance without a matrix")
        combinations = evaluate.matrix_combinations(settings.matrix, job_contexts(tx, job_id))
        _check_matrix_budget(tx, job_id, combinations)
    except EvaluationFailure as failure:
        finish(tx, placeholder_id, "failure", str(failure))
        return
    attempt = tx.jobs[placeholder_id].attempt
    placeholder = tx.index.instance[placeholder_id]
    tx.remove(placeholder_id)
    tx.set_matrix(job_id, combinations)
    for instance_id in tx.index.set_expansion(job_id, placeholder, combinations):
        tx.put(instance_id, JobState(attempt=attempt))
        tx.enqueue(instance_id)


def _check_matrix_budget(tx: Tx, job_id: str, combinations: list[dict[str, Any]]) -> None:
    """An expansion is kept in the checkpoint: refuse one that would not fit
    (a matrix built from large outputs, 256 times over)."""
    size = matrix_size(combinations)
    others = sum(n for other, n in tx.index.matrix_bytes.items() if other != job_id)
    limit = tx.run.limits.max_matrix_bytes
    if others + size > limit:
        message = (
            f"the expanded matrix takes {size} bytes of the checkpoint; the run's "
            f"dynamic matrices may take {limit} bytes in all"
            + (f" and {others} are taken" if others else "")
        )
        raise EvaluationFailure("strategy.matrix", message)


def strategy(tx: Tx, job_id: str) -> Strategy:
    """``fail-fast`` and ``max-parallel`` of a job (EvaluationFailure if bad)."""
    settings = tx.graph.jobs[job_id].strategy
    if settings is None:
        return Strategy(fail_fast=True, max_parallel=None)
    contexts = job_contexts(tx, job_id)
    return Strategy(
        fail_fast=evaluate.boolean(settings.fail_fast, contexts, "strategy.fail-fast"),
        max_parallel=evaluate.count(settings.max_parallel, contexts, "strategy.max-parallel"),
    )


def _gate_capacity(tx: Tx, instance_id: str) -> None:
    job_id = tx.job_id(instance_id)
    state = tx.jobs[instance_id]
    try:
        limit = strategy(tx, job_id).max_parallel
    except EvaluationFailure as failure:
        finish(tx, instance_id, "failure", str(failure))
        return
    if limit is not None and tx.index.admitted[job_id] >= limit:
        if state.waiting_on != "max-parallel":
            parked = JobState(phase="waiting", waiting_on="max-parallel", attempt=state.attempt)
            tx.put(instance_id, parked)
        return
    _gate_approval(tx, instance_id)


def _contexts(tx: Tx, instance_id: str) -> dict[str, object]:
    plan = strategy(tx, tx.job_id(instance_id))
    return instance_contexts(
        tx, instance_id, fail_fast=plan.fail_fast, max_parallel=plan.max_parallel
    )


def _environment(tx: Tx, instance_id: str) -> str | None:
    environment = tx.graph.jobs[tx.job_id(instance_id)].environment
    if environment is None:
        return None
    return evaluate.text(environment.name, _contexts(tx, instance_id), "environment") or None


def _gate_approval(tx: Tx, instance_id: str) -> None:
    state = tx.jobs[instance_id]
    try:
        environment = _environment(tx, instance_id)
    except EvaluationFailure as failure:
        finish(tx, instance_id, "failure", str(failure))
        return
    if environment is not None and environment in tx.run.protected_environments:
        tx.put(
            instance_id,
            JobState(
                phase="waiting",
                waiting_on="approval",
                attempt=state.attempt,
                deadline=tx.after(tx.run.limits.approval_timeout_minutes),
            ),
        )
        tx.emit(RequestApproval(instance_id=instance_id, environment=environment))
        return
    gate_concurrency(tx, instance_id)


def claim_key(tx: Tx, instance_id: str, attempt: int) -> str:
    return f"{tx.run.name}/{instance_id}@{attempt}"


def gate_concurrency(tx: Tx, instance_id: str) -> None:
    state = tx.jobs[instance_id]
    settings = tx.graph.jobs[tx.job_id(instance_id)].concurrency
    if settings is None:
        dispatch(tx, instance_id)
        return
    try:
        group, cancel_in_progress = evaluate.concurrency(settings, _contexts(tx, instance_id))
    except EvaluationFailure as failure:
        finish(tx, instance_id, "failure", str(failure))
        return
    claim = ConcurrencyClaim(
        group=group,
        key=claim_key(tx, instance_id, state.attempt),
        requested_at=tx.now,
        cancel_in_progress=cancel_in_progress,
    )
    tx.put(
        instance_id,
        JobState(
            phase="waiting",
            waiting_on="concurrency",
            attempt=state.attempt,
            deadline=tx.after(tx.run.limits.concurrency_timeout_minutes),
            claim=claim,
        ),
    )
    tx.emit(
        AcquireConcurrency(
            key=claim.key,
            group=group,
            cancel_in_progress=cancel_in_progress,
            requested_at=tx.now,
        )
    )


def dispatch(tx: Tx, instance_id: str) -> None:
    """Emit StartJob for the instance's current attempt."""
    state = tx.jobs[instance_id]
    job_id = tx.job_id(instance_id)
    job = tx.graph.jobs[job_id]
    instance = tx.index.instance[instance_id]
    try:
        contexts = _contexts(tx, instance_id)
        timeout = evaluate.minutes(job.timeout_minutes, contexts, "timeout-minutes")
        continue_on_error = evaluate.boolean(job.continue_on_error, contexts, "continue-on-error")
        labels, group = evaluate.runner(job.runs_on, contexts)
        environment = _environment(tx, instance_id)
        name = instance.name
        if "${{" in name:
            name = evaluate.text(name, contexts, "name")
    except EvaluationFailure as failure:
        finish(tx, instance_id, "failure", str(failure))
        return
    token = callback_token(tx.run.token_seed, instance_id, state.attempt)
    workflow = tx.run.plan.workflow
    spec = JobSpec(
        workflow_file=workflow.file,
        workflow_name=workflow.name,
        instance_id=instance_id,
        name=name,
        attempt=state.attempt,
        callback_token=token,
        deadline=tx.after(timeout),
        job=job,
        workflow_env=workflow.env,
        workflow_defaults=workflow.defaults,
        contexts=contexts,
        runs_on=labels,
        runner_group=group,
        environment=environment,
        timeout_minutes=timeout,
        secret_names=tx.run.secret_names,
    )
    tx.put(
        instance_id,
        JobState(
            phase="queued",
            attempt=state.attempt,
            token=token,
            deadline=tx.after(tx.run.limits.queue_timeout_minutes),
            queued_at=tx.now,
            continue_on_error=continue_on_error,
            timeout_minutes=timeout if isinstance(job.timeout_minutes, str) else None,
            claim=state.claim,
        ),
    )
    tx.emit(StartJob(spec=spec))


def timeout_of(tx: Tx, instance_id: str) -> float:
    """``timeout-minutes`` of a dispatched instance: the value its StartJob
    carried (an expression is not evaluated again: a need retried since
    could change what it reads)."""
    kept = tx.jobs[instance_id].timeout_minutes
    if kept is not None:
        return kept
    setting = tx.graph.jobs[tx.job_id(instance_id)].timeout_minutes
    if not isinstance(setting, str):
        return setting
    # a checkpoint written before ``tm`` was kept: evaluate as it was then
    try:
        return evaluate.minutes(setting, _contexts(tx, instance_id), "timeout-minutes")
    except EvaluationFailure:
        return DEFAULT_TIMEOUT_MINUTES


# -- endings -------------------------------------------------------------------


def finish(
    tx: Tx,
    instance_id: str,
    conclusion: JobConclusion,
    reason: str | None,
    *,
    outputs: dict[str, str] | None = None,
    steps: tuple[StepSummary, ...] = (),
    steps_omitted: int = 0,
) -> None:
    """Conclude the current attempt and set its consequences in motion."""
    old = tx.jobs[instance_id]
    reason = None if reason is None else clip(reason)
    if old.claim is not None:
        tx.emit(ReleaseConcurrency(key=old.claim.key, group=old.claim.group))
    order = None
    if outputs:
        order = tx.workflow["output_order"] = tx.workflow["output_order"] + 1
    new = JobState(
        phase="completed",
        conclusion=conclusion,
        reason=reason,
        attempt=old.attempt,
        queued_at=old.queued_at,
        started_at=old.started_at,
        completed_at=tx.now,
        continue_on_error=old.continue_on_error,
        outputs=outputs or {},
        output_order=order,
        steps=steps,
        steps_omitted=steps_omitted,
    )
    tx.put(instance_id, new)
    if not old.dispatched:
        why = reason or conclusion
        tx.emit(SkipJob(instance_id=instance_id, conclusion=conclusion, reason=why))
    _after_finish(tx, instance_id, old, new)


def _after_finish(tx: Tx, instance_id: str, old: JobState, new: JobState) -> None:
    job_id = tx.job_id(instance_id)
    siblings = tx.instances_of(job_id)
    settings = tx.graph.jobs[job_id].strategy
    if old.admitted and settings is not None and settings.max_parallel is not None:
        for sibling in _parked_to_wake(tx, job_id):
            tx.enqueue(sibling)
    if new.effective_result == "failure" and tx.graph.is_matrix(job_id) and len(siblings) > 1:
        try:
            fail_fast = strategy(tx, job_id).fail_fast
        except EvaluationFailure:
            fail_fast = True
        if fail_fast:
            for sibling in siblings:
                if not tx.jobs[sibling].completed:
                    cancel_instance(tx, sibling, "fail_fast")
    if tx.index.open[job_id] == 0:
        for dependent in tx.graph.dependents[job_id]:
            for waiting_id in tx.instances_of(dependent):
                tx.enqueue(waiting_id)
        if new.attempt > 1:
            # Dependents of dependents may have waited on this retried attempt.
            for descendant in tx.graph.descendants(job_id):
                for waiting_id in tx.instances_of(descendant):
                    if not tx.jobs[waiting_id].completed:
                        tx.enqueue(waiting_id)


def _parked_to_wake(tx: Tx, job_id: str) -> list[str]:
    """The instances waiting for a max-parallel slot that the free slots can
    take now: the first ones in matrix order, found without scanning the
    matrix (a 256-wide matrix must not cost 256 checks per completion)."""
    try:
        limit = strategy(tx, job_id).max_parallel
    except EvaluationFailure:
        limit = None  # each waiting instance meets the error itself and fails
    free = len(tx.instances_of(job_id)) if limit is None else limit - tx.index.admitted[job_id]
    return tx.index.first_parked(job_id, tx.jobs, free) if free > 0 else []


def cancel_instance(tx: Tx, instance_id: str, reason: str) -> None:
    """Cancel one instance: stop its sandbox, or conclude it if it never started."""
    state = tx.jobs[instance_id]
    if state.completed:
        return
    if state.dispatched:
        cancel_dispatched(tx, instance_id, reason)
    else:
        finish(tx, instance_id, "cancelled", reason)


def cancel_dispatched(tx: Tx, instance_id: str, reason: str) -> None:
    """Ask the sandbox to stop; it has the grace period to report, then the
    attempt ends as cancelled anyway."""
    state = tx.jobs[instance_id]
    if state.cancel is not None or state.token is None:
        return
    reason = clip(reason)
    grace = tx.after(tx.run.limits.cancel_grace_minutes)
    deadline = grace if state.deadline is None else min(state.deadline, grace)
    tx.put(instance_id, state.model_copy(update={"cancel": reason, "deadline": deadline}))
    tx.emit(
        CancelJob(instance_id=instance_id, attempt=state.attempt, token=state.token, reason=reason)
    )


def survives_cancellation(tx: Tx, instance_id: str) -> bool:
    """GitHub re-evaluates the ``if`` of unfinished jobs when a run is
    cancelled: those that still evaluate true (``always()``) carry on."""
    job_id = tx.job_id(instance_id)
    try:
        return evaluate.condition(tx.graph.jobs[job_id].if_, job_contexts(tx, job_id), "cancelled")
    except EvaluationFailure:
        return False


# -- resets (retry, re-run) ----------------------------------------------------


def reset(tx: Tx, instance_id: str, *, new_attempt: bool) -> None:
    """Put an instance back to waiting on its needs, dropping its result."""
    state = tx.jobs[instance_id]
    if state.claim is not None:
        tx.emit(ReleaseConcurrency(key=state.claim.key, group=state.claim.group))
    attempt = state.attempt + 1 if new_attempt else state.attempt
    tx.put(instance_id, JobState(phase="waiting", waiting_on="needs", attempt=attempt))
    tx.enqueue(instance_id)


def collapse(tx: Tx, job_id: str, *, new_attempt: bool) -> None:
    """Undo a dynamic matrix's expansion so it is evaluated again."""
    attempt = 1
    for instance_id in list(tx.instances_of(job_id)):
        state = tx.jobs[instance_id]
        if state.claim is not None:
            tx.emit(ReleaseConcurrency(key=state.claim.key, group=state.claim.group))
        attempt = max(attempt, state.attempt)
        tx.remove(instance_id)
    tx.set_matrix(job_id, None)
    placeholder_id = tx.index.set_placeholder(job_id)
    attempt = attempt + 1 if new_attempt else attempt
    tx.put(placeholder_id, JobState(phase="waiting", waiting_on="needs", attempt=attempt))
    tx.enqueue(placeholder_id)


# -- the workflow --------------------------------------------------------------


def settle(tx: Tx) -> None:
    """Drain the work queue, then conclude the workflow if every job ended."""
    while (instance_id := tx.next_queued()) is not None:
        advance(tx, instance_id)
    if tx.workflow["phase"] != "completed" and tx.all_completed:
        complete_workflow(tx)


def complete_workflow(
    tx: Tx, conclusion: WorkflowConclusion | None = None, reason: str | None = None
) -> None:
    """Conclude the run (by GitHub's rules unless ``conclusion`` is given)."""
    workflow = tx.workflow
    if conclusion is None:
        conclusion, reason = _conclusion(tx)
    reason = None if reason is None else clip(reason)
    claim = workflow["claim"]
    if claim is not None:
        tx.emit(ReleaseConcurrency(key=claim.key, group=claim.group))
    workflow.update(
        phase="completed", conclusion=conclusion, reason=reason, completed_at=tx.now, claim=None
    )
    tx.emit(CompleteWorkflow(conclusion=conclusion, reason=reason))


def _conclusion(tx: Tx) -> tuple[WorkflowConclusion, str | None]:
    """Cancelled if the run was cancelled; else failure if a job failed without
    continue-on-error; else cancelled if a job was cancelled; else success."""
    if tx.workflow["cancel"] is not None:
        return "cancelled", tx.workflow["cancel"]
    states = tx.jobs.values()
    if any(state.effective_result == "failure" for state in states):
        return "failure", None
    if any(state.conclusion == "cancelled" for state in states):
        return "cancelled", None
    return "success", None


def start_workflow(tx: Tx) -> None:
    """Begin (or begin again, after a re-run): join the workflow's concurrency
    group if it has one, else open the gates."""
    workflow = tx.workflow
    if workflow["started_at"] is None:
        workflow["started_at"] = tx.now
    settings = tx.run.plan.workflow.concurrency
    if settings is None:
        open_workflow(tx)
        return
    contexts = {"github": tx.run.github, "inputs": tx.run.inputs, "vars": tx.run.vars}
    try:
        group, cancel_in_progress = evaluate.concurrency(settings, contexts)
    except EvaluationFailure as failure:
        fail_workflow(tx, f"workflow {failure}")
        return
    claim = ConcurrencyClaim(
        group=group,
        key=f"{tx.run.name}#{workflow['run_attempt']}",
        requested_at=tx.now,
        cancel_in_progress=cancel_in_progress,
        deadline=tx.after(tx.run.limits.concurrency_timeout_minutes),
    )
    workflow.update(phase="waiting", claim=claim)
    tx.emit(
        AcquireConcurrency(
            key=claim.key, group=group, cancel_in_progress=cancel_in_progress, requested_at=tx.now
        )
    )


def open_workflow(tx: Tx) -> None:
    tx.workflow["phase"] = "running"
    for job_id in sorted(tx.graph.jobs, key=tx.graph.order.__getitem__):
        for instance_id in tx.instances_of(job_id):
            if not tx.jobs[instance_id].completed:
                tx.enqueue(instance_id)


def fail_workflow(tx: Tx, reason: str) -> None:
    """The workflow cannot run at all: no job starts, it concludes failure."""
    for instance_id in list(tx.jobs):
        if not tx.jobs[instance_id].completed:
            finish(tx, instance_id, "skipped", "workflow_error")
    complete_workflow(tx, "failure", reason)


def cancel_workflow(tx: Tx, reason: str, *, force: bool = False) -> bool:
    """Cancel the run (False if there is nothing to cancel).

    Unfinished jobs whose ``if`` still holds under ``cancelled()`` carry on;
    the others are stopped. ``force`` (the run's time is up) stops everything.
    """
    workflow = tx.workflow
    if workflow["phase"] == "completed" or (workflow["cancel"] is not None and not force):
        return False
    if workflow["cancel"] is None:
        workflow["cancel"] = clip(reason)
    if force:
        tx.forced = True
    never_started = workflow["phase"] in ("pending", "waiting")
    for instance_id in list(tx.jobs):
        state = tx.jobs.get(instance_id)
        if state is None or state.completed:
            continue
        if never_started or force:
            if state.dispatched and state.token is not None:
                tx.emit(
                    CancelJob(
                        instance_id=instance_id,
                        attempt=state.attempt,
                        token=state.token,
                        reason=workflow["cancel"],
                    )
                )
            finish(tx, instance_id, "cancelled", workflow["cancel"])
        elif state.dispatched:
            if not survives_cancellation(tx, instance_id):
                cancel_dispatched(tx, instance_id, workflow["cancel"])
        elif (
            state.phase == "waiting"
            and state.waiting_on != "needs"
            and not survives_cancellation(tx, instance_id)
        ):
            finish(tx, instance_id, "cancelled", workflow["cancel"])
    if never_started:
        claim = workflow["claim"]
        if claim is not None:
            tx.emit(ReleaseConcurrency(key=claim.key, group=claim.group))
        workflow["claim"] = None
        workflow["phase"] = "running"
    return True


def expire_instance(tx: Tx, instance_id: str) -> None:
    """End an instance whose deadline passed (cancel grace, queue, run or approval wait)."""
    state = tx.jobs[instance_id]
    if state.cancel is not None:
        finish(tx, instance_id, "cancelled", state.cancel)
    elif state.phase in ("queued", "running"):
        reason = "queue_timeout" if state.phase == "queued" else "timed_out"
        assert state.token is not None
        tx.emit(
            CancelJob(
                instance_id=instance_id, attempt=state.attempt, token=state.token, reason=reason
            )
        )
        finish(tx, instance_id, "failure", reason)
    elif state.phase == "waiting" and state.waiting_on == "concurrency":
        finish(tx, instance_id, "cancelled", "concurrency_timeout")
    elif state.phase == "waiting" and state.waiting_on == "approval":
        # GitHub: "If a job is not approved within 30 days, it will automatically fail."
        finish(tx, instance_id, "failure", "approval_timeout")

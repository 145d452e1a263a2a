"""The contexts a job's expressions see before its sandbox starts, and the
job-level results GitHub derives for dependents.

- ``needs.<job>.result``: over a matrix job's instances, ``failure`` if any
  failed, else ``cancelled`` if any was cancelled, else ``skipped`` if all were
  skipped, else ``success``; a failure under ``continue-on-error`` counts as
  ``success``, as GitHub reports it.
- ``needs.<job>.outputs``: a matrix job's outputs are combined from all its
  instances in completion order, a later non-empty value replacing an earlier
  one (GitHub: "job outputs will be combined from all jobs inside the matrix").
- status functions in a job ``if`` read the job's ancestors transitively
  (GitHub: with a chain of jobs, ``failure()`` is true if any ancestor failed).
"""

from __future__ import annotations

from typing import Any

from cairn.engine.evaluate import JobStatus
from cairn.engine.state import JobConclusion
from cairn.engine.tx import Tx


def aggregate(tx: Tx, job_id: str) -> tuple[JobConclusion | None, dict[str, str]]:
    """(result, outputs) of a job over its instances; result None while open."""
    cached = tx.index.results.get(job_id)
    if cached is not None:
        return cached  # type: ignore[return-value]
    instance_ids = tx.instances_of(job_id)
    states = [tx.jobs[i] for i in instance_ids]
    results = {state.effective_result for state in states}
    result: JobConclusion | None
    if None in results:
        result = None
    elif "failure" in results:
        result = "failure"
    elif "cancelled" in results:
        result = "cancelled"
    elif results == {"skipped"}:
        result = "skipped"
    else:
        result = "success"
    finished = sorted(
        (i for i, state in zip(instance_ids, states, strict=True) if state.outputs),
        key=lambda i: tx.jobs[i].output_order or 0,
    )
    outputs: dict[str, str] = {}
    for instance_id in finished:
        outputs.update((k, v) for k, v in tx.jobs[instance_id].outputs.items() if v != "")
    if result is not None:
        tx.index.results[job_id] = (result, outputs)
    return result, outputs


def ancestry(tx: Tx, job_id: str) -> tuple[bool, bool]:
    """(any ancestor failed, every ancestor succeeded) for ``job_id``.

    Memoised per job once every ancestor is settled, computed iteratively so a
    long chain costs one step per job and no recursion.
    """
    memo = tx.index.upstream
    if job_id in memo:
        return memo[job_id]
    partial: dict[str, tuple[bool, bool]] = {}
    unsettled: set[str] = set()
    stack = [job_id]
    while stack:
        current = stack[-1]
        if current in memo or current in partial:
            stack.pop()
            continue
        needs = tx.graph.jobs[current].needs
        missing = [n for n in needs if n not in memo and n not in partial]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        any_failed, all_succeeded, settled = False, True, True
        for need in needs:
            result, _ = aggregate(tx, need)
            failed, succeeded = memo[need] if need in memo else partial[need]
            settled = settled and result is not None and need not in unsettled
            any_failed = any_failed or failed or result == "failure"
            all_succeeded = all_succeeded and succeeded and result == "success"
        if settled:
            memo[current] = (any_failed, all_succeeded)
        else:
            partial[current] = (any_failed, all_succeeded)
            unsettled.add(current)
    return memo[job_id] if job_id in memo else partial[job_id]


def job_status(tx: Tx, job_id: str) -> JobStatus:
    """What the status functions of ``job_id``'s ``if`` read."""
    if tx.workflow["cancel"] is not None:
        return "cancelled"
    any_failed, all_succeeded = ancestry(tx, job_id)
    if any_failed:
        return "failure"
    return "success" if all_succeeded else "skipped"


def needs_context(tx: Tx, job_id: str) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for need in tx.graph.jobs[job_id].needs:
        result, outputs = aggregate(tx, need)
        context[need] = {"result": result, "outputs": dict(outputs)}
    return context


def github_context(tx: Tx, job_id: str) -> dict[str, Any]:
    return {**tx.run.github, "job": job_id, "run_attempt": str(tx.workflow["run_attempt"])}


def job_contexts(tx: Tx, job_id: str) -> dict[str, Any]:
    """For ``jobs.<id>.if`` and ``strategy``: github, needs, vars, inputs."""
    return {
        "github": github_context(tx, job_id),
        "needs": needs_context(tx, job_id),
        "vars": tx.run.vars,
        "inputs": tx.run.inputs,
    }


def instance_contexts(
    tx: Tx, instance_id: str, *, fail_fast: bool, max_parallel: int | None
) -> dict[str, Any]:
    """For everything evaluated per instance: adds matrix and strategy."""
    job_id = tx.job_id(instance_id)
    total = len(tx.instances_of(job_id))
    contexts = job_contexts(tx, job_id)
    contexts["matrix"] = dict(tx.index.instance[instance_id].matrix)
    contexts["strategy"] = {
        "fail-fast": fail_fast,
        "job-index": tx.index.position[instance_id],
        "job-total": total,
        "max-parallel": max_parallel if max_parallel is not None else total,
    }
    return contexts

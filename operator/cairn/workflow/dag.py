"""The job graph: ``needs`` edges, cycles, topological order, and the plan."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cairn.workflow.errors import Diagnostic, MatrixError, WorkflowError
from cairn.workflow.matrix import expand_matrix
from cairn.workflow.model import JobInstance, Plan, Workflow
from cairn.workflow.names import instance_name
from cairn.workflow.parse_jobs import matrix_mapping
from cairn.workflow.reader import suggestion


@dataclass(frozen=True)
class DependencyProblem:
    #: the job the problem is reported on
    job: str
    #: the offending ``needs`` entry, when the problem is about one
    need: str | None
    message: str


def dependency_problems(needs: Mapping[str, Sequence[str]]) -> list[DependencyProblem]:
    """Unknown ``needs`` and cycles, for jobs given in file order.

    Each cycle (strongly connected component) is reported once, on its first
    job in file order, naming every job in it and the edges between them.
    """
    problems: list[DependencyProblem] = []
    for job, wanted in needs.items():
        for need in wanted:
            if need not in needs:
                problems.append(
                    DependencyProblem(
                        job,
                        need,
                        f"job {job!r} needs {need!r}, which is not a job of this workflow"
                        f"{suggestion(need, list(needs))}",
                    )
                )
    order = {job: i for i, job in enumerate(needs)}
    for component in _strongly_connected(needs):
        if len(component) == 1:
            (only,) = component
            if only not in needs[only]:
                continue
        members = sorted(component, key=order.__getitem__)
        edges = [
            f"{job} needs {need}" for job in members for need in needs[job] if need in component
        ]
        problems.append(
            DependencyProblem(
                members[0],
                None,
                f"dependency cycle between jobs {', '.join(members)} ({'; '.join(edges)})",
            )
        )
    return problems


def _strongly_connected(graph: Mapping[str, Sequence[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (a 10,000-job chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = [n for n in graph[node] if n in graph]
            if child < len(successors):
                work.append((node, child + 1))
                succ = successors[child]
                if succ not in index:
                    work.append((succ, 0))
                elif succ in on_stack:
                    low[node] = min(low[node], index[succ])
                continue
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Jobs ordered so that every job comes after the jobs it needs; ties keep
    file order. The graph must be acyclic with known needs."""
    position = {job: i for i, job in enumerate(needs)}
    waiting = {job: len(set(wanted)) for job, wanted in needs.items()}
    dependents: dict[str, list[str]] = {job: [] for job in needs}
    for job, wanted in needs.items():
        for need in set(wanted):
            dependents[need].append(job)
    ready = [(position[job], job) for job, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, job = heapq.heappop(ready)
        order.append(job)
        for dependent in dependents[job]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (position[dependent], dependent))
    if len(order) != len(needs):
        raise ValueError("topological_order needs an acyclic graph")
    return order


def compile_plan(workflow: Workflow) -> Plan:
    """The workflow's job instances (matrices expanded) in topological order.

    A workflow from ``parse_workflow`` always compiles; one built by hand may
    not, and then the problems are raised as a ``WorkflowError``.
    """
    needs = {job_id: job.needs for job_id, job in workflow.jobs.items()}
    problems = dependency_problems(needs)
    if problems:
        raise WorkflowError(
            Diagnostic(workflow.file, workflow.jobs[p.job].line or 1, 1, p.message)
            for p in problems
        )
    instances: list[JobInstance] = []
    errors: list[Diagnostic] = []
    for job_id in topological_order(needs):
        job = workflow.jobs[job_id]
        matrix = job.strategy.matrix if job.strategy is not None else None
        if matrix is None:
            instances.append(
                JobInstance(id=job_id, job_id=job_id, name=instance_name(job, {}), needs=job.needs)
            )
        elif matrix.is_dynamic:
            instances.append(
                JobInstance(
                    id=job_id,
                    job_id=job_id,
                    name=instance_name(job, {}),
                    needs=job.needs,
                    dynamic_matrix=True,
                )
            )
        else:
            try:
                combinations = expand_matrix(matrix_mapping(matrix))
            except MatrixError as exc:
                errors.append(Diagnostic(workflow.file, job.line or 1, 1, f"jobs.{job_id}: {exc}"))
                continue
            instances.extend(
                JobInstance(
                    id=f"{job_id}.{n}",
                    job_id=job_id,
                    name=instance_name(job, combination),
                    matrix=combination,
                    needs=job.needs,
                )
                for n, combination in enumerate(combinations)
            )
    if errors:
        raise WorkflowError(errors)
    return Plan(workflow=workflow, instances=tuple(instances))

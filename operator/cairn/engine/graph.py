"""The static shape of a plan, indexed once per run.

Everything here depends only on the immutable plan, so it is computed the first
time a run is decided and cached on the run object. ``decide()`` uses it to
find a finished job's dependents and a retried job's descendants without
scanning the workflow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from cairn.engine.errors import InvalidRunError
from cairn.workflow.model import Job, JobInstance, Plan


@dataclass
class Graph:
    plan: Plan
    jobs: Mapping[str, Job]
    #: job id -> its instances in plan order (a dynamic matrix job: its placeholder)
    instances_by_job: dict[str, tuple[JobInstance, ...]]
    #: job id -> the job ids that list it in ``needs``
    dependents: dict[str, tuple[str, ...]]
    #: job id -> position in a topological order of the jobs
    order: dict[str, int]
    _descendants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _descendant_sets: dict[str, frozenset[str]] = field(default_factory=dict)

    def descendants(self, job_id: str) -> tuple[str, ...]:
        """Every job that transitively needs ``job_id``, in topological order."""
        cached = self._descendants.get(job_id)
        if cached is not None:
            return cached
        seen: set[str] = set()
        stack = list(self.dependents.get(job_id, ()))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.dependents.get(current, ()))
        result = tuple(sorted(seen, key=self.order.__getitem__))
        self._descendants[job_id] = result
        return result

    def is_descendant(self, job_id: str, ancestor: str) -> bool:
        """Whether ``job_id`` transitively needs ``ancestor``."""
        found = self._descendant_sets.get(ancestor)
        if found is None:
            found = self._descendant_sets[ancestor] = frozenset(self.descendants(ancestor))
        return job_id in found

    def is_matrix(self, job_id: str) -> bool:
        job = self.jobs[job_id]
        return job.strategy is not None and job.strategy.matrix is not None


def build_graph(plan: Plan) -> Graph:
    """Index ``plan``; InvalidRunError when its DAG is inconsistent."""
    jobs = plan.workflow.jobs
    by_job: dict[str, list[JobInstance]] = {job_id: [] for job_id in jobs}
    seen_ids: set[str] = set()
    for instance in plan.instances:
        if instance.id in seen_ids:
            raise InvalidRunError(f"plan lists instance {instance.id!r} twice")
        seen_ids.add(instance.id)
        if instance.job_id not in jobs:
            raise InvalidRunError(
                f"instance {instance.id!r} belongs to job {instance.job_id!r}, "
                "which the workflow does not define"
            )
        if instance.dynamic_matrix and by_job[instance.job_id]:
            raise InvalidRunError(
                f"job {instance.job_id!r} has a dynamic-matrix placeholder besides other instances"
            )
        by_job[instance.job_id].append(instance)
    for job_id, instances in by_job.items():
        if not instances:
            raise InvalidRunError(f"job {job_id!r} has no instance in the plan")
        for instance in instances:
            if set(instance.needs) != set(jobs[job_id].needs):
                raise InvalidRunError(
                    f"instance {instance.id!r} needs {list(instance.needs)}, "
                    f"but job {job_id!r} needs {list(jobs[job_id].needs)}"
                )
    dependents: dict[str, list[str]] = {job_id: [] for job_id in jobs}
    for job_id, job in jobs.items():
        for need in job.needs:
            if need not in jobs:
                raise InvalidRunError(f"job {job_id!r} needs {need!r}, which does not exist")
            if need == job_id:
                raise InvalidRunError(f"job {job_id!r} needs itself")
            dependents[need].append(job_id)
    order = _topological_order(jobs)
    return Graph(
        plan=plan,
        jobs=jobs,
        instances_by_job={job_id: tuple(items) for job_id, items in by_job.items()},
        dependents={job_id: tuple(items) for job_id, items in dependents.items()},
        order=order,
    )


def _topological_order(jobs: Mapping[str, Job]) -> dict[str, int]:
    """Kahn's algorithm in file order; InvalidRunError naming a cycle's jobs."""
    remaining = {job_id: len(set(job.needs)) for job_id, job in jobs.items()}
    dependents: dict[str, list[str]] = {job_id: [] for job_id in jobs}
    for job_id, job in jobs.items():
        for need in set(job.needs):
            dependents[need].append(job_id)
    ready = deque(job_id for job_id, count in remaining.items() if count == 0)
    order: dict[str, int] = {}
    while ready:
        current = ready.popleft()
        order[current] = len(order)
        for dependent in dependents[current]:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                ready.append(dependent)
    if len(order) != len(jobs):
        cycle = sorted(job_id for job_id in jobs if job_id not in order)
        raise InvalidRunError(f"the jobs {cycle} depend on each other in a cycle")
    return order

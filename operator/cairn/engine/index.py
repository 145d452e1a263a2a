"""Derived indexes of a state, so ``decide()`` never rescans the workflow.

Everything here can be recomputed from the run and the state, and is: when a
state comes from JSON (a restart) the index is built once, in O(jobs). After
that it travels with the newest state in memory: ``decide()`` takes it over from
the state it was given, updates it with each change, and hands it to the state
it returns. A state whose index was taken over rebuilds one if it is decided
again, so old states stay valid values.
"""

from __future__ import annotations

import heapq
import json
from datetime import datetime
from typing import Any

from cairn.engine.errors import CheckpointError
from cairn.engine.graph import Graph
from cairn.engine.state import JobState, StepSummary, WorkflowState
from cairn.workflow import instance_name
from cairn.workflow.model import JobInstance


def job_of(instance_id: str) -> str:
    """The job of an instance id (``build.3`` -> ``build``); job ids have no dot."""
    return instance_id.split(".", 1)[0]


def outputs_size(outputs: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in outputs.items())


#: what a step summary costs in the checkpoint besides its name and id (keys,
#: quotes, a conclusion that is not success)
STEP_OVERHEAD = 16


def summaries_size(steps: tuple[StepSummary, ...]) -> int:
    return sum(len(s.name.encode()) + len((s.id or "").encode()) + STEP_OVERHEAD for s in steps)


def matrix_size(combinations: list[dict[str, Any]]) -> int:
    """Bytes a dynamic matrix's combinations take in the checkpoint."""
    text = json.dumps(combinations, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode())


class Index:
    def __init__(self, graph: Graph, state: WorkflowState) -> None:
        self.graph = graph
        #: the state this index describes; any other state rebuilds its own
        self.owner: WorkflowState = state
        #: job id -> instance ids, in matrix order (expanded dynamic matrices included)
        self.instances: dict[str, list[str]] = {}
        self.instance: dict[str, JobInstance] = {}
        #: instance id -> its index among the job's instances (``strategy.job-index``)
        self.position: dict[str, int] = {}
        #: job id -> instances not completed
        self.open: dict[str, int] = {}
        #: job id -> instances past the max-parallel gate and not completed
        self.admitted: dict[str, int] = {}
        #: job id -> instances on a retried attempt (> 1) not completed; only
        #: jobs that have some (the needs gate scans it)
        self.retrying: dict[str, int] = {}
        #: (deadline, instance id); entries go stale and are skipped lazily
        self.heap: list[tuple[datetime, str]] = []
        #: job id -> (position, instance id) of instances waiting for a
        #: max-parallel slot, so a freed slot goes to the first one without
        #: scanning the matrix; entries go stale and are skipped lazily
        self.parked: dict[str, list[tuple[int, str]]] = {}
        #: job id -> (any ancestor failed, all ancestors succeeded), for settled ancestries
        self.upstream: dict[str, tuple[bool, bool]] = {}
        #: job id -> (aggregated result, merged outputs), for settled jobs
        self.results: dict[str, tuple[str | None, dict[str, str]]] = {}
        self.output_bytes = 0
        self.step_bytes = 0
        #: job id -> bytes of its expanded dynamic matrix in the checkpoint
        self.matrix_bytes: dict[str, int] = {
            job_id: matrix_size(combinations) for job_id, combinations in state.matrices.items()
        }

        for job_id, instances in graph.instances_by_job.items():
            combinations = state.matrices.get(job_id)
            if combinations is None:
                self._set_instances(job_id, list(instances))
            else:
                self.set_expansion(job_id, instances[0], combinations)
        for job_id in graph.jobs:
            self.open[job_id] = self.admitted[job_id] = 0
        expected = set(self.instance)
        if set(state.jobs) != expected:
            missing = sorted(expected - set(state.jobs))[:5]
            extra = sorted(set(state.jobs) - expected)[:5]
            raise CheckpointError(
                "checkpoint does not belong to this run's plan "
                f"(missing instances {missing}, unknown instances {extra})"
            )
        for instance_id, job in state.jobs.items():
            _check_consistent(instance_id, job)
            self.track(instance_id, None, job)
        _check_workflow(state)

    def _set_instances(self, job_id: str, instances: list[JobInstance]) -> None:
        self.instances[job_id] = [instance.id for instance in instances]
        for position, instance in enumerate(instances):
            self.instance[instance.id] = instance
            self.position[instance.id] = position

    def set_expansion(
        self, job_id: str, placeholder: JobInstance, combinations: list[dict[str, Any]]
    ) -> list[str]:
        """Replace a dynamic job's placeholder by its combinations' instances."""
        job = self.graph.jobs[job_id]
        for old in self.instances.get(job_id, ()):
            self.instance.pop(old, None)
            self.position.pop(old, None)
        instances = [
            JobInstance(
                id=f"{job_id}.{n}",
                job_id=job_id,
                name=instance_name(job, combination),
                matrix=combination,
                needs=placeholder.needs,
            )
            for n, combination in enumerate(combinations)
        ]
        self._set_instances(job_id, instances)
        return self.instances[job_id]

    def set_placeholder(self, job_id: str) -> str:
        """Undo an expansion: the job is its placeholder again."""
        for old in self.instances.get(job_id, ()):
            self.instance.pop(old, None)
            self.position.pop(old, None)
        self._set_instances(job_id, list(self.graph.instances_by_job[job_id]))
        return self.instances[job_id][0]

    def track(self, instance_id: str, old: JobState | None, new: JobState | None) -> None:
        """Account for one instance's change from ``old`` to ``new`` (None: absent)."""
        job_id = job_of(instance_id)
        self.open[job_id] += _flag(new, _is_open) - _flag(old, _is_open)
        self.admitted[job_id] += _flag(new, _is_admitted) - _flag(old, _is_admitted)
        retrying = (
            self.retrying.get(job_id, 0) + _flag(new, _is_retrying) - _flag(old, _is_retrying)
        )
        # kept sparse: the needs gate scans it on every advance
        if retrying:
            self.retrying[job_id] = retrying
        else:
            self.retrying.pop(job_id, None)
        old_outputs = old.outputs if old is not None else {}
        new_outputs = new.outputs if new is not None else {}
        if old_outputs is not new_outputs:
            self.output_bytes += outputs_size(new_outputs) - outputs_size(old_outputs)
        old_steps = old.steps if old is not None else ()
        new_steps = new.steps if new is not None else ()
        if old_steps is not new_steps:
            self.step_bytes += summaries_size(new_steps) - summaries_size(old_steps)
        if new is not None and _is_parked(new) and (old is None or not _is_parked(old)):
            entry = (self.position[instance_id], instance_id)
            heapq.heappush(self.parked.setdefault(job_id, []), entry)
        if (
            new is not None
            and new.deadline is not None
            and not new.completed
            and (old is None or old.deadline != new.deadline)
        ):
            heapq.heappush(self.heap, (new.deadline, instance_id))
        if (
            old is None
            or new is None
            or old.phase != new.phase
            or old.conclusion != new.conclusion
            or old.outputs is not new.outputs
            or old.continue_on_error != new.continue_on_error
        ):
            self.results.pop(job_id, None)

    def _live(self, entry: tuple[datetime, str], jobs: dict[str, JobState]) -> bool:
        job = jobs.get(entry[1])
        return job is not None and not job.completed and job.deadline == entry[0]

    def earliest(self, jobs: dict[str, JobState]) -> datetime | None:
        """The earliest deadline of any instance (stale entries are dropped)."""
        while self.heap and not self._live(self.heap[0], jobs):
            heapq.heappop(self.heap)
        return self.heap[0][0] if self.heap else None

    def pop_due(self, now: datetime, jobs: dict[str, JobState]) -> str | None:
        """The next instance whose deadline is at or before ``now``, if any."""
        earliest = self.earliest(jobs)
        if earliest is None or earliest > now:
            return None
        return heapq.heappop(self.heap)[1]

    def first_parked(self, job_id: str, jobs: dict[str, JobState], count: int) -> list[str]:
        """Up to ``count`` instances of ``job_id`` waiting for a max-parallel
        slot, in matrix order (stale entries are dropped on the way)."""
        heap = self.parked.get(job_id)
        found: dict[str, int] = {}  # an instance parked twice has two entries
        while heap and len(found) < count:
            position, instance_id = heapq.heappop(heap)
            job = jobs.get(instance_id)
            live = job is not None and _is_parked(job)
            if live and self.position.get(instance_id) == position:
                found[instance_id] = position
        for instance_id, position in found.items():
            heapq.heappush(self.parked[job_id], (position, instance_id))
        if job_id in self.parked and not self.parked[job_id]:
            del self.parked[job_id]
        return list(found)

    def forget_ancestry(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.upstream.pop(job_id, None)


def _check_consistent(instance_id: str, job: JobState) -> None:
    """Refuse a job entry whose fields contradict each other. The engine
    writes none, but a checkpoint is a document anyone can edit; deciding on
    such an entry would crash or wait forever (a queued job without deadline)."""
    problem = _problem_of(job)
    if problem is not None:
        raise CheckpointError(f"checkpoint entry of job instance {instance_id!r}: {problem}")


def _problem_of(job: JobState) -> str | None:
    if job.attempt < 1:
        return f"attempt {job.attempt} (attempts count from 1)"
    if job.completed != (job.conclusion is not None):
        return f"phase {job.phase!r} with conclusion {job.conclusion!r}"
    if (job.phase == "waiting") != (job.waiting_on is not None):
        return f"phase {job.phase!r} waiting on {job.waiting_on!r}"
    if job.phase in ("queued", "running"):
        missing = [
            name
            for name, value in (
                ("a token (t)", job.token),
                ("a deadline (d)", job.deadline),
                ("a dispatch time (q)", job.queued_at),
            )
            if value is None
        ]
        if missing:
            return f"{job.phase} without {', '.join(missing)}"
    if job.phase == "waiting" and job.waiting_on in ("approval", "concurrency"):
        if job.deadline is None:
            return f"waiting on {job.waiting_on} without a deadline (d)"
        if job.waiting_on == "concurrency" and job.claim is None:
            return "waiting on concurrency without a claim (k)"
    if job.cancel is not None and job.phase not in ("queued", "running"):
        return f"a cancellation sent (x) to an instance that is {job.phase}"
    return None


def _check_workflow(state: WorkflowState) -> None:
    problem = None
    if (state.phase == "completed") != (state.conclusion is not None):
        problem = f"phase {state.phase!r} with conclusion {state.conclusion!r}"
    elif state.phase == "waiting" and state.claim is None:
        problem = "waiting on its concurrency group without a claim (k)"
    elif state.run_attempt < 1:
        problem = f"run attempt {state.run_attempt} (attempts count from 1)"
    else:
        counts: dict[str, int] = {}
        for job in state.jobs.values():
            for key in (job.phase, job.conclusion):
                if key is not None:
                    counts[key] = counts.get(key, 0) + 1
        if counts != state.counts:
            problem = f"counts {state.counts} do not match the job table ({counts})"
    if problem is not None:
        raise CheckpointError(f"checkpoint of the workflow: {problem}")


def _flag(job: JobState | None, predicate: Any) -> int:
    return 1 if job is not None and predicate(job) else 0


def _is_open(job: JobState) -> bool:
    return not job.completed


def _is_admitted(job: JobState) -> bool:
    return job.admitted


def _is_parked(job: JobState) -> bool:
    return job.phase == "waiting" and job.waiting_on == "max-parallel"


def _is_retrying(job: JobState) -> bool:
    return job.attempt > 1 and not job.completed

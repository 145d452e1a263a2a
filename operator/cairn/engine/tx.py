"""One ``decide()`` in progress: the working copy of the state.

A transaction copies the job table once (a shallow dict copy), applies every
change through :meth:`Tx.put` so the counts and the derived index stay exact,
collects actions, and finally freezes into the next ``WorkflowState``.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from cairn.engine.actions import Action
from cairn.engine.graph import Graph
from cairn.engine.index import Index, job_of, matrix_size
from cairn.engine.run import WorkflowRun
from cairn.engine.state import Absorbed, JobState, WorkflowState


class Tx:
    def __init__(self, run: WorkflowRun, state: WorkflowState, now: datetime) -> None:
        self.run = run
        self._origin = state
        self.graph: Graph = run.graph()
        self.now = now
        index = state._index
        # The index moves to the new state; the old state rebuilds one if it is
        # decided again. A copy of a state (model_copy) shares the reference but
        # is not the index's owner, so it builds its own.
        state._index = None
        if (
            not isinstance(index, Index)
            or index.owner is not state
            or index.graph is not self.graph
        ):
            index = Index(self.graph, state)
        self.index: Index = index
        self.jobs: dict[str, JobState] = dict(state.jobs)
        self.counts: dict[str, int] = dict(state.counts)
        self.matrices: dict[str, list[dict[str, Any]]] = state.matrices
        self.workflow: dict[str, Any] = {
            "phase": state.phase,
            "conclusion": state.conclusion,
            "reason": state.reason,
            "run_attempt": state.run_attempt,
            "cancel": state.cancel,
            "created_at": state.created_at,
            "started_at": state.started_at,
            "completed_at": state.completed_at,
            "deadline": state.deadline,
            "claim": state.claim,
            "wake": state.wake,
            "output_order": state.output_order,
        }
        self.absorbed: Absorbed = state.absorbed
        self.actions: list[Action] = []
        self.changed: set[str] = set()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        #: set when the run must stop at once (max duration): nothing new starts
        self.forced = False

    # -- time ---------------------------------------------------------------

    def after(self, minutes: float) -> datetime:
        return self.now + timedelta(minutes=minutes)

    # -- the job table --------------------------------------------------------

    def put(self, instance_id: str, new: JobState) -> None:
        old = self.jobs.get(instance_id)
        if old is new:
            return
        self.jobs[instance_id] = new
        self._count(old, -1)
        self._count(new, +1)
        self.index.track(instance_id, old, new)
        self.changed.add(instance_id)

    def remove(self, instance_id: str) -> None:
        old = self.jobs.pop(instance_id)
        self._count(old, -1)
        self.index.track(instance_id, old, None)
        self.changed.add(instance_id)

    def _count(self, job: JobState | None, delta: int) -> None:
        if job is None:
            return
        for key in (job.phase, job.conclusion):
            if key is not None:
                value = self.counts.get(key, 0) + delta
                if value:
                    self.counts[key] = value
                else:
                    self.counts.pop(key, None)

    def set_matrix(self, job_id: str, combinations: list[dict[str, Any]] | None) -> None:
        matrices = dict(self.matrices)
        if combinations is None:
            matrices.pop(job_id, None)
            self.index.matrix_bytes.pop(job_id, None)
        else:
            matrices[job_id] = combinations
            self.index.matrix_bytes[job_id] = matrix_size(combinations)
        self.matrices = matrices

    def instances_of(self, job_id: str) -> list[str]:
        return self.index.instances[job_id]

    def job_id(self, instance_id: str) -> str:
        return job_of(instance_id)

    @property
    def all_completed(self) -> bool:
        return self.counts.get("completed", 0) == len(self.jobs)

    # -- work and effects -----------------------------------------------------

    def enqueue(self, instance_id: str) -> None:
        if instance_id not in self._queued:
            self._queued.add(instance_id)
            self._queue.append(instance_id)

    def next_queued(self) -> str | None:
        if not self._queue:
            return None
        instance_id = self._queue.popleft()
        self._queued.discard(instance_id)
        return instance_id

    def emit(self, action: Action) -> None:
        self.actions.append(action)

    def absorb(self, entry: str) -> None:
        self.absorbed = self.absorbed.add(entry)

    # -- the result -----------------------------------------------------------

    def freeze(self) -> WorkflowState:
        # A shallow copy with the changed fields: O(fields), no validation
        # (every value was built from validated models by this transaction).
        update = dict(self.workflow)
        update.update(
            jobs=self.jobs,
            matrices=self.matrices,
            counts=self.counts,
            absorbed=self.absorbed,
        )
        state = self._origin.model_copy(update=update)
        state._index = self.index
        self.index.owner = state
        return state

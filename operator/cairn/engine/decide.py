"""The engine's two entry points: ``initial_state`` and ``decide``.

``decide(run, state, events, now)`` is the issue's ``decide(state, events,
now)`` with the run spec as first argument: the spec (plan, contexts, limits)
never changes during a run and is stored once (a CIWorkflow's spec), so the
state (its status) holds only what happened and stays small.

One decide handles, in order:
1. the start of the run, if it has not started;
2. every deadline at or before ``now`` (deadlines first, so how events are
   batched into decides never changes the outcome);
3. each event, with all its consequences, before the next event;
4. the wake: a ScheduleWake when the earliest deadline changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from cairn.engine import handlers, scheduler
from cairn.engine.actions import Decision, ScheduleWake
from cairn.engine.errors import InvalidEventError, InvalidTimeError
from cairn.engine.events import EVENT_TYPES, Event
from cairn.engine.index import Index
from cairn.engine.run import WorkflowRun
from cairn.engine.state import JobState, WorkflowState
from cairn.engine.tx import Tx

_PENDING = JobState()


def initial_state(run: WorkflowRun, now: datetime) -> WorkflowState:
    """The state of a run that has not started: every instance pending.
    The first ``decide()`` starts it (no side effect happens here)."""
    _check_time(now)
    graph = run.graph()
    jobs = {
        instance.id: _PENDING
        for instances in graph.instances_by_job.values()
        for instance in instances
    }
    state = WorkflowState(
        created_at=now,
        deadline=now + timedelta(minutes=run.limits.max_run_minutes),
        jobs=jobs,
        counts={"pending": len(jobs)} if jobs else {},
    )
    state._index = Index(graph, state)
    return state


def decide(
    run: WorkflowRun, state: WorkflowState, events: Iterable[Event], now: datetime
) -> Decision:
    """The next state and the actions that bring the world in line with it."""
    _check_time(now)
    events = list(events)
    for event in events:
        if not isinstance(event, EVENT_TYPES):
            raise InvalidEventError(f"not an engine event: {type(event).__name__}")
    tx = Tx(run, state, now)
    if tx.workflow["phase"] == "pending":
        scheduler.start_workflow(tx)
        scheduler.settle(tx)
    _expire(tx)
    for event in events:
        handlers.handle(tx, event)
        scheduler.settle(tx)
    _schedule_wake(tx)
    return Decision(state=tx.freeze(), actions=tuple(tx.actions), changed=frozenset(tx.changed))


def _check_time(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise InvalidTimeError(f"the engine needs a timezone-aware datetime, got {now!r}")


def _expire(tx: Tx) -> None:
    """End every wait and run whose deadline is at or before ``now``."""
    workflow = tx.workflow
    if workflow["phase"] != "completed" and workflow["deadline"] <= tx.now:
        scheduler.cancel_workflow(tx, "max_duration", force=True)
        scheduler.settle(tx)
        return
    claim = workflow["claim"]
    if (
        workflow["phase"] == "waiting"
        and claim is not None
        and claim.deadline is not None
        and claim.deadline <= tx.now
    ):
        scheduler.cancel_workflow(tx, "concurrency_timeout")
        scheduler.settle(tx)
    while (instance_id := tx.index.pop_due(tx.now, tx.jobs)) is not None:
        scheduler.expire_instance(tx, instance_id)
        scheduler.settle(tx)


def _schedule_wake(tx: Tx) -> None:
    workflow = tx.workflow
    wake: datetime | None = None
    if workflow["phase"] != "completed":
        candidates = [workflow["deadline"], tx.index.earliest(tx.jobs)]
        claim = workflow["claim"]
        if workflow["phase"] == "waiting" and claim is not None:
            candidates.append(claim.deadline)
        wake = min(c for c in candidates if c is not None)
    if wake != workflow["wake"]:
        workflow["wake"] = wake
        tx.emit(ScheduleWake(at=wake))

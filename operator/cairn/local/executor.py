"""The local adapter: the engine's ``decide()`` driven by this process.

One asyncio loop plays every part the cluster plays for the operator:

- ``StartJob`` runs the step runner in-process (an asyncio task per
  attempt), at most ``max_parallel`` at once; the rest wait in a queue, which
  the engine sees as ``queued`` (waiting for a runner) until a slot frees up
  and ``JobStarted`` is sent.
- ``CancelJob`` sets the attempt's cancel event: the runner stops the GitHub
  way (``always()`` steps still run).
- ``ScheduleWake`` arms one timer per workflow; nothing polls.
- Concurrency groups are arbitrated by an in-process registry shared by the
  run's workflows.
- The checkpoint is written once per *wake*: every event that arrived
  together is decided, every immediate consequence (concurrency verdicts,
  jobs starting in free slots) is decided too, then ``state.json`` is written
  atomically, and only then do the side effects happen. A crash before the
  write loses nothing that was done; a crash after it finds attempts
  ``running`` that the resume reports lost (``JobLost``: a new attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol

from cairn.engine.actions import (
    AcquireConcurrency,
    Action,
    CancelJob,
    CompleteWorkflow,
    ReleaseConcurrency,
    RequestApproval,
    ScheduleWake,
    SkipJob,
    StartJob,
)
from cairn.engine.concurrency import ConcurrencyRegistry, claims_of
from cairn.engine.decide import decide
from cairn.engine.events import (
    ApprovalRejected,
    CancelRequested,
    DeadlinePassed,
    Event,
    JobCompleted,
    JobStarted,
)
from cairn.engine.jobspec import Annotation, JobResult, JobSpec
from cairn.engine.run import WorkflowRun
from cairn.engine.state import JobState, WorkflowState
from cairn.local.sandbox import Sandbox
from cairn.local.store import ResultRecord, RunDir
from cairn.runner.clock import Clock
from cairn.runner.logsink import FileSink, LogRecord, LogSink, TeeSink

#: a wake whose consequences keep producing events this many times is a bug
_MAX_ROUNDS_PER_WAKE = 100_000
APPROVALS_UNSUPPORTED = (
    "environment approvals are not supported by cairn run (no reviewer can approve locally)"
)


class Reporter(Protocol):
    """What people see. Calls come from the event loop, in order."""

    def job_sink(self, key: str, spec: JobSpec) -> LogSink: ...

    def job_started(self, key: str, spec: JobSpec) -> None: ...

    def job_finished(self, key: str, instance_id: str, state: JobState) -> None: ...

    def job_skipped(self, key: str, instance_id: str, conclusion: str, reason: str) -> None: ...

    def workflow_finished(self, key: str, state: WorkflowState) -> None: ...

    def notice(self, text: str) -> None: ...


@dataclass
class _Attempt:
    key: str
    spec: JobSpec
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    sink: LogSink | None = None
    log: FileSink | None = None
    task: asyncio.Task[None] | None = None

    @property
    def ident(self) -> tuple[str, str, int]:
        # an attempt still stopping (a timed-out one) may outlive its instance's next attempt
        return (self.key, self.spec.instance_id, self.spec.attempt)


class Interrupted(Exception):
    """The run was stopped at once (a second Ctrl-C); its checkpoint is resumable."""


class LocalExecutor:
    def __init__(
        self,
        *,
        run_dir: RunDir,
        runs: Mapping[str, WorkflowRun],
        states: Mapping[str, WorkflowState],
        sandbox: Sandbox,
        reporter: Reporter,
        clock: Clock,
        max_parallel: int,
    ) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.run_dir = run_dir
        self.runs = dict(runs)
        self.states = dict(states)
        self.sandbox = sandbox
        self.reporter = reporter
        self.clock = clock
        self.max_parallel = max_parallel
        #: the result of every attempt that ended in this process
        self.results: dict[tuple[str, str, int], ResultRecord] = {}
        self.registry: ConcurrencyRegistry[str] = ConcurrencyRegistry()
        self._inbox: list[tuple[str, Event]] = []
        self._wakeup = asyncio.Event()
        self._waiting: deque[_Attempt] = deque()
        self._running: dict[tuple[str, str, int], _Attempt] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wake_at: dict[str, datetime] = {}
        self._cancelling = False
        self._stopping = False

    # -- control --------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C: the first cancels the run the GitHub way, the second stops at once."""
        if not self._cancelling:
            self._cancelling = True
            self.reporter.notice(
                "Cancelling the run: always() jobs and steps still run "
                "(press Ctrl-C again to stop at once; the run stays resumable)"
            )
            for key in self.runs:
                self._post(key, CancelRequested(reason="cancelled"))
            return
        if not self._stopping:
            self._stopping = True
            self.reporter.notice("Stopping now")
            self._wakeup.set()

    def restore_concurrency(self) -> list[tuple[str, Event]]:
        """Put the checkpoint's concurrency claims back in the (in-memory)
        registry, holders first so a waiter cannot jump ahead. Holders get a
        duplicate grant, which the engine absorbs."""
        claims = [(key, claim) for key, state in self.states.items() for claim in claims_of(state)]
        claims.sort(key=lambda item: (not item[1].holding, item[1].requested_at, item[1].key))
        events: list[tuple[str, Event]] = []
        for key, claim in claims:
            action = AcquireConcurrency(
                key=claim.key,
                group=claim.group,
                cancel_in_progress=claim.cancel_in_progress,
                requested_at=claim.requested_at,
            )
            events.extend(self.registry.acquire(key, action))
        return events

    # -- the loop -------------------------------------------------------------

    async def execute(self, events: Iterable[tuple[str, Event]] = ()) -> dict[str, WorkflowState]:
        """Run until every workflow completed and every sandbox ended.
        Raises Interrupted after a hard stop, with the checkpoint written."""
        for key, state in self.states.items():
            # a resumed run's pending wake: the engine announces only changes
            if state.wake is not None and state.phase != "completed":
                self._arm(key, state.wake)
        try:
            self._wake(list(events), everyone=True)
            while not self._finished():
                await self._wakeup.wait()
                self._wakeup.clear()
                if self._stopping:
                    break
                batch, self._inbox = self._inbox, []
                if batch:
                    self._wake(batch)
            if self._stopping:
                await self._stop_now()
                raise Interrupted
            return self.states
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()

    def _finished(self) -> bool:
        return (
            not self._inbox
            and not self._running
            and not self._waiting
            and all(state.phase == "completed" for state in self.states.values())
        )

    def _post(self, key: str, event: Event) -> None:
        self._inbox.append((key, event))
        self._wakeup.set()

    def _wake(self, events: list[tuple[str, Event]], *, everyone: bool = False) -> None:
        now = self.clock.now()
        pending: dict[str, list[Event]] = defaultdict(list)
        for key, event in events:
            pending[key].append(event)
        launch: list[_Attempt] = []
        effects: list[Callable[[], None]] = []
        keys: Iterable[str] = self.runs if everyone else list(pending)
        for _ in range(_MAX_ROUNDS_PER_WAKE):
            batch, pending = pending, defaultdict(list)
            for key in keys:
                self._decide(key, batch.get(key, []), now, pending, launch, effects)
            while self._waiting and len(self._running) + len(launch) < self.max_parallel:
                attempt = self._waiting.popleft()
                launch.append(attempt)
                spec = attempt.spec
                pending[attempt.key].append(
                    JobStarted(
                        instance_id=spec.instance_id,
                        attempt=spec.attempt,
                        token=spec.callback_token,
                    )
                )
            if not pending:
                break
            keys = list(pending)
        else:
            raise RuntimeError("the engine's consequences did not settle within one wake")
        # written in the loop's own thread: nothing may start before it is on
        # disk anyway, and a worker thread would only add a wake-up per write
        self.run_dir.write_states(self.states)
        for effect in effects:
            effect()
        for attempt in launch:
            self._launch(attempt)

    def _decide(
        self,
        key: str,
        events: list[Event],
        now: datetime,
        pending: dict[str, list[Event]],
        launch: list[_Attempt],
        effects: list[Callable[[], None]],
    ) -> None:
        before = self.states[key]
        decision = decide(self.runs[key], before, events, now)
        after = self.states[key] = decision.state
        for instance_id in decision.changed:
            old, new = before.jobs.get(instance_id), after.jobs.get(instance_id)
            if (
                new is not None
                and new.completed
                and new.dispatched
                and (old is None or not old.completed)
            ):
                effects.append(partial(self.reporter.job_finished, key, instance_id, new))
        for action in decision.actions:
            self._apply(key, action, pending, launch, effects)

    def _apply(
        self,
        key: str,
        action: Action,
        pending: dict[str, list[Event]],
        launch: list[_Attempt],
        effects: list[Callable[[], None]],
    ) -> None:
        if isinstance(action, StartJob):
            self._waiting.append(_Attempt(key, action.spec))
        elif isinstance(action, CancelJob):
            self._cancel(key, action, pending, launch, effects)
        elif isinstance(action, SkipJob):
            skipped = (action.instance_id, action.conclusion, action.reason)
            effects.append(partial(self.reporter.job_skipped, key, *skipped))
        elif isinstance(action, AcquireConcurrency | ReleaseConcurrency):
            for owner, event in self.registry.apply(key, [action]):
                pending[owner].append(event)
        elif isinstance(action, RequestApproval):
            pending[key].append(
                ApprovalRejected(instance_id=action.instance_id, reason=APPROVALS_UNSUPPORTED)
            )
        elif isinstance(action, CompleteWorkflow):
            effects.append(partial(self._workflow_finished, key))
        elif isinstance(action, ScheduleWake):
            effects.append(partial(self._arm, key, action.at))

    def _cancel(
        self,
        key: str,
        action: CancelJob,
        pending: dict[str, list[Event]],
        launch: list[_Attempt],
        effects: list[Callable[[], None]],
    ) -> None:
        def matches(attempt: _Attempt) -> bool:
            spec = attempt.spec
            return (
                attempt.key == key
                and spec.instance_id == action.instance_id
                and spec.attempt == action.attempt
            )

        for queue in (self._waiting, launch):
            for attempt in list(queue):
                if matches(attempt):
                    # it never ran: it ends here, with nothing to stop
                    queue.remove(attempt)
                    result = JobResult(
                        instance_id=action.instance_id,
                        attempt=action.attempt,
                        conclusion="cancelled",
                        reason=action.reason,
                    )
                    pending[key].append(JobCompleted(token=action.token, result=result))
                    return
        running = self._running.get((key, action.instance_id, action.attempt))
        if running is not None:
            effects.append(partial(self._signal, running, action.reason))

    def _workflow_finished(self, key: str) -> None:
        self.reporter.workflow_finished(key, self.states[key])

    def _signal(self, attempt: _Attempt, reason: str) -> None:
        if attempt.cancel.is_set():
            return
        if reason == "timed_out" and attempt.sink is not None:
            minutes = attempt.spec.timeout_minutes
            message = (
                f"The job has exceeded the maximum execution time of {minutes:g} minutes "
                f"(timeout-minutes)."
            )
            attempt.sink.write(
                LogRecord(
                    time=self.clock.now(),
                    kind="error",
                    text=message,
                    annotation=Annotation(level="error", message=message),
                )
            )
        attempt.cancel.set()

    # -- side effects ---------------------------------------------------------

    def _launch(self, attempt: _Attempt) -> None:
        attempt.log = self.sandbox.open_log(attempt.key, attempt.spec)
        shown = self.reporter.job_sink(attempt.key, attempt.spec)
        attempt.sink = TeeSink(attempt.log, shown)
        self._running[attempt.ident] = attempt
        self.reporter.job_started(attempt.key, attempt.spec)
        attempt.task = asyncio.get_running_loop().create_task(self._run(attempt))

    async def _run(self, attempt: _Attempt) -> None:
        spec = attempt.spec
        assert attempt.sink is not None
        try:
            record = await self.sandbox.run(
                attempt.key, spec, cancel=attempt.cancel, log=attempt.sink
            )
            result = record.result
            self.results[(attempt.key, spec.instance_id, spec.attempt)] = record
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # the sandbox could not even record a result (a full disk...):
            # the engine must still hear that the attempt ended
            result = JobResult(
                instance_id=spec.instance_id,
                attempt=spec.attempt,
                conclusion="failure",
                reason=f"the local executor failed: {type(exc).__name__}: {exc}",
            )
        finally:
            if attempt.log is not None:
                attempt.log.close()
            self._running.pop(attempt.ident, None)
        self._post(attempt.key, JobCompleted(token=spec.callback_token, result=result))

    def _arm(self, key: str, at: datetime | None) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()
        if at is None:
            self._wake_at.pop(key, None)
            return
        self._wake_at[key] = at
        delay = max((at - self.clock.now()).total_seconds(), 0.0)
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._alarm, key)

    def _alarm(self, key: str) -> None:
        self._timers.pop(key, None)
        at = self._wake_at.get(key)
        if at is not None and self.clock.now() < at:
            # the loop's monotonic clock ran ahead of the wall clock: wait out the rest
            self._arm(key, at)
            return
        self._post(key, DeadlinePassed())

    async def _stop_now(self) -> None:
        """End every sandbox at once (their process groups are killed) and
        leave the checkpoint as it is: those attempts are lost, and a resume
        starts them again."""
        self._waiting.clear()
        tasks = [a.task for a in self._running.values() if a.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

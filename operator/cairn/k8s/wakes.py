"""Waking one object's reconcile: never twice at once, never by polling.

A :class:`Waker` runs its object's wake function whenever something asks
(``wake()``: a watch event, an annotation, a verdict) and coalesces requests
that arrive while a wake runs into exactly one more run afterwards. Timers are
the only other source of wakes, and there are few of them:

- the object's one scheduled deadline (``schedule_at``, replaced at every
  wake: the engine's earliest deadline, rebuilt from the checkpoint on resume);
- short deliberate delays (``wake(delay=...)``): a backoff after a failed
  wake, or a pause that lets related news arrive together.

A timer may be gated (``gate``): in a replica that Kopf's peering paused,
watch events stop but timers would still fire, so a gated timer first asks
whether this replica may act, and while it may not, asks again every
``gate_recheck_seconds`` instead of waking.

Nothing here reads the API or the clock besides the injected one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from cairn.k8s.arbiter import WorkflowKey

log = logging.getLogger(__name__)

#: a wake function returns None when done, or a delay (seconds) after which to try again
WakeFunction = Callable[[], Awaitable[float | None]]
#: may a timer wake the object now? (see the module docstring)
TimerGate = Callable[[], Awaitable[bool]]


class Waker:
    def __init__(
        self,
        run: WakeFunction,
        clock: Callable[[], datetime],
        name: str,
        *,
        gate: TimerGate | None = None,
        gate_recheck_seconds: float = 5.0,
    ) -> None:
        self._run = run
        self._clock = clock
        self.name = name
        self._gate = gate
        self._gate_recheck = gate_recheck_seconds
        self._gating: asyncio.Task[None] | None = None
        self._pending = False
        self._task: asyncio.Task[None] | None = None
        self._delayed: asyncio.TimerHandle | None = None
        self._delayed_at = 0.0
        self._deadline: asyncio.TimerHandle | None = None
        self.deadline: datetime | None = None
        self._stopped = False
        #: a wake runs in a caller's task (``wake_here``)
        self._borrowed = False
        #: how many times the wake function ran (tests and benchmarks)
        self.runs = 0

    @property
    def busy(self) -> bool:
        return self._borrowed or (self._task is not None and not self._task.done())

    async def wake_here(self) -> None:
        """Like ``wake()``, but when no wake runs, run it in the calling task at
        once instead of queueing a new task behind whatever else is ready: the
        latency-critical path (a job finished, its dependents start) then does
        not wait for unrelated work of the event loop."""
        if self._stopped:
            return
        if self.busy:
            self.wake()
            return
        self._pending = True
        self._borrowed = True
        try:
            await self._drive()
        finally:
            self._borrowed = False

    def wake(self, delay: float = 0.0) -> None:
        """Run the wake function now (or after ``delay`` seconds, unless an
        earlier wake is already due)."""
        if self._stopped:
            return
        if delay > 0:
            loop = asyncio.get_running_loop()
            due = loop.time() + delay
            if self._delayed is not None and self._delayed_at <= due:
                return
            if self._delayed is not None:
                self._delayed.cancel()
            self._delayed_at = due
            self._delayed = loop.call_at(due, self._on_delay)
            return
        self._pending = True
        if not self.busy:
            self._task = asyncio.get_running_loop().create_task(self._drive(), name=self.name)

    def _on_delay(self) -> None:
        self._delayed = None
        self._timer_wake()

    def _timer_wake(self) -> None:
        if self._gate is None:
            self.wake()
        elif self._gating is None or self._gating.done():
            self._gating = asyncio.get_running_loop().create_task(self._gated_wake())

    async def _gated_wake(self) -> None:
        try:
            allowed = await self._gate()  # type: ignore[misc]
        except Exception:
            log.exception("wake %s: the timer gate failed; waking anyway", self.name)
            allowed = True
        if allowed:
            self.wake()
        else:
            self.wake(delay=self._gate_recheck)

    def schedule_at(self, moment: datetime | None) -> None:
        """The one scheduled wake: at ``moment`` (None: none). Replaces the previous one."""
        if moment == self.deadline and (moment is None or self._deadline is not None):
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.deadline = moment
        if moment is None or self._stopped:
            return
        seconds = max((moment - self._clock()).total_seconds(), 0.0)
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline = None
        self.deadline = None
        self._timer_wake()

    async def _drive(self) -> None:
        while self._pending and not self._stopped:
            self._pending = False
            self.runs += 1
            try:
                retry_in = await self._run()
            except Exception:
                # A bug in a wake must not kill the object's future wakes.
                log.exception("wake %s failed unexpectedly", self.name)
                retry_in = 5.0
            if retry_in is not None:
                self.wake(delay=retry_in)

    def stop(self) -> None:
        """No more wakes (the object is gone). A running wake finishes."""
        self._stopped = True
        for handle in (self._delayed, self._deadline):
            if handle is not None:
                handle.cancel()
        self._delayed = self._deadline = None
        if self._gating is not None:
            self._gating.cancel()

    async def join(self) -> None:
        """Wait until no wake runs (tests)."""
        while self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)

    async def halt(self) -> None:
        """Stop, cancelling a running wake: the operator is shutting down, and a
        wake cut short is one a crash could have cut (the next start replays it)."""
        self.stop()
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


#: A test's hook at the named points of a wake (``before-effects``,
#: ``after-job-create``, ``before-checkpoint``, ...): it may hang there, which is
#: how the integration tests kill the operator mid-wake. Production passes ``no_crash``.
CrashHook = Callable[[WorkflowKey, str], Awaitable[None]]


async def no_crash(key: WorkflowKey, point: str) -> None:
    del key, point

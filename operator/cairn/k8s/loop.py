"""The CIWorkflow wake: read the checkpoint, collect events, decide, act, checkpoint.

One :class:`WorkflowLoop` serves every CIWorkflow of the operator. Each object
has a :class:`WorkflowSlot` with a :class:`~cairn.k8s.wakes.Waker`, so wakes of
one object never overlap (a single writer per status) while different objects
proceed concurrently. A wake:

1. **reads** the object: the newest version this process has seen, which is
   the response of its own last write or a newer watch event; after a 409, a
   timer, or a restart it is a fresh GET. Every write is guarded by the
   ``resourceVersion`` it was based on, so a stale read can never be written
   back: it fails with 409 and the wake starts over from a fresh GET;
2. **collects events**: reports about the sandboxes of running attempts (a
   pod's termination message, a Job that finished or vanished), callback
   annotations, cancel/retry/re-run/approve annotations, deadlines passed,
   concurrency verdicts; on its first wake in a process it also lists the
   workflow's Jobs and Pods, so whatever happened while no operator watched
   is seen;
3. **decides** with the pure engine, possibly a few times: pod starts at the
   moment they happened, then everything else at ``now``, then whatever the
   actions made relevant (a result that raced its own dispatch, a sandbox the
   cluster refused);
4. **acts**: creates the Jobs of started attempts and deletes the Jobs of
   cancelled ones, idempotently (deterministic names; AlreadyExists and
   NotFound mean done);
5. **checkpoints** with ONE status patch carrying every transition of the
   wake: the engine state as a merge patch of what changed, the printer
   columns, conditions and the job table;
6. then removes the annotations it consumed (each guarded by its value),
   re-arms the object's one timer at the engine's earliest deadline, and
   posts aggregated Events.

A crash anywhere replays the wake: its inputs are still there (annotations
are removed only after the checkpoint, sandbox state is re-read), the engine
makes the same decisions, and the actions find their work done. Command
annotations whose effect is not idempotent (retry, re-run) are recorded in
``status.consumedRequests`` in the checkpoint that applies them, so a replay
after a crash between the checkpoint and their removal does not apply them
twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from cairn.engine import (
    ApprovalGranted,
    ApprovalRejected,
    CancelJob,
    CancelRequested,
    CheckpointError,
    CompleteWorkflow,
    DeadlinePassed,
    Decision,
    EngineError,
    Event,
    JobCompleted,
    JobLost,
    JobResult,
    JobStarted,
    RequestApproval,
    RerunRequested,
    RetryRequested,
    StartJob,
    WorkflowRun,
    WorkflowState,
    callback_token,
    decide,
    initial_state,
)
from cairn.engine.index import job_of
from cairn.engine.state import JobState
from cairn.k8s import names, resources, tokens
from cairn.k8s.arbiter import ConcurrencyArbiter, WorkflowKey
from cairn.k8s.callbacks import ProgressReport
from cairn.k8s.cluster import Cluster, Conflict, KubeApiError, NotFound, is_transient, json_pointer
from cairn.k8s.launcher import Launcher, SandboxRefused
from cairn.k8s.observations import (
    Callback,
    Requests,
    SandboxReport,
    has_requests,
    read_requests,
    report_from_job,
    report_from_pod,
    sandbox_identity,
)
from cairn.k8s.recorder import EventRecorder, ObjectRef
from cairn.k8s.resources import CIWORKFLOW_PLURAL, CIWorkflowSpec
from cairn.k8s.sandbox import WorkflowIdentity
from cairn.k8s.status import (
    TERMINAL_PHASES,
    error_status,
    merge_diff,
    state_patch,
    workflow_status,
)
from cairn.k8s.wakes import CrashHook, TimerGate, Waker, no_crash

log = logging.getLogger(__name__)

#: the status fields a wake writes (besides ``state``); Kopf's ``status.kopf`` is not ours
OWN_STATUS_FIELDS = (
    "phase",
    "conditions",
    "counts",
    "progress",
    "message",
    "jobs",
    "startedAt",
    "completedAt",
    "duration",
    "observedGeneration",
    "consumedRequests",
)

#: command annotations that must not apply twice (see the module docstring)
_RECORDED_COMMANDS = (resources.ANNOTATION_RETRY, resources.ANNOTATION_RERUN_FAILED)


@dataclass(frozen=True)
class LoopTuning:
    """Timing of the loop (seconds). Defaults suit a cluster; tests shorten them."""

    #: a pod that started waits this long for more news before its own checkpoint
    #: (a short job then costs one status write instead of two)
    start_coalesce_seconds: float = 1.0
    #: a Job that ended without a result waits this long for its pod's report
    result_grace_seconds: float = 2.0
    #: backoff after a failed wake: first, then doubling up to the maximum
    retry_first_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    #: 409s in a row before a wake backs off
    max_conflicts: int = 8
    #: decides one wake may chain (follow-up events of its own actions)
    max_decides: int = 64


@dataclass
class WorkflowSlot:
    """What the loop keeps about one CIWorkflow between wakes."""

    key: WorkflowKey
    waker: Waker
    #: the newest version of the object this process knows, None: GET it
    body: dict[str, Any] | None = None
    #: the run spec, parsed once per (uid, generation)
    run: WorkflowRun | None = None
    run_of: tuple[str, int] | None = None
    #: the checkpoint of ``body`` (None: parse it) and its JSON as stored
    state: WorkflowState | None = None
    state_dict: dict[str, Any] | None = None
    #: the strongest report per attempt, and start reports, from watch events
    reports: dict[tuple[str, int], SandboxReport] = field(default_factory=dict)
    starts: dict[tuple[str, int], SandboxReport] = field(default_factory=dict)
    #: attempt -> loop time a "finished without result" was first seen
    finished_seen: dict[tuple[str, int], float] = field(default_factory=dict)
    #: concurrency verdicts waiting for the next wake
    verdicts: list[Event] = field(default_factory=list)
    #: the Jobs and Pods were listed once in this process (resume)
    reconciled: bool = False
    #: Jobs found by that listing: (instance, attempt) -> (name, finished)
    listed_jobs: dict[tuple[str, int], tuple[str, bool]] | None = None
    failures: int = 0
    #: a consumed-requests record waits to be cleared (its annotations are gone)
    clear_consumed: bool = False


class SpecError(Exception):
    """The CIWorkflow's spec cannot be run (not an engine run spec)."""


@dataclass
class Wake:
    """One wake's working set."""

    run: WorkflowRun
    state: WorkflowState
    started_fresh: bool
    changed: set[str] = field(default_factory=set)
    actions: list[Any] = field(default_factory=list)
    #: annotations applied in this wake (removed after the checkpoint): key -> value
    consumed: dict[str, str] = field(default_factory=dict)
    #: transitions for the Event recorder: (reason, message, warning, weight)
    notes: list[tuple[str, str, bool, int]] = field(default_factory=list)
    #: attempts whose whole result is in a callback annotation of this wake
    by_callback: set[tuple[str, int]] = field(default_factory=set)


def _rv(body: Mapping[str, Any] | None) -> int:
    try:
        return int((body or {}).get("metadata", {}).get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


class WorkflowLoop:
    def __init__(
        self,
        cluster: Cluster,
        launcher: Launcher,
        recorder: EventRecorder,
        *,
        clock: Callable[[], datetime],
        tuning: LoopTuning | None = None,
        crash: CrashHook = no_crash,
        gate: TimerGate | None = None,
    ) -> None:
        self.gate = gate
        self.cluster = cluster
        self.launcher = launcher
        self.recorder = recorder
        self.clock = clock
        self.tuning = tuning or LoopTuning()
        self.crash = crash
        self.arbiter = ConcurrencyArbiter(cluster, self.deliver)
        self.slots: dict[WorkflowKey, WorkflowSlot] = {}
        #: finished workflows, so their sandboxes' late events cost nothing
        self.finished: set[WorkflowKey] = set()

    # --- inputs ---------------------------------------------------------------------------

    def slot(self, key: WorkflowKey) -> WorkflowSlot:
        slot = self.slots.get(key)
        if slot is None:
            self.finished.discard(key)
            waker = Waker(lambda: self._wake(key), self.clock, f"ciworkflow {key}", gate=self.gate)
            slot = self.slots[key] = WorkflowSlot(key=key, waker=waker)
        return slot

    def on_workflow_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event of a CIWorkflow (None: the initial listing)."""
        meta = body.get("metadata") or {}
        key = WorkflowKey(str(meta.get("namespace")), str(meta.get("name")))
        if event_type == "DELETED":
            self.forget(key)
            return
        status = body.get("status") or {}
        requests = has_requests(meta.get("annotations"))
        slot = self.slots.get(key)
        if event_type is None and (slot is None or _rv(body) > _rv(slot.body)):
            # A relisting (Kopf's watch restarted, or this replica resumes after a
            # peering pause) shows a change we never saw: someone else wrote.
            self.arbiter.invalidate(key.namespace)
            if slot is not None:
                slot.reconciled = False  # list its Jobs again before trusting our notes
        if slot is None:
            if status.get("phase") in TERMINAL_PHASES and not requests:
                self.finished.add(key)
                return
            # First sight in this process: read it fresh, and list its sandboxes.
            self.slot(key).waker.wake()
            return
        if slot.body is not None and _rv(body) <= _rv(slot.body):
            return  # our own write coming back, or older news
        if slot.body is not None:
            slot.body = _cached(slot, body)
            if status.get("state") != slot.state_dict:
                slot.state = slot.state_dict = None
        if requests or not status.get("state") or slot.clear_consumed:
            slot.waker.wake()

    async def on_sandbox_report(self, namespace: str, report: SandboxReport) -> None:
        """A Job or Pod of one of our attempts changed. A result is acted on in the
        caller's task (see ``Waker.wake_here``): it is what dependents wait for."""
        slot = self._take_report(namespace, report)
        if slot is not None:
            await slot.waker.wake_here()

    def _take_report(self, namespace: str, report: SandboxReport) -> WorkflowSlot | None:
        """Keep a report; the slot to wake now, if any."""
        key = WorkflowKey(namespace, report.workflow)
        if key in self.finished:
            return None
        slot = self.slots.get(key)
        if slot is not None and slot.state is not None:
            job = slot.state.jobs.get(report.instance_id)
            if job is not None and _is_past(job, report.attempt):
                return None
            if (
                report.kind == "started"
                and job is not None
                and job.attempt == report.attempt
                and job.phase in ("running", "completed")
            ):
                return None  # already known to run (a dispatch not yet in our state counts)
        slot = self.slot(key)
        if report.kind == "started":
            if report.attempt_key not in slot.starts:
                slot.starts[report.attempt_key] = report
                slot.waker.wake(delay=self.tuning.start_coalesce_seconds)
            return None
        if report.stronger_than(slot.reports.get(report.attempt_key)):
            slot.reports[report.attempt_key] = report
            return slot
        return None

    def resync(self) -> None:
        """What this process remembers may be stale (another replica worked while this
        one was paused): read every workflow again and list its Jobs at its next wake,
        and read the concurrency groups again."""
        for slot in self.slots.values():
            slot.body = None
            slot.reconciled = False
            slot.listed_jobs = None
        for namespace in {key.namespace for key in self.slots}:
            self.arbiter.invalidate(namespace)

    def deliver(self, key: WorkflowKey, event: Event) -> None:
        """A concurrency verdict for a workflow (from the arbiter)."""
        slot = self.slot(key)
        slot.verdicts.append(event)
        slot.waker.wake()

    def forget(self, key: WorkflowKey) -> None:
        slot = self.slots.pop(key, None)
        if slot is not None:
            slot.waker.stop()
        self.finished.discard(key)
        self.arbiter.forget(key)

    async def close(self) -> None:
        for slot in list(self.slots.values()):
            await slot.waker.halt()
        await self.arbiter.close()

    # --- the wake -------------------------------------------------------------------------

    async def _wake(self, key: WorkflowKey) -> float | None:
        slot = self.slots.get(key)
        if slot is None:
            return None
        conflicts = 0
        while True:
            try:
                await self._wake_once(slot)
            except Conflict:
                # Someone wrote the object since we read it: read again, decide again.
                slot.body = None
                conflicts += 1
                if conflicts <= self.tuning.max_conflicts:
                    continue
                return self._backoff(slot, "kept conflicting with other writers")
            except KubeApiError as error:
                slot.body = None
                return self._backoff(slot, str(error), transient=is_transient(error))
            slot.failures = 0
            return None

    def _backoff(self, slot: WorkflowSlot, why: str, *, transient: bool = True) -> float:
        slot.failures += 1
        delay = min(
            self.tuning.retry_first_seconds * 2 ** (slot.failures - 1),
            self.tuning.retry_max_seconds,
        )
        level = logging.INFO if transient else logging.WARNING
        log.log(level, "ciworkflow %s: wake failed (%s); again in %.1fs", slot.key, why, delay)
        return delay

    async def _read(self, slot: WorkflowSlot) -> dict[str, Any] | None:
        if slot.body is None:
            slot.body = await self.cluster.find(CIWORKFLOW_PLURAL, *_where(slot.key))
            slot.state = slot.state_dict = None
        return slot.body

    async def _wake_once(self, slot: WorkflowSlot) -> None:
        # A wake restarts at most once, on a fresh read, to find the callback of a
        # result that did not fit in its termination message (see _awaits_callback).
        for reread in (False, True):
            if not await self._wake_pass(slot, reread=reread):
                return
            slot.body = None

    async def _wake_pass(self, slot: WorkflowSlot, *, reread: bool) -> bool:
        """One pass of a wake; True: read the object again and start over."""
        body = await self._read(slot)
        if body is None:
            self.forget(slot.key)
            return False
        if body["metadata"].get("deletionTimestamp"):
            slot.waker.schedule_at(None)
            return False
        now = self.clock()
        try:
            run = self._run_of(slot, body)
            state, fresh = self._state_of(slot, body, run, now)
        except (SpecError, CheckpointError) as error:
            await self._write_error(slot, body, error, now)
            return False
        slot.body = body = _cached(slot, body)
        if not slot.reconciled:
            if fresh:
                # Nothing ran yet: Jobs a crashed first wake made are found again by
                # name when this wake starts the same attempts (AlreadyExists).
                slot.reconciled = True
            else:
                await self._reconcile_sandboxes(slot, state)
        wake = Wake(run=run, state=state, started_fresh=fresh)
        requests = read_requests(
            body["metadata"].get("annotations"), tokens.callback_key(*_where(slot.key))
        )
        if not reread and _awaits_callback(slot, run, state, requests):
            return True
        consumed_before = dict((body.get("status") or {}).get("consumedRequests") or {})
        events, removals = self._collect(slot, wake, requests, consumed_before, now)
        verdicts, slot.verdicts = slot.verdicts, []
        events += verdicts
        if fresh or events:
            await self._decide_and_act(slot, body, wake, events, now)
        await self._checkpoint(slot, body, wake, consumed_before, now)
        await self._remove_annotations(slot, removals)
        if slot.listed_jobs is not None:
            await self._delete_orphans(slot, wake.state)
        self._after(slot, wake)
        return False

    # --- reading the object ---------------------------------------------------------------

    def _run_of(self, slot: WorkflowSlot, body: Mapping[str, Any]) -> WorkflowRun:
        meta = body["metadata"]
        identity = (str(meta.get("uid")), int(meta.get("generation") or 0))
        if slot.run is None or slot.run_of != identity:
            try:
                spec = CIWorkflowSpec.model_validate(body.get("spec") or {})
            except ValidationError as error:
                problem = error.errors()[0]
                where = ".".join(str(p) for p in problem["loc"])
                raise SpecError(f"spec.{where}: {problem['msg']}") from None
            try:
                spec.workflow_run.graph()
            except EngineError as error:
                raise SpecError(str(error)) from None
            slot.run, slot.run_of = spec.workflow_run, identity
        return slot.run

    def _state_of(
        self, slot: WorkflowSlot, body: Mapping[str, Any], run: WorkflowRun, now: datetime
    ) -> tuple[WorkflowState, bool]:
        """The checkpoint, and whether it is a new one (the workflow has not started)."""
        raw = (body.get("status") or {}).get("state")
        if slot.state is not None and raw == slot.state_dict:
            return slot.state, False
        if not raw:
            slot.state_dict = None
            return initial_state(run, now), True
        state = WorkflowState.from_dict(raw)
        unknown = {i for i in state.jobs if job_of(i) not in run.plan.workflow.jobs}
        if unknown:
            raise CheckpointError(
                f"the checkpoint has job instances the plan does not: {sorted(unknown)[:5]}"
            )
        slot.state, slot.state_dict = state, raw
        return state, False

    async def _reconcile_sandboxes(self, slot: WorkflowSlot, state: WorkflowState) -> None:
        """First wake in this process: what happened to our sandboxes meanwhile."""
        namespace, name = _where(slot.key)
        selector = f"{resources.LABEL_WORKFLOW}={names.label_value(name)}"
        jobs = await self.cluster.list("jobs", namespace, label_selector=selector)
        pods = await self.cluster.list("pods", namespace, label_selector=selector)
        listed: dict[tuple[str, int], tuple[str, bool]] = {}
        for job in jobs:
            report = report_from_job(job)
            who = _attempt_of(job)
            if who is None:
                continue
            deleting = bool(job["metadata"].get("deletionTimestamp"))
            listed[who] = (job["metadata"]["name"], report is not None or deleting)
            if report is not None:
                self._remember(slot, report)
        for pod in pods:
            report = report_from_pod(pod)
            if report is not None:
                self._remember(slot, report)
        for instance_id, job_state in state.jobs.items():
            attempt_key = (instance_id, job_state.attempt)
            if _is_live(job_state) and attempt_key not in listed:
                detail = (
                    f"the Job of {instance_id} attempt {job_state.attempt} is gone: it was "
                    "deleted while the operator was not watching"
                )
                gone = SandboxReport(name, instance_id, job_state.attempt, "gone", detail=detail)
                self._remember(slot, gone)
        slot.listed_jobs = listed
        slot.reconciled = True

    def _remember(self, slot: WorkflowSlot, report: SandboxReport) -> None:
        if report.kind == "started":
            slot.starts.setdefault(report.attempt_key, report)
        elif report.stronger_than(slot.reports.get(report.attempt_key)):
            slot.reports[report.attempt_key] = report

    # --- collecting events ----------------------------------------------------------------

    def _collect(
        self,
        slot: WorkflowSlot,
        wake: Wake,
        requests: Requests,
        consumed_before: Mapping[str, str],
        now: datetime,
    ) -> tuple[list[Event], dict[str, str]]:
        """The wake's events, and the annotations to remove after the checkpoint."""
        state = wake.state
        events: list[Event] = []
        removals: dict[str, str] = {}
        self._prune_reports(slot, state)
        wake.by_callback = _completed_by_callback(wake.run, requests)
        events += self._report_events(slot, wake, now)
        for callback in requests.callbacks:
            keep, event = self._callback_event(wake, callback)
            if keep:
                continue  # for an attempt not dispatched yet in this checkpoint
            removals[callback.annotation] = callback.value
            if event is not None:
                events.append(event)
        for annotation, value, why in requests.rejected:
            removals[annotation] = value
            wake.notes.append(("CallbackRejected", f"removed {annotation}: {why}", True, 30))
        events += command_events(wake, requests.commands, consumed_before, removals)
        if state.wake is not None and state.wake <= now:
            events.append(DeadlinePassed())
        return events, removals

    def _callback_event(self, wake: Wake, callback: Callback) -> tuple[bool, Event | None]:
        """``(keep for later, event)`` of a callback annotation."""
        payload = callback.payload
        job = wake.state.jobs.get(payload.instance_id)
        token = callback_token(wake.run.token_seed, payload.instance_id, payload.attempt)
        genuine = job is not None and token == callback.token
        current = job is not None and _is_live(job) and job.attempt == payload.attempt
        if genuine and job is not None and not current and _may_come(wake.state, job, payload):
            return True, None
        if not current:
            wake.notes.append(
                (
                    "CallbackIgnored",
                    f"ignored a callback for {payload.instance_id} attempt {payload.attempt}: "
                    "its token does not name a running attempt",
                    True,
                    30,
                )
            )
        if isinstance(payload, ProgressReport):
            if current and genuine and job is not None and job.phase == "queued":
                started = JobStarted(
                    instance_id=payload.instance_id, attempt=payload.attempt, token=callback.token
                )
                return False, started
            return False, None
        # Even a stale one goes to the engine, which records it among absorbed events.
        return False, JobCompleted(token=callback.token, result=payload)

    def _prune_reports(self, slot: WorkflowSlot, state: WorkflowState) -> None:
        """Drop reports about attempts that are over; keep ones that may be ahead."""
        for store in (slot.reports, slot.starts):
            for attempt_key in list(store):
                job = state.jobs.get(attempt_key[0])
                if job is not None and _is_past(job, attempt_key[1]):
                    del store[attempt_key]
        for attempt_key in list(slot.finished_seen):
            if attempt_key not in slot.reports:
                del slot.finished_seen[attempt_key]

    def _report_events(self, slot: WorkflowSlot, wake: Wake, now: datetime) -> list[Event]:
        state = wake.state
        events: list[Event] = []
        for instance_id, attempt in list(slot.starts):
            job = state.jobs.get(instance_id)
            if job is not None and job.phase == "queued" and job.attempt == attempt:
                assert job.token is not None
                events.append(JobStarted(instance_id=instance_id, attempt=attempt, token=job.token))
        for attempt_key, report in list(slot.reports.items()):
            instance_id, attempt = attempt_key
            job = state.jobs.get(instance_id)
            if job is None or not _is_live(job) or job.attempt != attempt:
                continue
            assert job.token is not None
            if _cut_down(report) and attempt_key in wake.by_callback:
                continue  # the callback annotation carries the whole result
            event = self._report_event(slot, job, report, now)
            if event is not None:
                events.append(event)
        return events

    def _report_event(
        self, slot: WorkflowSlot, job: JobState, report: SandboxReport, now: datetime
    ) -> Event | None:
        assert job.token is not None
        if report.kind == "result" and report.result is not None:
            if report.result.truncated:
                # No callback came (none configured, refused, or too large for the
                # receiver): the cut-down form is all there is.
                why = f" ({report.result.reason})" if report.result.reason else ""
                self.recorder_note(
                    slot,
                    "ResultTruncated",
                    f"{report.instance_id}{why}: the result did not fit in the termination "
                    "message and no callback brought the whole of it; step details and "
                    "some outputs are missing",
                    warning=True,
                )
            return JobCompleted(token=job.token, result=report.result)
        if report.kind == "gone":
            if job.cancel is not None:
                return JobLost(
                    instance_id=report.instance_id,
                    attempt=report.attempt,
                    token=job.token,
                    reason=job.cancel,
                )
            return _failed(job, report, f"job_deleted: {report.detail}")
        # finished without a result: give the pod's report a moment to arrive
        loop_now = asyncio.get_running_loop().time()
        first = slot.finished_seen.setdefault(report.attempt_key, loop_now)
        waited = loop_now - first
        if waited < self.tuning.result_grace_seconds:
            slot.waker.wake(delay=self.tuning.result_grace_seconds - waited + 0.01)
            return None
        reason = "timed_out" if report.deadline_exceeded else f"sandbox_failed: {report.detail}"
        return _failed(job, report, reason)

    def recorder_note(
        self, slot: WorkflowSlot, reason: str, message: str, *, warning: bool = False
    ) -> None:
        if slot.body is not None:
            self.recorder.record(
                ObjectRef.of(slot.body), reason, message, warning=warning, weight=30
            )

    # --- deciding and acting --------------------------------------------------------------

    async def _decide_and_act(
        self,
        slot: WorkflowSlot,
        body: Mapping[str, Any],
        wake: Wake,
        events: list[Event],
        now: datetime,
    ) -> None:
        starts = [e for e in events if isinstance(e, JobStarted)]
        others: list[Event] = [e for e in events if not isinstance(e, JobStarted)]
        # Starts first, each at the moment its pod started (never before its dispatch).
        timed = sorted(
            ((self._start_time(slot, wake.state, e, now), e) for e in starts),
            key=lambda pair: (pair[0], pair[1].instance_id),
        )
        pending: list[Event] = others
        if wake.state.wake is None or wake.state.wake > now:
            # No deadline falls due before now, so deciding the starts with the rest
            # (each carrying its own moment) ends where deciding them one by one would,
            # in one decide: this is the latency-critical path of a short job.
            pending = [event.model_copy(update={"at": moment}) for moment, event in timed]
            pending += others
        else:
            for moment, event in timed:
                self._apply_decision(wake, decide(wake.run, wake.state, [event], moment))
        for _ in range(self.tuning.max_decides):
            decision = decide(wake.run, wake.state, pending, now)
            self._apply_decision(wake, decision)
            if not decision.actions:
                return
            await self.crash(slot.key, "before-effects")
            pending = await self._act(slot, body, wake, decision)
            # Reports that raced their own dispatch are current now.
            pending += [
                e for e in self._report_events(slot, wake, now) if not isinstance(e, JobStarted)
            ]
            if not pending:
                return
        log.warning("ciworkflow %s: a wake chained %d decides", slot.key, self.tuning.max_decides)

    def _start_time(
        self, slot: WorkflowSlot, state: WorkflowState, event: JobStarted, now: datetime
    ) -> datetime:
        report = slot.starts.get((event.instance_id, event.attempt))
        job = state.jobs.get(event.instance_id)
        at = report.at if report is not None and report.at is not None else now
        if job is not None and job.queued_at is not None:
            at = max(at, job.queued_at)
        return min(at, now)

    def _apply_decision(self, wake: Wake, decision: Decision) -> None:
        wake.notes += _transitions(wake.run, wake.state, decision)
        wake.state = decision.state
        wake.changed |= decision.changed
        wake.actions += decision.actions

    async def _act(
        self, slot: WorkflowSlot, body: Mapping[str, Any], wake: Wake, decision: Decision
    ) -> list[Event]:
        """The decision's side effects; returns the events they produced."""
        follow_ups: list[Event] = []
        identity = WorkflowIdentity.from_object(body)
        for action in decision.actions:
            if isinstance(action, StartJob):
                follow_ups += await self._start(slot, identity, wake, action)
            elif isinstance(action, CancelJob):
                job = names.job_name(identity.workflow_name, action.instance_id, action.attempt)
                await self.launcher.stop(identity.namespace, job)
        follow_ups += await self.arbiter.apply(slot.key, decision.actions)
        return follow_ups

    async def _start(
        self, slot: WorkflowSlot, identity: WorkflowIdentity, wake: Wake, action: StartJob
    ) -> list[Event]:
        spec = action.spec
        try:
            launch = await self.launcher.start(
                spec, identity, lambda point: self.crash(slot.key, point)
            )
        except SandboxRefused as error:
            result = JobResult(
                instance_id=spec.instance_id,
                attempt=spec.attempt,
                conclusion="failure",
                reason=f"sandbox_refused: {error}",
            )
            wake.notes.append(("SandboxRefused", f"{spec.instance_id}: {error}", True, 50))
            return [JobCompleted(token=spec.callback_token, result=result)]
        if launch.existing is not None:
            report = report_from_job(launch.existing)
            if report is not None:
                self._remember(slot, report)
        return []

    # --- the checkpoint -------------------------------------------------------------------

    async def _checkpoint(
        self,
        slot: WorkflowSlot,
        body: Mapping[str, Any],
        wake: Wake,
        consumed_before: Mapping[str, str],
        now: datetime,
    ) -> None:
        status = dict(body.get("status") or {})
        generation = body["metadata"].get("generation")
        annotations = body["metadata"].get("annotations") or {}
        # A record of applied commands lives as long as its annotation does.
        consumed = {k: v for k, v in consumed_before.items() if annotations.get(k) == v}
        consumed.update(wake.consumed)
        new_fields = workflow_status(
            wake.run, wake.state, previous=status, now=now, generation=generation
        )
        new_fields["consumedRequests"] = consumed or None
        old_fields = {k: status[k] for k in OWN_STATUS_FIELDS if k in status}
        patch: dict[str, Any] = merge_diff(
            old_fields, {k: v for k, v in new_fields.items() if v is not None}
        )
        state_changes, new_state_dict = state_patch(slot.state_dict, wake.state, wake.changed)
        if state_changes:
            patch["state"] = state_changes
        if not _material(patch):
            slot.state, slot.state_dict = wake.state, new_state_dict
            return
        await self.crash(slot.key, "before-checkpoint")
        answer = await self.cluster.merge_patch(
            CIWORKFLOW_PLURAL,
            *_where(slot.key),
            {"metadata": {"resourceVersion": body["metadata"]["resourceVersion"]}, "status": patch},
            status=True,
        )
        slot.body = _cached(slot, answer)
        stored = (answer.get("status") or {}).get("state")
        if stored != new_state_dict:
            # The API server dropped part of the checkpoint (a CRD older than this code).
            log.error("ciworkflow %s: the stored checkpoint differs from the one written", slot.key)
            self.recorder_note(
                slot,
                "CheckpointPruned",
                "the API server did not store the whole checkpoint: update the CIWorkflow CRD",
                warning=True,
            )
            slot.state, slot.state_dict = None, None
        else:
            # keep one copy: the stored dict equals ours
            slot.state, slot.state_dict = wake.state, stored
        slot.clear_consumed = bool(consumed)
        await self.crash(slot.key, "after-checkpoint")

    async def _remove_annotations(self, slot: WorkflowSlot, removals: Mapping[str, str]) -> None:
        """Remove consumed annotations, each only if it still holds the value we read."""
        if not removals:
            return
        operations: list[dict[str, Any]] = []
        for key, value in sorted(removals.items()):
            pointer = json_pointer("metadata", "annotations", key)
            operations += [
                {"op": "test", "path": pointer, "value": value},
                {"op": "remove", "path": pointer},
            ]
        try:
            answer = await self.cluster.json_patch(CIWORKFLOW_PLURAL, *_where(slot.key), operations)
            slot.body = _cached(slot, answer)
        except Conflict:
            # One of them changed meanwhile (a new value to read): the next wake sees it.
            slot.body = None
            slot.waker.wake()
        except NotFound:
            return
        # The object changed under our own write; keep the state we just wrote.
        if slot.body is not None and slot.state_dict is not None:
            stored = (slot.body.get("status") or {}).get("state")
            if stored != slot.state_dict:
                slot.state = slot.state_dict = None
            else:
                slot.state_dict = stored

    async def _delete_orphans(self, slot: WorkflowSlot, state: WorkflowState) -> None:
        """After the first checkpoint in this process: Jobs of attempts that are
        over but still run (a crash came between creating them and a checkpoint
        that decided otherwise) are stopped. Jobs of attempts not dispatched yet
        are left alone: a later wake may dispatch exactly them."""
        listed, slot.listed_jobs = slot.listed_jobs or {}, None
        for (instance_id, attempt), (job_name, finished) in sorted(listed.items()):
            job = state.jobs.get(instance_id)
            if finished or job is None or not _is_past(job, attempt):
                continue
            if job.attempt == attempt and job.completed and job.dispatched:
                # Its own result is recorded; the sandbox just has not exited yet.
                continue
            log.info("ciworkflow %s: stopping orphaned Job %s", slot.key, job_name)
            await self.launcher.stop(slot.key.namespace, job_name)

    def _after(self, slot: WorkflowSlot, wake: Wake) -> None:
        """After a successful wake: timer, Events, and forgetting finished work."""
        state = slot.state or wake.state
        slot.waker.schedule_at(state.wake if state.phase != "completed" else None)
        body = slot.body
        if body is None:
            slot.waker.wake()  # an annotation changed under us: read it
            return
        ref = ObjectRef.of(body)
        for reason, message, warning, weight in wake.notes:
            self.recorder.record(ref, reason, message, warning=warning, weight=weight)
        if any(isinstance(a, CompleteWorkflow) for a in wake.actions):
            self.recorder.flush_soon()
        pending_requests = has_requests((body.get("metadata") or {}).get("annotations"))
        if slot.clear_consumed and not pending_requests:
            slot.waker.wake()  # write down that the consumed annotations are gone
        elif state.phase == "completed" and not pending_requests and not slot.clear_consumed:
            self._retire(slot)

    def _retire(self, slot: WorkflowSlot) -> None:
        """A finished workflow keeps nothing in memory but its name; a later
        request annotation (a re-run) brings it back with a fresh read."""
        slot.waker.stop()
        if self.slots.get(slot.key) is slot:
            del self.slots[slot.key]
        self.finished.add(slot.key)

    async def _write_error(
        self, slot: WorkflowSlot, body: Mapping[str, Any], error: Exception, now: datetime
    ) -> None:
        status = body.get("status") or {}
        reason = "InvalidSpec" if isinstance(error, SpecError) else "InvalidCheckpoint"
        message = f"{type(error).__name__}: {error}"
        if status.get("phase") == "Error" and status.get("message") == message:
            return
        fields = error_status(status, reason, message, now, body["metadata"].get("generation"))
        await self.cluster.merge_patch(
            CIWORKFLOW_PLURAL,
            *_where(slot.key),
            {
                "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
                "status": fields,
            },
            status=True,
        )
        slot.body = None
        self.recorder.record(ObjectRef.of(body), reason, message, warning=True, weight=100)


# --- helpers ------------------------------------------------------------------------------


def _where(key: WorkflowKey) -> tuple[str, str]:
    return key.namespace, key.name


def _cached(slot: WorkflowSlot, body: Mapping[str, Any]) -> dict[str, Any]:
    """What the slot keeps of an object: all of it but the compiled plan, once
    the run spec of that generation is parsed (it lives in ``slot.run``)."""
    meta = body.get("metadata") or {}
    identity = (str(meta.get("uid")), int(meta.get("generation") or 0))
    spec = body.get("spec") or {}
    if slot.run_of != identity or "workflowRun" not in spec:
        return dict(body)
    return {**body, "spec": {k: v for k, v in spec.items() if k != "workflowRun"}}


def command_events(
    wake: Wake,
    commands: Mapping[str, str],
    consumed_before: Mapping[str, str],
    removals: dict[str, str],
) -> list[Event]:
    """The engine events of the command annotations read in a wake; each goes
    into ``removals``. A cancel names the run attempt it was read against, so
    one replayed after a re-run (its removal lost in a crash) cannot stop the
    new attempt."""
    state = wake.state
    events: list[Event] = []
    for annotation, value in commands.items():
        removals[annotation] = value
        if annotation in _RECORDED_COMMANDS and consumed_before.get(annotation) == value:
            continue  # applied by a checkpoint already; only the removal was lost
        if annotation in _RECORDED_COMMANDS:
            wake.consumed[annotation] = value
        if annotation == resources.ANNOTATION_CANCEL:
            reason = value.strip() or "cancelled"
            events.append(CancelRequested(reason=reason, attempt=state.run_attempt))
            wake.notes.append(("CancelRequested", f"cancel requested: {reason}", False, 60))
        elif annotation == resources.ANNOTATION_APPROVE:
            events.append(ApprovalGranted(instance_id=value.strip()))
            wake.notes.append(("Approved", f"{value.strip()} approved", False, 40))
        elif annotation == resources.ANNOTATION_REJECT:
            events.append(ApprovalRejected(instance_id=value.strip()))
            wake.notes.append(("Rejected", f"{value.strip()} rejected", False, 40))
        elif annotation == resources.ANNOTATION_RERUN_FAILED:
            events.append(RerunRequested(run_attempt=state.run_attempt, failed_only=True))
            wake.notes.append(("RerunRequested", "re-run of the failed jobs", False, 60))
        elif annotation == resources.ANNOTATION_RETRY:
            targets = _retry_targets(wake.run, state, value.strip())
            if not targets:
                wake.notes.append(
                    ("RetryIgnored", f"retry {value!r}: the workflow has no such job", True, 40)
                )
            for instance_id in targets:
                attempt = state.jobs[instance_id].attempt
                events.append(RetryRequested(instance_id=instance_id, attempt=attempt))
            if targets:
                wake.notes.append(("RetryRequested", f"retry of {value.strip()}", False, 40))
    return events


def _cut_down(report: SandboxReport) -> bool:
    return report.kind == "result" and report.result is not None and report.result.truncated


def _completed_by_callback(run: WorkflowRun, requests: Requests) -> set[tuple[str, int]]:
    """The attempts whose whole result is among the callback annotations (genuine
    tokens only: a forged one must not hide the termination message's result)."""
    return {
        (c.payload.instance_id, c.payload.attempt)
        for c in requests.callbacks
        if not isinstance(c.payload, ProgressReport)
        and c.token == callback_token(run.token_seed, c.payload.instance_id, c.payload.attempt)
    }


def _awaits_callback(
    slot: WorkflowSlot, run: WorkflowRun, state: WorkflowState, requests: Requests
) -> bool:
    """A live attempt reported a cut-down result and its callback is not in the
    object read: the runner's POST completes before its container exits, so a
    fresh read has the annotation if one was sent (the cache may be older)."""
    by_callback = _completed_by_callback(run, requests)
    for attempt_key, report in slot.reports.items():
        job = state.jobs.get(attempt_key[0])
        if (
            _cut_down(report)
            and attempt_key not in by_callback
            and job is not None
            and _is_live(job)
            and job.attempt == attempt_key[1]
        ):
            return True
    return False


def _attempt_of(obj: Mapping[str, Any]) -> tuple[str, int] | None:
    who = sandbox_identity(obj)
    return None if who is None else (who.instance_id, who.attempt)


def _is_live(job: JobState) -> bool:
    """Dispatched and not concluded: a sandbox may be running for it."""
    return job.dispatched and not job.completed


def _is_past(job: JobState, attempt: int) -> bool:
    """Is ``attempt`` over for this instance (superseded, or concluded)?"""
    return job.attempt > attempt or (job.attempt == attempt and job.completed)


def _may_come(state: WorkflowState, job: JobState, payload: Any) -> bool:
    """Could this attempt still be dispatched? A callback can outrun the checkpoint
    that dispatches its attempt (the Job is created first): the instance's own
    attempt not dispatched yet, or the next one (a retry or lost sandbox)."""
    if state.phase == "completed":
        return False
    attempt = payload.attempt
    if job.attempt == attempt:
        return not job.dispatched
    return attempt == job.attempt + 1 and (job.completed or job.dispatched)


def _retry_targets(run: WorkflowRun, state: WorkflowState, name: str) -> list[str]:
    if name in state.jobs:
        return [name]
    if name in run.plan.workflow.jobs:
        return sorted(i for i in state.jobs if job_of(i) == name)
    return []


def _failed(job: JobState, report: SandboxReport, reason: str) -> JobCompleted:
    assert job.token is not None
    result = JobResult(
        instance_id=report.instance_id,
        attempt=report.attempt,
        conclusion="failure",
        reason=reason,
    )
    return JobCompleted(token=job.token, result=result)


def _material(patch: Mapping[str, Any]) -> bool:
    """Does the patch change more than the clock-driven display fields?"""
    return bool(set(patch) - {"duration", "jobs"})


_WEIGHTS = {"success": 20, "failure": 50, "cancelled": 40, "skipped": 5}


def _transitions(
    run: WorkflowRun, before: WorkflowState, decision: Decision
) -> list[tuple[str, str, bool, int]]:
    """What changed, in words for Events: (reason, message, warning, weight)."""
    notes: list[tuple[str, str, bool, int]] = []
    after = decision.state
    for instance_id in sorted(decision.changed):
        new = after.jobs.get(instance_id)
        old = before.jobs.get(instance_id)
        if new is None:
            continue
        fresh = old is None or old.attempt != new.attempt or old.phase != new.phase
        if new.completed and (fresh or old is None or not old.completed):
            word: str = new.conclusion or "completed"
            text = f"{instance_id} {_past(word)}"
            if new.started_at is not None and new.completed_at is not None:
                seconds = (new.completed_at - new.started_at).total_seconds()
                text += f" in {_seconds(seconds)}"
            if new.reason and word != "success":
                text += f": {new.reason}"
            reason = f"Job{_past(word).capitalize()}"
            notes.append((reason, text, word == "failure", _WEIGHTS.get(word, 10)))
        elif new.phase == "queued" and (old is None or old.phase != "queued"):
            attempt = f" (attempt {new.attempt})" if new.attempt > 1 else ""
            notes.append(("JobStarted", f"{instance_id} started{attempt}", False, 10))
        elif new.cancel is not None and (old is None or old.cancel is None):
            notes.append(("JobCancelling", f"{instance_id}: cancel sent ({new.cancel})", False, 35))
    for action in decision.actions:
        if isinstance(action, RequestApproval):
            notes.append(
                (
                    "ApprovalRequested",
                    f"{action.instance_id} waits for approval of environment "
                    f"{action.environment} (annotate cairn.dev/approve={action.instance_id})",
                    False,
                    45,
                )
            )
        elif isinstance(action, CompleteWorkflow):
            word = {"success": "Succeeded", "failure": "Failed", "cancelled": "Cancelled"}[
                action.conclusion
            ]
            why = f": {action.reason}" if action.reason else ""
            notes.append(
                (f"Workflow{word}", f"workflow {word.lower()}{why}", word == "Failed", 100)
            )
    del run
    # Endings before beginnings: "greet succeeded; build.0 started" reads as what happened.
    return sorted(notes, key=lambda note: -note[3])


def _past(word: str) -> str:
    return {
        "success": "succeeded",
        "failure": "failed",
        "cancelled": "cancelled",
        "skipped": "skipped",
    }.get(word, word)


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{seconds / 60:.1f}m"

"""The CIRun reconcile: set the run up once, then follow its CIWorkflows.

**Setup** (a run whose status has no ``workflows`` list yet): resolve the
source (inline files, or a bounded git fetch in a worker thread), compile
every file, keep the ones the event triggers, create one CIWorkflow per
triggered file (deterministic name, ownerReference to the run), and only then
write the checkpoint: the ``workflows`` list in the status. A crash before the
checkpoint repeats the setup, whose creates answer AlreadyExists and keep the
first objects (and their token seeds); a crash after it never compiles again.
Before any CIWorkflow is created, each triggered file gets its
``github.run_number`` (``run_numbers.py``), checkpointed in
``status.runNumbers`` so a repeated setup reuses it.

**Aggregation**: each CIWorkflow's watch events update a small summary here;
the run's phase, conditions, counts (``JOBS 3/5``), timestamps and its
``workflows`` list follow from the summaries, written at most once per
``aggregate_seconds`` while jobs progress and at once when a workflow changes
phase.

**Requests** on the run are forwarded to its workflows: ``spec.cancel`` and
``cairn.dev/cancel`` to every unfinished one, ``cairn.dev/rerun-failed`` to the
failed and cancelled ones, ``cairn.dev/retry``, ``cairn.dev/approve`` and
``cairn.dev/reject`` (``WORKFLOW/JOB`` or ``JOB``) to the one named; the run's annotation is then
removed. Forwarding happens before the removal, so a crash in between forwards
again (cancel is idempotent; the workflow's own record of applied commands
covers the rest unless it already cleared it, a window of milliseconds).
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random_secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from cairn.k8s import names, resources, run_numbers
from cairn.k8s.arbiter import WorkflowKey
from cairn.k8s.cluster import (
    AlreadyExists,
    Cluster,
    Conflict,
    KubeApiError,
    NotFound,
    is_transient,
    json_pointer,
)
from cairn.k8s.recorder import EventRecorder, ObjectRef
from cairn.k8s.resources import (
    CIRUN_PLURAL,
    CIWORKFLOW_PLURAL,
    CIRunSpec,
    JobCounts,
    format_duration,
)
from cairn.k8s.run_numbers import RunNumberError
from cairn.k8s.run_setup import RunSetup, compile_workflows, workflow_object
from cairn.k8s.settings import OperatorSettings
from cairn.k8s.source import (
    GitFetchError,
    SourceError,
    SourceLimits,
    SourceTimeoutError,
    resolve_workflows,
)
from cairn.k8s.status import (
    CONDITION_READY,
    CONDITION_SUCCEEDED,
    REASON_AWAITING_APPROVAL,
    TERMINAL_PHASES,
    ConditionValue,
    clip,
    merge_conditions,
    merge_diff,
    parse_time,
    rfc3339,
)
from cairn.k8s.wakes import CrashHook, TimerGate, Waker, no_crash

log = logging.getLogger(__name__)


REASON_INVALID = "InvalidWorkflow"
REASON_NONE_TRIGGERED = "NoWorkflowsTriggered"
REASON_SOURCE = "SourceUnavailable"
REASON_CREATED = "WorkflowsCreated"
REASON_RUN_NUMBER = "RunNumberUnavailable"

_RUN_COMMANDS = (
    resources.ANNOTATION_CANCEL,
    resources.ANNOTATION_RERUN_FAILED,
    resources.ANNOTATION_RETRY,
    resources.ANNOTATION_APPROVE,
    resources.ANNOTATION_REJECT,
)
_OWN_FIELDS = (
    "phase",
    "conditions",
    "workflows",
    "counts",
    "progress",
    "startedAt",
    "completedAt",
    "duration",
    "message",
    "observedGeneration",
    "sha",
)


@dataclass(frozen=True)
class RunTuning:
    #: at most one progress update of a run per this many seconds (phase changes: at once)
    aggregate_seconds: float = 1.0
    #: a git source that cannot be fetched is tried this many times before the run fails
    source_attempts: int = 5
    source_retry_seconds: float = 5.0
    retry_first_seconds: float = 0.5
    retry_max_seconds: float = 30.0


@dataclass(frozen=True)
class ChildSummary:
    """What a run needs to know of one of its CIWorkflows."""

    name: str
    file: str
    phase: str
    counts: dict[str, int]
    progress: str | None
    started_at: str | None
    completed_at: str | None
    cancelling: bool
    message: str | None
    #: the workflow waits only on approvals (its Succeeded condition says so)
    awaiting_approval: bool = False

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ChildSummary:
        status = body.get("status") or {}
        state = status.get("state") or {}
        return cls(
            name=body["metadata"]["name"],
            file=str((body.get("spec") or {}).get("file", "")),
            phase=str(status.get("phase") or "Pending"),
            counts={k: int(v) for k, v in (status.get("counts") or {}).items()},
            progress=status.get("progress"),
            started_at=status.get("startedAt"),
            completed_at=status.get("completedAt"),
            cancelling=isinstance(state, Mapping) and "x" in state,
            message=status.get("message"),
            awaiting_approval=any(
                isinstance(c, Mapping)
                and c.get("type") == CONDITION_SUCCEEDED
                and c.get("reason") == REASON_AWAITING_APPROVAL
                for c in status.get("conditions") or ()
            ),
        )

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


@dataclass
class RunSlot:
    key: WorkflowKey
    waker: Waker
    children: dict[str, ChildSummary] = field(default_factory=dict)
    #: the children were listed once in this process
    listed: bool = False
    source_failures: int = 0
    failures: int = 0


class RunLoop:
    def __init__(
        self,
        cluster: Cluster,
        recorder: EventRecorder,
        settings: OperatorSettings,
        *,
        clock: Callable[[], datetime],
        tuning: RunTuning | None = None,
        crash: CrashHook = no_crash,
        gate: TimerGate | None = None,
    ) -> None:
        self.gate = gate
        self.cluster = cluster
        self.recorder = recorder
        self.settings = settings
        self.clock = clock
        self.tuning = tuning or RunTuning()
        self.crash = crash
        self.slots: dict[WorkflowKey, RunSlot] = {}

    # --- inputs ---------------------------------------------------------------------------

    def slot(self, key: WorkflowKey) -> RunSlot:
        slot = self.slots.get(key)
        if slot is None:
            waker = Waker(lambda: self._wake(key), self.clock, f"cirun {key}", gate=self.gate)
            slot = self.slots[key] = RunSlot(key=key, waker=waker)
        return slot

    def on_run_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = WorkflowKey(str(meta.get("namespace")), str(meta.get("name")))
        if event_type == "DELETED":
            slot = self.slots.pop(key, None)
            if slot is not None:
                slot.waker.stop()
            return
        status = body.get("status") or {}
        spec = body.get("spec") or {}
        annotations = meta.get("annotations") or {}
        requests = any(a in annotations for a in _RUN_COMMANDS)
        set_up = "workflows" in status or status.get("phase") in TERMINAL_PHASES
        cancel = bool(spec.get("cancel")) and status.get("phase") not in TERMINAL_PHASES
        if not set_up or requests or cancel or (event_type is None and not _terminal(status)):
            self.slot(key).waker.wake()

    def on_child_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        run_name = (body.get("spec") or {}).get("run")
        if not run_name:
            return
        key = WorkflowKey(str(meta.get("namespace")), str(run_name))
        if event_type == "DELETED":
            slot = self.slots.get(key)
            if slot is not None and slot.children.pop(str(meta.get("name")), None) is not None:
                slot.waker.wake()
            return
        summary = ChildSummary.of(body)
        slot = self.slots.get(key)
        if slot is None:
            if summary.terminal and event_type is None:
                return  # an old run seen at startup: nothing changes
            slot = self.slot(key)
        before = slot.children.get(summary.name)
        if before == summary:
            return
        slot.children[summary.name] = summary
        if before is None or before.phase != summary.phase:
            slot.waker.wake()
        else:
            slot.waker.wake(delay=self.tuning.aggregate_seconds)

    async def close(self) -> None:
        for slot in list(self.slots.values()):
            await slot.waker.halt()

    # --- the wake -------------------------------------------------------------------------

    async def _wake(self, key: WorkflowKey) -> float | None:
        slot = self.slots.get(key)
        if slot is None:
            return None
        for _ in range(8):
            try:
                return await self._wake_once(slot)
            except Conflict:
                continue
            except KubeApiError as error:
                slot.failures += 1
                delay = min(
                    self.tuning.retry_first_seconds * 2 ** (slot.failures - 1),
                    self.tuning.retry_max_seconds,
                )
                level = logging.INFO if is_transient(error) else logging.WARNING
                log.log(level, "cirun %s: wake failed (%s); again in %.1fs", key, error, delay)
                return delay
        return self.tuning.retry_first_seconds

    async def _wake_once(self, slot: RunSlot) -> float | None:
        body = await self.cluster.find(CIRUN_PLURAL, slot.key.namespace, slot.key.name)
        if body is None:
            self.slots.pop(slot.key, None)
            slot.waker.stop()
            return None
        if body["metadata"].get("deletionTimestamp"):
            return None
        status = body.get("status") or {}
        now = self.clock()
        try:
            spec = CIRunSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "spec"
            await self._fail(body, "InvalidSpec", f"spec.{where}: {problem['msg']}", now)
            return None
        if "workflows" not in status and status.get("phase") not in TERMINAL_PHASES:
            return await self._set_up(slot, body, spec, now)
        await self._forward_requests(slot, body, spec)
        await self._aggregate(slot, body, now)
        slot.failures = 0
        return None

    # --- setup ----------------------------------------------------------------------------

    async def _set_up(
        self, slot: RunSlot, body: Mapping[str, Any], spec: CIRunSpec, now: datetime
    ) -> float | None:
        limits = SourceLimits.from_settings(self.settings)
        try:
            files = await asyncio.to_thread(resolve_workflows, spec, limits)
        except (GitFetchError, SourceTimeoutError) as error:
            slot.source_failures += 1
            if slot.source_failures < self.tuning.source_attempts:
                await self._write(
                    body,
                    {
                        "phase": "Pending",
                        "message": clip(f"fetching the workflows failed, retrying: {error}"),
                        "conditions": merge_conditions(
                            (body.get("status") or {}).get("conditions"),
                            [ConditionValue(CONDITION_READY, "False", REASON_SOURCE, str(error))],
                            now,
                            body["metadata"].get("generation"),
                        ),
                    },
                )
                return self.tuning.source_retry_seconds * slot.source_failures
            await self._fail(body, REASON_SOURCE, str(error), now)
            return None
        except SourceError as error:
            await self._fail(body, REASON_SOURCE, str(error), now)
            return None
        setup = compile_workflows(spec, files)
        try:
            body, numbers = await self._run_numbers(slot, body, spec, setup)
        except RunNumberError as error:
            await self._fail(body, REASON_RUN_NUMBER, str(error), now)
            return None
        children = []
        for compiled in setup.triggered:
            manifest = workflow_object(
                body,
                spec,
                compiled,
                token_seed=random_secrets.token_urlsafe(24),
                run_number=numbers[compiled.file.name],
                protected_environments=self.settings.protected_environments,
            )
            await self._create_child(body, manifest)
            children.append((manifest, compiled))
        await self.crash(slot.key, "run-before-checkpoint")
        fields = _setup_status(body, spec, setup, children, now)
        if numbers:
            fields["runNumbers"] = numbers
        await self._write(body, fields)
        self._record_setup(body, setup)
        return None

    async def _run_numbers(
        self, slot: RunSlot, body: Mapping[str, Any], spec: CIRunSpec, setup: RunSetup
    ) -> tuple[Mapping[str, Any], dict[str, int]]:
        """``github.run_number`` per triggered file: pinned by the spec, read back
        from the run's checkpoint, or allocated now and checkpointed before any
        CIWorkflow exists (so a replay never allocates twice for one run)."""
        files = [compiled.file.name for compiled in setup.triggered]
        if spec.run_number is not None:
            return body, dict.fromkeys(files, spec.run_number)
        saved = (body.get("status") or {}).get("runNumbers") or {}
        numbers = {f: int(saved[f]) for f in files if isinstance(saved.get(f), int)}
        missing = [c for c in setup.triggered if c.file.name not in numbers]
        if not missing:
            return body, numbers
        repository = run_numbers.repository_identity(spec)
        keys = {c.file.name: run_numbers.counter_key(repository, c.path) for c in missing}
        allocated = await run_numbers.allocate(
            self.cluster, slot.key.namespace, list(keys.values())
        )
        numbers.update({file: allocated[key] for file, key in keys.items()})
        await self.crash(slot.key, "run-numbers-allocated")
        meta = body["metadata"]
        body = await self.cluster.merge_patch(
            CIRUN_PLURAL,
            meta["namespace"],
            meta["name"],
            {
                "metadata": {"resourceVersion": meta["resourceVersion"]},
                "status": {"runNumbers": numbers},
            },
            status=True,
        )
        await self.crash(slot.key, "run-numbers-checkpointed")
        return body, numbers

    async def _create_child(self, run: Mapping[str, Any], manifest: dict[str, Any]) -> None:
        namespace = manifest["metadata"]["namespace"]
        try:
            await self.cluster.create(CIWORKFLOW_PLURAL, namespace, manifest)
        except AlreadyExists:
            existing = await self.cluster.get(
                CIWORKFLOW_PLURAL, namespace, manifest["metadata"]["name"]
            )
            owners = {r.get("uid") for r in existing["metadata"].get("ownerReferences") or []}
            if run["metadata"]["uid"] not in owners:
                raise KubeApiError(
                    f"CIWorkflow {namespace}/{manifest['metadata']['name']} belongs to another "
                    "CIRun of the same name (deleted, not yet garbage collected)",
                    api_status=503,
                ) from None

    def _record_setup(self, body: Mapping[str, Any], setup: RunSetup) -> None:
        ref = ObjectRef.of(body)
        for invalid in setup.invalid:
            self.recorder.record(
                ref, REASON_INVALID, clip(invalid.message), warning=True, weight=90
            )
        if setup.triggered:
            files = ", ".join(c.file.name for c in setup.triggered)
            self.recorder.record(ref, REASON_CREATED, f"created workflows: {files}", weight=50)
        elif not setup.invalid:
            self.recorder.record(
                ref, REASON_NONE_TRIGGERED, _not_triggered_message(setup), weight=50
            )
        self.recorder.flush_soon()

    # --- requests -------------------------------------------------------------------------

    async def _children(self, slot: RunSlot, body: Mapping[str, Any]) -> dict[str, ChildSummary]:
        wanted = [w.get("name") for w in (body.get("status") or {}).get("workflows") or []]
        if not slot.listed or any(name not in slot.children for name in wanted):
            selector = f"{resources.LABEL_RUN}={names.label_value(slot.key.name)}"
            items = await self.cluster.list(
                CIWORKFLOW_PLURAL, slot.key.namespace, label_selector=selector
            )
            slot.children = {
                item["metadata"]["name"]: ChildSummary.of(item)
                for item in items
                if (item.get("spec") or {}).get("run") == slot.key.name
            }
            slot.listed = True
        return slot.children

    async def _forward_requests(
        self, slot: RunSlot, body: Mapping[str, Any], spec: CIRunSpec
    ) -> None:
        annotations: Mapping[str, str] = body["metadata"].get("annotations") or {}
        commands = {a: annotations[a] for a in _RUN_COMMANDS if a in annotations}
        if not commands and not spec.cancel:
            return
        children = await self._children(slot, body)
        ref = ObjectRef.of(body)
        forwards: dict[str, dict[str, str]] = {}
        cancel = commands.get(resources.ANNOTATION_CANCEL)
        if cancel is None and spec.cancel:
            cancel = "spec.cancel"
        if cancel is not None:
            for child in children.values():
                if not child.terminal and not child.cancelling:
                    forwards.setdefault(child.name, {})[resources.ANNOTATION_CANCEL] = (
                        cancel.strip() or "cancelled"
                    )
        rerun = commands.get(resources.ANNOTATION_RERUN_FAILED)
        if rerun is not None:
            for child in children.values():
                if child.phase in ("Failed", "Cancelled"):
                    forwards.setdefault(child.name, {})[resources.ANNOTATION_RERUN_FAILED] = rerun
        for annotation in (
            resources.ANNOTATION_RETRY,
            resources.ANNOTATION_APPROVE,
            resources.ANNOTATION_REJECT,
        ):
            value = commands.get(annotation)
            if value is None:
                continue
            target, job = _target(children, value)
            if target is None:
                self.recorder.record(
                    ref, "RequestIgnored", f"{annotation}={value}: {job}", warning=True, weight=40
                )
                continue
            forwards.setdefault(target, {})[annotation] = job
        for child_name, child_annotations in sorted(forwards.items()):
            try:
                await self.cluster.merge_patch(
                    CIWORKFLOW_PLURAL,
                    slot.key.namespace,
                    child_name,
                    {"metadata": {"annotations": child_annotations}},
                )
            except NotFound:
                continue
        if forwards:
            what = ", ".join(sorted({a.split("/")[-1] for f in forwards.values() for a in f}))
            self.recorder.record(ref, "RequestForwarded", f"{what} sent to the workflows")
        if commands:
            operations: list[dict[str, Any]] = []
            for annotation, value in sorted(commands.items()):
                pointer = json_pointer("metadata", "annotations", annotation)
                operations.append({"op": "test", "path": pointer, "value": value})
                operations.append({"op": "remove", "path": pointer})
            await self.cluster.json_patch(
                CIRUN_PLURAL, slot.key.namespace, slot.key.name, operations
            )

    # --- aggregation ----------------------------------------------------------------------

    async def _aggregate(self, slot: RunSlot, body: Mapping[str, Any], now: datetime) -> None:
        status = body.get("status") or {}
        refs = list(status.get("workflows") or [])
        children = await self._children(slot, body) if refs else {}
        fields = _aggregate_status(body, refs, children, now)
        old = {k: status[k] for k in _OWN_FIELDS if k in status}
        patch = merge_diff(old, fields)
        if not set(patch) - {"duration"}:
            return
        await self._write(body, fields)
        was, became = status.get("phase"), fields.get("phase")
        if became != was and became in TERMINAL_PHASES:
            self.recorder.record(
                ObjectRef.of(body),
                f"Run{became}",
                f"run {str(became).lower()}: {fields.get('message', '')}",
                warning=became in ("Failed", "Error"),
                weight=100,
            )
            self.recorder.flush_soon()

    # --- writing --------------------------------------------------------------------------

    async def _write(self, body: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        status = body.get("status") or {}
        old = {k: status[k] for k in _OWN_FIELDS if k in status}
        patch = merge_diff(old, dict(fields))
        if not patch:
            return
        meta = body["metadata"]
        await self.cluster.merge_patch(
            CIRUN_PLURAL,
            meta["namespace"],
            meta["name"],
            {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": patch},
            status=True,
        )

    async def _fail(
        self, body: Mapping[str, Any], reason: str, message: str, now: datetime
    ) -> None:
        status = body.get("status") or {}
        if status.get("phase") in TERMINAL_PHASES:
            return
        generation = body["metadata"].get("generation")
        fields = {
            "phase": "Error",
            "message": clip(message),
            "completedAt": rfc3339(now),
            "observedGeneration": generation,
            "conditions": merge_conditions(
                status.get("conditions"),
                [
                    ConditionValue(CONDITION_READY, "False", reason, message),
                    ConditionValue(CONDITION_SUCCEEDED, "False", reason, message),
                ],
                now,
                generation,
            ),
        }
        await self._write(body, {**_kept(status), **fields})
        self.recorder.record(ObjectRef.of(body), reason, clip(message), warning=True, weight=100)
        self.recorder.flush_soon()


# --- pure helpers ---------------------------------------------------------------------------


def _terminal(status: Mapping[str, Any]) -> bool:
    return status.get("phase") in TERMINAL_PHASES


def _kept(status: Mapping[str, Any]) -> dict[str, Any]:
    return {k: status[k] for k in _OWN_FIELDS if k in status}


def _target(children: Mapping[str, ChildSummary], value: str) -> tuple[str | None, str]:
    """The workflow a ``WORKFLOW/JOB`` (or ``JOB``) request is for, and the job."""
    wanted, _, job = value.strip().rpartition("/")
    if not job:
        return None, "name a job (JOB or WORKFLOW/JOB)"
    if wanted:
        for child in children.values():
            stem = child.file.rsplit("/", 1)[-1].split(".", 1)[0]
            if wanted in (child.name, child.file, stem):
                return child.name, job
        return None, f"the run has no workflow {wanted!r}"
    if len(children) == 1:
        return next(iter(children)), job
    return None, "the run has several workflows: name it as WORKFLOW/JOB"


def _not_triggered_message(setup: RunSetup) -> str:
    reasons = "; ".join(f"{name}: {why}" for name, why in setup.not_triggered)
    return clip(f"no workflow runs on this event ({reasons})" if reasons else "no workflow files")


def _setup_status(
    body: Mapping[str, Any],
    spec: CIRunSpec,
    setup: RunSetup,
    children: list[tuple[dict[str, Any], Any]],
    now: datetime,
) -> dict[str, Any]:
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    total = sum(len(compiled.plan.instances) for _, compiled in children)
    invalid = "\n".join(i.message for i in setup.invalid)
    refs = [
        {
            "name": manifest["metadata"]["name"],
            "file": compiled.file.name,
            "workflowName": compiled.plan.workflow.name,
            "phase": "Pending",
            "progress": f"0/{len(compiled.plan.instances)}",
        }
        for manifest, compiled in children
    ]
    wanted: list[ConditionValue]
    fields: dict[str, Any] = {
        "workflows": refs,
        "startedAt": rfc3339(now),
        "observedGeneration": generation,
        "counts": JobCounts(total=total, pending=total).to_dict(),
        "progress": f"0/{total}",
    }
    if spec.source is not None:
        fields["sha"] = spec.source.sha
    if children:
        ready = (
            ConditionValue(CONDITION_READY, "False", REASON_INVALID, invalid)
            if invalid
            else ConditionValue(
                CONDITION_READY, "True", REASON_CREATED, f"{len(children)} workflow(s) created"
            )
        )
        wanted = [ready, ConditionValue(CONDITION_SUCCEEDED, "Unknown", "Running", "")]
        fields.update(phase="Running", message=f"running {len(children)} workflow(s)")
    elif invalid:
        # Nothing could start: the run is in error (with valid ones beside, it fails).
        wanted = [
            ConditionValue(CONDITION_READY, "False", REASON_INVALID, invalid),
            ConditionValue(CONDITION_SUCCEEDED, "False", REASON_INVALID, invalid),
        ]
        fields.update(phase="Error", message=clip(invalid), completedAt=rfc3339(now))
        fields["duration"] = "0s"
    else:
        message = _not_triggered_message(setup)
        wanted = [
            ConditionValue(CONDITION_READY, "True", REASON_NONE_TRIGGERED, message),
            ConditionValue(CONDITION_SUCCEEDED, "True", REASON_NONE_TRIGGERED, message),
        ]
        fields.update(phase="Succeeded", message=message, completedAt=rfc3339(now))
        fields["duration"] = "0s"
    fields["conditions"] = merge_conditions(status.get("conditions"), wanted, now, generation)
    return fields


_COUNT_KEYS = tuple(JobCounts.model_fields)


def _aggregate_status(
    body: Mapping[str, Any],
    refs: list[Mapping[str, Any]],
    children: Mapping[str, ChildSummary],
    now: datetime,
) -> dict[str, Any]:
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    conditions = status.get("conditions") or []
    invalid = any(
        c.get("type") == CONDITION_READY and c.get("reason") == REASON_INVALID for c in conditions
    )
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    updated_refs = []
    phases = []
    starts, ends = [], []
    for ref in refs:
        child = children.get(str(ref.get("name")))
        entry = dict(ref)
        if child is None:
            entry["phase"] = "Error"
            phases.append("Error")
        else:
            entry["phase"] = (
                child.phase if child.phase in TERMINAL_PHASES | {"Running"} else "Pending"
            )
            if child.progress:
                entry["progress"] = child.progress
            phases.append(entry["phase"])
            for key in _COUNT_KEYS:
                counts[key] += child.counts.get(key, 0)
            if child.started_at:
                starts.append(child.started_at)
            if child.completed_at:
                ends.append(child.completed_at)
        updated_refs.append(entry)
    fields = _kept(status)
    fields["workflows"] = updated_refs
    if refs:
        fields["counts"] = counts
        fields["progress"] = f"{counts['completed']}/{counts['total']}"
    started = parse_time(status.get("startedAt")) or parse_time(min(starts, default=None))
    done = bool(refs) and all(p in TERMINAL_PHASES for p in phases)
    if not refs:
        return fields
    if done:
        if invalid or any(p in ("Failed", "Error") for p in phases):
            phase, reason = "Failed", REASON_INVALID if invalid else "WorkflowsFailed"
        elif "Cancelled" in phases:
            phase, reason = "Cancelled", "Cancelled"
        else:
            phase, reason = "Succeeded", "Succeeded"
        end = parse_time(max(ends, default=None)) or now
        fields["completedAt"] = rfc3339(end)
        succeeded = ConditionValue(
            CONDITION_SUCCEEDED, "True" if phase == "Succeeded" else "False", reason, ""
        )
    else:
        phase = "Running"
        end = now
        fields.pop("completedAt", None)
        blocked = any(
            child is not None and child.awaiting_approval
            for child in (children.get(str(r.get("name"))) for r in refs)
        )
        reason = REASON_AWAITING_APPROVAL if blocked else "Running"
        succeeded = ConditionValue(CONDITION_SUCCEEDED, "Unknown", reason, "")
    message = "; ".join(
        f"{child.file}: {child.message}"
        for child in (children.get(str(r.get("name"))) for r in refs)
        if child is not None and child.message
    )
    if any(p == "Error" for p in phases):
        message = "; ".join(
            [
                f"{r.get('name')}: the CIWorkflow is gone"
                for r in refs
                if r.get("name") not in children
            ]
            + ([message] if message else [])
        )
    succeeded = ConditionValue(succeeded.type, succeeded.status, succeeded.reason, clip(message))
    fields["phase"] = phase
    fields["message"] = clip(message or phase.lower())
    if started is not None:
        fields["duration"] = _duration(started, end)
    fields["conditions"] = merge_conditions(conditions, [succeeded], now, generation)
    return fields


def _duration(start: datetime, end: datetime) -> str:
    return format_duration((end - start).total_seconds())

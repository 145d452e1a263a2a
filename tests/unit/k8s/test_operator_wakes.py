"""Wakes never overlap, coalesce, and keep one scheduled deadline; Events are
aggregated; the concurrency arbiter hands verdicts to the right workflows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from cairn.engine import (
    AcquireConcurrency,
    ConcurrencyCancelled,
    ConcurrencyGranted,
    Event,
    ReleaseConcurrency,
)
from cairn.k8s.arbiter import ConcurrencyArbiter, WorkflowKey
from cairn.k8s.recorder import EventRecorder, ObjectRef
from cairn.k8s.wakes import Waker

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeCluster:
    def __init__(self, workflows: list[dict[str, Any]] | None = None) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.workflows = workflows or []
        self.lists = 0

    async def create(self, plural: str, namespace: str, body: Any) -> dict[str, Any]:
        self.created.append((plural, body))
        return dict(body)

    async def list(self, plural: str, namespace: str, **_: Any) -> list[dict[str, Any]]:
        self.lists += 1
        return self.workflows


async def test_wakes_requested_during_a_wake_coalesce_into_one_more() -> None:
    running = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def wake() -> float | None:
        nonlocal calls
        calls += 1
        running.set()
        await release.wait()
        return None

    waker = Waker(wake, lambda: T0, "test")
    waker.wake()
    await running.wait()
    for _ in range(5):
        waker.wake()
    release.set()
    await waker.join()
    assert calls == 2 and waker.runs == 2


async def test_a_wake_that_asks_to_retry_runs_again_later() -> None:
    results = [0.01, None]
    done = asyncio.Event()

    async def wake() -> float | None:
        result = results.pop(0)
        if result is None:
            done.set()
        return result

    waker = Waker(wake, lambda: T0, "test")
    waker.wake()
    await asyncio.wait_for(done.wait(), timeout=5)
    assert not results


async def test_the_scheduled_deadline_is_replaced_not_added() -> None:
    fired = asyncio.Event()
    now = datetime.now(UTC)

    async def wake() -> float | None:
        fired.set()
        return None

    waker = Waker(wake, lambda: datetime.now(UTC), "test")
    waker.schedule_at(now + timedelta(hours=1))
    waker.schedule_at(now + timedelta(milliseconds=20))
    assert waker.deadline == now + timedelta(milliseconds=20)
    await asyncio.wait_for(fired.wait(), timeout=5)
    assert waker.runs == 1 and waker.deadline is None
    waker.schedule_at(now + timedelta(hours=1))
    waker.stop()
    assert waker.runs == 1


async def test_halt_cancels_a_hung_wake() -> None:
    started = asyncio.Event()

    async def wake() -> float | None:
        started.set()
        await asyncio.Event().wait()
        return None

    waker = Waker(wake, lambda: T0, "test")
    waker.wake()
    await started.wait()
    await asyncio.wait_for(waker.halt(), timeout=5)
    assert not waker.busy


async def test_events_of_one_object_are_posted_as_one() -> None:
    cluster = FakeCluster()
    recorder = EventRecorder(cluster, lambda: T0, flush_seconds=60)  # type: ignore[arg-type]
    ref = ObjectRef("cairn.dev/v1alpha1", "CIWorkflow", "ci", "wf", "uid")
    recorder.record(ref, "JobStarted", "build started", weight=10)
    recorder.record(ref, "JobFailed", "test failed: step_failed", warning=True, weight=50)
    recorder.record(ref, "JobSucceeded", "build succeeded", weight=20)
    recorder.record(ref, "WorkflowFailed", "workflow failed", warning=True, weight=100)
    await recorder.close()
    bodies = {body["type"]: body for _, body in cluster.created}
    assert set(bodies) == {"Normal", "Warning"}
    assert bodies["Normal"]["reason"] == "JobSucceeded"
    assert bodies["Normal"]["message"] == "build started; build succeeded"
    assert bodies["Warning"]["reason"] == "WorkflowFailed"
    assert bodies["Warning"]["involvedObject"]["uid"] == "uid"
    assert recorder.posted == 2


def claim_state(key: str, group: str, at: datetime, *, holding: bool) -> dict[str, Any]:
    claim = {"g": group, "k": key, "at": at.isoformat(), "h": holding}
    return {"p": "running", "k": claim, "j": {}}


def workflow(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ci"}, "status": {"state": state}}


async def test_the_arbiter_rebuilds_groups_from_checkpoints_and_grants_in_order() -> None:
    delivered: list[tuple[WorkflowKey, Event]] = []
    holder = workflow("a", claim_state("ci/a#1", "deploy", T0, holding=True))
    cluster = FakeCluster([holder])
    arbiter = ConcurrencyArbiter(cluster, lambda k, e: delivered.append((k, e)))  # type: ignore[arg-type]
    b, c = WorkflowKey("ci", "b"), WorkflowKey("ci", "c")
    own = await arbiter.apply(
        b,
        [
            AcquireConcurrency(
                key="ci/b#1",
                group="deploy",
                cancel_in_progress=False,
                requested_at=T0 + timedelta(seconds=1),
            )
        ],
    )
    assert own == []  # a holds the group: b waits
    own = await arbiter.apply(
        c,
        [
            AcquireConcurrency(
                key="ci/c#1",
                group="deploy",
                cancel_in_progress=False,
                requested_at=T0 + timedelta(seconds=2),
            )
        ],
    )
    assert own == []
    # the newer waiter supersedes the older one
    assert delivered == [
        (b, ConcurrencyCancelled(key="ci/b#1", reason="superseded", group="deploy"))
    ]
    delivered.clear()
    await arbiter.apply(WorkflowKey("ci", "a"), [ReleaseConcurrency(key="ci/a#1", group="deploy")])
    assert delivered == [(c, ConcurrencyGranted(key="ci/c#1", group="deploy"))]
    # asking again for what one holds (a replayed wake) is answered again
    again = await arbiter.apply(
        c,
        [
            AcquireConcurrency(
                key="ci/c#1",
                group="deploy",
                cancel_in_progress=False,
                requested_at=T0 + timedelta(seconds=2),
            )
        ],
    )
    assert again == [ConcurrencyGranted(key="ci/c#1", group="deploy")]
    assert cluster.lists == 1


async def test_a_deleted_workflow_lets_go_of_its_groups() -> None:
    delivered: list[tuple[WorkflowKey, Event]] = []
    waiting = workflow("w", claim_state("ci/w#1", "g", T0 + timedelta(seconds=1), holding=False))
    holder = workflow("h", claim_state("ci/h#1", "g", T0, holding=True))
    arbiter = ConcurrencyArbiter(
        FakeCluster([holder, waiting]),  # type: ignore[arg-type]
        lambda k, e: delivered.append((k, e)),
    )
    await arbiter.apply(WorkflowKey("ci", "x"), [ReleaseConcurrency(key="none", group="g")])
    assert delivered == []
    arbiter.forget(WorkflowKey("ci", "h"))
    assert delivered == [(WorkflowKey("ci", "w"), ConcurrencyGranted(key="ci/w#1", group="g"))]


async def test_a_stale_namespace_is_read_again_and_its_waiters_hear_the_news() -> None:
    """Another replica released a group while this one was paused: once told its view
    is stale, the arbiter reads the checkpoints again and grants the waiter."""
    delivered: list[tuple[WorkflowKey, Event]] = []
    waiting = workflow("w", claim_state("ci/w#1", "g", T0 + timedelta(seconds=1), holding=False))
    holder = workflow("h", claim_state("ci/h#1", "g", T0, holding=True))
    cluster = FakeCluster([holder, waiting])
    arbiter = ConcurrencyArbiter(
        cluster,  # type: ignore[arg-type]
        lambda k, e: delivered.append((k, e)),
        reload_delay_seconds=0.0,
    )
    await arbiter.apply(WorkflowKey("ci", "x"), [ReleaseConcurrency(key="none", group="g")])
    assert delivered == [] and cluster.lists == 1
    arbiter.invalidate("elsewhere")  # never read: nothing to do
    cluster.workflows = [waiting]  # h finished under the other replica
    arbiter.invalidate("ci")
    arbiter.invalidate("ci")  # a relisting's many events: one read
    assert arbiter._reloading is not None
    await arbiter._reloading
    assert cluster.lists == 2
    assert delivered == [(WorkflowKey("ci", "w"), ConcurrencyGranted(key="ci/w#1", group="g"))]
    await arbiter.close()


async def test_a_gated_timer_waits_while_the_replica_is_paused() -> None:
    allowed = asyncio.Event()
    asked = 0
    ran = asyncio.Event()

    async def gate() -> bool:
        nonlocal asked
        asked += 1
        if asked >= 3:
            allowed.set()
        return allowed.is_set()

    async def wake() -> float | None:
        ran.set()
        return None

    waker = Waker(wake, lambda: T0, "gated", gate=gate, gate_recheck_seconds=0.01)
    waker.schedule_at(T0)  # due at once
    await ran.wait()
    assert asked == 3 and waker.runs == 1  # asked twice in vain, then woke
    ran.clear()
    waker.wake()  # a watch event's wake is not gated (Kopf gates those)
    await ran.wait()
    assert asked == 3 and waker.runs == 2
    waker.stop()

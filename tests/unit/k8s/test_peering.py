"""Kopf's peering rule, applied by Cairn to know whether its timers may act."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from cairn.k8s.cluster import KubeUnavailable, NotFound
from cairn.k8s.peering import PeeringGate, PeeringScope, blocking_peers, own_identity

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
ME = PeeringScope(name="cairn", identity="cairn-0", priority=100)


def record(priority: int, seconds_ago: float, lifetime: int = 60) -> dict[str, Any]:
    seen = NOW - timedelta(seconds=seconds_ago)
    return {"priority": priority, "lastseen": seen.isoformat(), "lifetime": lifetime}


def test_only_live_peers_of_higher_or_equal_priority_pause_a_replica() -> None:
    status = {
        "cairn-0": record(100, 1),  # ourselves
        "lower": record(50, 1),
        "higher-dead": record(200, 61),
        "malformed": {"priority": "x"},
    }
    assert blocking_peers(status, ME, NOW) == []
    assert blocking_peers({**status, "higher": record(200, 59)}, ME, NOW) == ["higher"]
    assert blocking_peers({**status, "twin": record(100, 1)}, ME, NOW) == ["twin"]
    naive = {"old": {"priority": 300, "lastseen": "2026-11-23T05:59:30", "lifetime": 60}}
    assert blocking_peers(naive, ME, NOW) == ["old"]


def test_the_identity_is_kopfs_pod_id_else_unique_to_the_process() -> None:
    assert own_identity({"POD_ID": "cairn-operator-7d9f"}) == "cairn-operator-7d9f"
    assert own_identity({}) != own_identity({})


class PeeringCluster:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}
        self.reads: list[tuple[str, str | None, str]] = []
        self.failure: Exception | None = None

    async def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any]:
        self.reads.append((plural, namespace, name))
        if self.failure is not None:
            raise self.failure
        return {"metadata": {"name": name}, "status": self.status}


async def test_the_gate_reads_the_peering_object_and_reports_a_resume() -> None:
    cluster = PeeringCluster()
    gate = PeeringGate(cluster, ME, lambda: NOW, fresh_seconds=0.0)  # type: ignore[arg-type]
    resumed: list[bool] = []
    gate.on_resume.append(lambda: resumed.append(True))
    assert await gate.active()
    cluster.status = {"higher": record(200, 1)}
    assert not await gate.active()
    assert resumed == []
    cluster.status = {"higher": record(200, 120)}  # it died
    assert await gate.active()
    assert resumed == [True]
    assert cluster.reads[0] == ("clusterkopfpeerings", None, "cairn")


async def test_a_fresh_verdict_is_reused_and_namespaced_peering_reads_each_namespace() -> None:
    cluster = PeeringCluster()
    scope = PeeringScope(name="cairn", identity="cairn-0", priority=100, namespaces=("a", "b"))
    gate = PeeringGate(cluster, scope, lambda: NOW, fresh_seconds=60.0)  # type: ignore[arg-type]
    results = await asyncio.gather(*(gate.active() for _ in range(5)))
    assert all(results)
    assert cluster.reads == [("kopfpeerings", "a", "cairn"), ("kopfpeerings", "b", "cairn")]


async def test_an_unreadable_peering_object_lets_the_replica_act() -> None:
    cluster = PeeringCluster()
    gate = PeeringGate(cluster, ME, lambda: NOW, fresh_seconds=0.0)  # type: ignore[arg-type]
    cluster.failure = KubeUnavailable("connection refused")
    assert await gate.active()
    cluster.failure = NotFound("no peering object", api_status=404)
    assert await gate.active()
    assert await PeeringGate(cluster, None, lambda: NOW).active()  # type: ignore[arg-type]

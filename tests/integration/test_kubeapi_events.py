"""Events through both APIs (one store, two views), and Leases for leader election."""

from __future__ import annotations

import datetime
from typing import Any

import aiohttp
import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.kubeapi import KubeApiEmulator

NS = "default"


def test_core_events_are_visible_as_events_k8s_io(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    made = core.create_namespaced_event(
        NS,
        {
            "metadata": {"generateName": "cirun-hello-"},
            "involvedObject": {
                "apiVersion": "cairn.dev/v1alpha1",
                "kind": "CIRun",
                "name": "hello",
                "namespace": NS,
            },
            "reason": "Started",
            "message": "workflow ci started",
            "type": "Normal",
            "source": {"component": "cairn"},
            "count": 1,
        },
    )
    assert made.metadata.name.startswith("cirun-hello-")
    # (Read raw: the typed EventsV1Event insists on an eventTime that core Events may lack.)
    (seen,) = kubeapi.list("events.k8s.io/v1/events", NS)
    assert seen["apiVersion"] == "events.k8s.io/v1"
    assert seen["metadata"]["uid"] == made.metadata.uid
    assert seen["regarding"]["name"] == "hello" and seen["note"] == "workflow ci started"
    assert seen["deprecatedSource"] == {"component": "cairn"} and seen["deprecatedCount"] == 1
    assert "involvedObject" not in seen and "message" not in seen


def test_events_k8s_io_events_are_visible_as_core_events(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    events_v1: Any = kubernetes.client.EventsV1Api(kube_client)
    events_v1.create_namespaced_event(
        NS,
        {
            "metadata": {"name": "job-started"},
            "eventTime": now,
            "reportingController": "cairn.dev/operator",
            "reportingInstance": "operator-0",
            "action": "StartJob",
            "reason": "JobStarted",
            "type": "Normal",
            "note": "job build started",
            "regarding": {"kind": "CIWorkflow", "name": "ci", "namespace": NS},
        },
    )
    core_view = kubeapi.get("events", "job-started", NS)
    assert core_view["apiVersion"] == "v1"
    assert core_view["message"] == "job build started"
    assert core_view["involvedObject"]["name"] == "ci"
    assert core_view["reportingComponent"] == "cairn.dev/operator"


async def test_events_k8s_io_requires_its_fields(kubeapi: KubeApiEmulator) -> None:
    headers = {"Authorization": f"Bearer {kubeapi.token}"}
    url = f"{kubeapi.url}/apis/events.k8s.io/v1/namespaces/{NS}/events"
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(
            url, json={"metadata": {"name": "x"}, "type": "Loud", "note": "n"}
        ) as response,
    ):
        assert response.status == 422
        message = (await response.json())["message"]
    for field in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        assert f"{field}: Required value" in message
    assert 'Unsupported value: "Loud"' in message


def test_leases_support_optimistic_leader_election(kube_client: Any) -> None:
    coordination: Any = kubernetes.client.CoordinationV1Api(kube_client)
    lease = coordination.create_namespaced_lease(
        NS,
        {
            "metadata": {"name": "cairn-operator"},
            "spec": {"holderIdentity": "replica-a", "leaseDurationSeconds": 15},
        },
    )
    lease.spec.holder_identity = "replica-b"
    taken = coordination.replace_namespaced_lease("cairn-operator", NS, lease)
    assert taken.spec.holder_identity == "replica-b"
    lease.spec.holder_identity = "replica-c"  # a stale copy loses the race
    with pytest.raises(ApiException) as e:
        coordination.replace_namespaced_lease("cairn-operator", NS, lease)
    assert e.value.status == 409

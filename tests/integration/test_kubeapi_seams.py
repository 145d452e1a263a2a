"""The in-process seams tests build on: following changes (the test kubelet's hook),
waiting on conditions without polling, injected failures, lifecycle and usage errors."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import aiohttp
import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.kubeapi import EmulatorUsageError, KubeApiEmulator, ObjectChange, WaitTimeout

NS = "default"


def _job_body(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"cairn.dev/run": "r1"}},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            }
        },
    }


async def test_a_test_kubelet_follows_created_jobs(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    async def kubelet() -> None:
        # What the operator engineers' test kubelet does: run the pod, report the Job's status.
        async for change in kubeapi.changes("jobs.batch", NS, label_selector="cairn.dev/run=r1"):
            if change.type == "ADDED":
                kubeapi.patch_status(
                    "jobs.batch",
                    change.object["metadata"]["name"],
                    {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
                    NS,
                )

    task = asyncio.create_task(kubelet())
    try:
        batch: Any = kubernetes.client.BatchV1Api(kube_client)
        await asyncio.to_thread(batch.create_namespaced_job, NS, _job_body("build-1"))
        done = await kubeapi.wait_for_async(
            "jobs.batch",
            "build-1",
            NS,
            timeout=5,
            predicate=lambda o: o is not None and o["status"].get("succeeded") == 1,
        )
        assert done is not None and done["status"]["conditions"][0]["type"] == "Complete"
    finally:
        task.cancel()
    # The kubelet's writes went through the store, not HTTP: the operator's request budget is clean.
    assert kubeapi.request_count("patch") == 0


def test_changes_sync_replays_from_a_resource_version(kubeapi: KubeApiEmulator) -> None:
    since = kubeapi.store.resource_version
    kubeapi.create("configmaps", {"metadata": {"name": "a"}}, NS)
    kubeapi.delete("configmaps", "a", NS)
    changes = kubeapi.changes_sync("configmaps", NS, since=since, timeout=5)
    seen: list[ObjectChange] = [next(changes), next(changes)]
    changes.close()
    assert [(c.type, c.object["metadata"]["name"]) for c in seen] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
    ]
    assert seen[0].resource_version < seen[1].resource_version
    with pytest.raises(WaitTimeout):
        next(
            kubeapi.changes_sync(
                "configmaps", NS, since=kubeapi.store.resource_version, timeout=0.05
            )
        )


def test_wait_for_returns_at_once_or_times_out_with_the_last_state(
    kubeapi: KubeApiEmulator,
) -> None:
    kubeapi.create("configmaps", {"metadata": {"name": "a"}, "data": {"k": "1"}}, NS)
    assert kubeapi.wait_for("configmaps", "a", NS) is not None
    assert kubeapi.wait_for("configmaps", "ghost", NS, predicate=lambda o: o is None) is None
    with pytest.raises(WaitTimeout) as e:
        kubeapi.wait_for("configmaps", "a", NS, predicate=lambda o: o is None, timeout=0.05)
    assert "configmaps default/a" in str(e.value) and "rv=" in str(e.value)


def test_wait_until_checks_a_condition_over_all_objects(kubeapi: KubeApiEmulator) -> None:
    kubeapi.create("configmaps", {"metadata": {"name": "a", "labels": {"g": "1"}}}, NS)
    kubeapi.create("configmaps", {"metadata": {"name": "b", "labels": {"g": "1"}}}, NS)
    found = kubeapi.wait_until(
        "configmaps", lambda items: len(items) == 2, NS, label_selector="g=1"
    )
    assert [i["metadata"]["name"] for i in found] == ["a", "b"]
    with pytest.raises(WaitTimeout):
        kubeapi.wait_until(
            "configmaps", lambda items: len(items) == 3, NS, label_selector="g=1", timeout=0.05
        )


def test_fail_next_injects_failures(kubeapi: KubeApiEmulator, kube_client: Any) -> None:
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    kubeapi.fail_next("create", "configmaps", code=500, times=2, message="etcd is having a bad day")
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}})
        assert e.value.status == 500
        assert json.loads(e.value.body or "")["message"] == "etcd is having a bad day"
    assert core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}}).metadata.name == "a"
    kubeapi.fail_next("get", "configmaps", code=429, name="a")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("a", NS)
    assert e.value.status == 429 and json.loads(e.value.body or "")["reason"] == "TooManyRequests"
    assert core.read_namespaced_config_map("a", NS).metadata.name == "a"


def test_usage_errors_are_explicit(kubeapi: KubeApiEmulator) -> None:
    with pytest.raises(EmulatorUsageError, match="no resource named 'gizmos'"):
        kubeapi.get("gizmos", "x")
    with pytest.raises(EmulatorUsageError, match="no apiVersion/kind"):
        kubeapi.apply_manifest("just: text")
    with pytest.raises(EmulatorUsageError, match="times"):
        kubeapi.fail_next("get", times=0)
    with pytest.raises(EmulatorUsageError, match="already running"):
        kubeapi.start()


def test_resolving_resource_names_like_kubectl(kubeapi: KubeApiEmulator) -> None:
    assert kubeapi.resource("cm").plural == "configmaps"
    assert kubeapi.resource("Job").group == "batch"
    assert kubeapi.resource("jobs.batch").plural == "jobs"
    assert kubeapi.resource("batch/v1/jobs").kind == "Job"
    assert kubeapi.resource("v1/pods").kind == "Pod"
    assert kubeapi.resource("events").group == ""  # the core group wins, as with kubectl
    assert kubeapi.resource("events.events.k8s.io").group == "events.k8s.io"


async def test_stopping_the_emulator_ends_open_watches() -> None:
    api = KubeApiEmulator().start()
    headers = {"Authorization": f"Bearer {api.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(
            f"{api.url}/api/v1/namespaces/{NS}/configmaps", params={"watch": "true"}
        ) as response,
    ):
        await asyncio.to_thread(api.wait_for_watches, "configmaps")
        await asyncio.to_thread(api.stop)
        async with asyncio.timeout(5):
            assert await response.content.read() == b""
    assert api.errors == []


def test_an_injected_clock_stamps_timestamps() -> None:
    moment = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    with KubeApiEmulator(clock=lambda: moment) as api:
        cm = api.create(
            "configmaps", {"metadata": {"name": "a", "finalizers": ["cairn.dev/f"]}}, NS
        )
        assert cm["metadata"]["creationTimestamp"] == "2030-01-02T03:04:05Z"
        assert (
            api.delete("configmaps", "a", NS)["metadata"]["deletionTimestamp"]
            == "2030-01-02T03:04:05Z"
        )


def test_the_commit_hook_sees_every_write_in_order_as_it_commits(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    seen: list[tuple[str, str, int]] = []
    kubeapi.store.on_commit = lambda change: seen.append((change.type, change.name, change.rv))
    try:
        kubeapi.create("configmaps", {"metadata": {"name": "a"}, "data": {"k": "1"}}, NS)
        # a write over HTTP commits before its answer leaves
        kubernetes.client.CoreV1Api(kube_client).patch_namespaced_config_map(
            "a", NS, {"data": {"k": "2"}}
        )
        assert [kind for kind, _, _ in seen] == ["ADDED", "MODIFIED"]
        assert str(seen[1][2]) == kubeapi.get("configmaps", "a", NS)["metadata"]["resourceVersion"]
        kubeapi.delete("configmaps", "a", NS)
    finally:
        kubeapi.store.on_commit = None
    assert [(kind, name) for kind, name, _ in seen] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]
    rvs = [rv for _, _, rv in seen]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


def test_json_copy_is_deep_and_keeps_every_json_type() -> None:
    from tests.kubeapi.jsoncopy import json_copy

    original: dict[str, Any] = {
        "s": "x",
        "i": 1,
        "f": 1.5,
        "b": True,
        "n": None,
        "l": [{"k": [1, {"deep": "v"}]}, False],
        "t": ({"in": "tuple"},),
    }
    copied = json_copy(original)
    assert copied == original
    assert type(copied["b"]) is bool and type(copied["i"]) is int
    copied["l"][0]["k"][1]["deep"] = "changed"
    copied["t"][0]["in"] = "changed"
    assert original["l"][0]["k"][1]["deep"] == "v"
    assert original["t"][0]["in"] == "tuple"  # not JSON: deep-copied the general way

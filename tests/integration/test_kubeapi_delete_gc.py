"""DELETE: finalizers and deletionTimestamp, ownerReference garbage collection with each
propagation policy, namespace termination, preconditions and deletecollection."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.kubeapi import KubeApiEmulator

NS = "default"


def _core(client: Any) -> Any:
    return kubernetes.client.CoreV1Api(client)


def _owned_by(owner: dict[str, Any], *, block: bool = True) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": block,
        }
    ]


def _cm(
    api: KubeApiEmulator,
    name: str,
    owner: dict[str, Any] | None = None,
    finalizers: list[str] | None = None,
    block: bool = True,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = _owned_by(owner, block=block)
    if finalizers:
        meta["finalizers"] = finalizers
    return api.create("configmaps", {"metadata": meta}, NS)


def _job(api: KubeApiEmulator, name: str) -> dict[str, Any]:
    return api.create(
        "jobs.batch",
        {
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}],
                    }
                }
            },
        },
        NS,
    )


def _pod(api: KubeApiEmulator, name: str, owner: dict[str, Any]) -> dict[str, Any]:
    return api.create(
        "pods",
        {
            "metadata": {"name": name, "ownerReferences": _owned_by(owner)},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
        NS,
    )


def test_delete_without_finalizers_removes_at_once(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    _cm(kubeapi, "c")
    # The client (>=37) hands back a DELETE answer undecoded: a Status for built-ins.
    status = _core(kube_client).delete_namespaced_config_map("c", NS)
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "c"
    assert kubeapi.find("configmaps", "c", NS) is None
    with pytest.raises(ApiException) as e:
        _core(kube_client).delete_namespaced_config_map("c", NS)
    assert e.value.status == 404


def test_finalizers_hold_the_object_until_removed(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    cm = _cm(kubeapi, "c", finalizers=["cairn.dev/finalizer"])
    core = _core(kube_client)
    core.delete_namespaced_config_map("c", NS)
    held = kubeapi.get("configmaps", "c", NS)
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["cairn.dev/finalizer"]
    assert int(held["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
    # Deleting again changes nothing; adding a finalizer now is forbidden.
    core.delete_namespaced_config_map("c", NS)
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map(
            "c", NS, {"metadata": {"finalizers": ["cairn.dev/finalizer", "x.dev/y"]}}
        )
    assert (
        e.value.status == 422 and "no new finalizers" in json.loads(e.value.body or "")["message"]
    )
    # Other changes are still allowed while it waits.
    core.patch_namespaced_config_map("c", NS, {"data": {"note": "cleaning up"}})
    core.patch_namespaced_config_map("c", NS, {"metadata": {"finalizers": None}})
    assert kubeapi.find("configmaps", "c", NS) is None


def test_background_propagation_collects_dependents_recursively(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    owner = _cm(kubeapi, "owner")
    child = _cm(kubeapi, "child", owner)
    _cm(kubeapi, "grandchild", child)
    _cm(kubeapi, "bystander")
    _core(kube_client).delete_namespaced_config_map("owner", NS, propagation_policy="Background")
    assert sorted(c["metadata"]["name"] for c in kubeapi.list("configmaps", NS)) == ["bystander"]


def test_dependents_wait_for_their_owner_to_be_really_gone(kubeapi: KubeApiEmulator) -> None:
    owner = _cm(kubeapi, "owner", finalizers=["cairn.dev/finalizer"])
    _cm(kubeapi, "child", owner)
    kubeapi.delete("configmaps", "owner", NS)
    assert (
        kubeapi.find("configmaps", "child", NS) is not None
    )  # the owner still exists (terminating)
    kubeapi.patch("configmaps", "owner", {"metadata": {"finalizers": None}}, NS)
    assert kubeapi.find("configmaps", "child", NS) is None


def test_foreground_propagation_waits_for_blocking_dependents(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    owner = _cm(kubeapi, "owner")
    _cm(kubeapi, "slow-child", owner, finalizers=["cairn.dev/finalizer"])
    _cm(kubeapi, "quick-child", owner)
    _core(kube_client).delete_namespaced_config_map("owner", NS, propagation_policy="Foreground")
    waiting = kubeapi.get("configmaps", "owner", NS)
    assert waiting["metadata"]["deletionTimestamp"]
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert kubeapi.find("configmaps", "quick-child", NS) is None
    assert kubeapi.get("configmaps", "slow-child", NS)["metadata"]["deletionTimestamp"]
    kubeapi.patch("configmaps", "slow-child", {"metadata": {"finalizers": None}}, NS)
    assert kubeapi.find("configmaps", "slow-child", NS) is None
    assert kubeapi.find("configmaps", "owner", NS) is None


def test_foreground_does_not_wait_for_non_blocking_dependents(kubeapi: KubeApiEmulator) -> None:
    owner = _cm(kubeapi, "owner")
    _cm(kubeapi, "child", owner, finalizers=["cairn.dev/finalizer"], block=False)
    kubeapi.delete("configmaps", "owner", NS, propagation="Foreground")
    assert kubeapi.find("configmaps", "owner", NS) is None
    assert kubeapi.get("configmaps", "child", NS)["metadata"]["deletionTimestamp"]


def test_orphan_propagation_keeps_dependents_and_drops_their_references(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    owner = _cm(kubeapi, "owner")
    _cm(kubeapi, "child", owner)
    _core(kube_client).delete_namespaced_config_map("owner", NS, propagation_policy="Orphan")
    child = kubeapi.get("configmaps", "child", NS)
    assert "ownerReferences" not in child["metadata"]


def test_jobs_orphan_their_pods_unless_asked_otherwise(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    batch: Any = kubernetes.client.BatchV1Api(kube_client)
    _pod(kubeapi, "a-pod", _job(kubeapi, "a"))
    batch.delete_namespaced_job("a", NS)  # batch/v1's legacy default: orphan
    assert kubeapi.find("pods", "a-pod", NS) is not None
    _pod(kubeapi, "b-pod", _job(kubeapi, "b"))
    batch.delete_namespaced_job("b", NS, propagation_policy="Background")
    assert kubeapi.find("pods", "b-pod", NS) is None


def test_a_dependent_with_another_owner_survives(kubeapi: KubeApiEmulator) -> None:
    first, second = _cm(kubeapi, "first"), _cm(kubeapi, "second")
    refs = [*_owned_by(first), dict(_owned_by(second)[0], controller=False)]
    kubeapi.create("configmaps", {"metadata": {"name": "shared", "ownerReferences": refs}}, NS)
    kubeapi.delete("configmaps", "first", NS)
    shared = kubeapi.get("configmaps", "shared", NS)
    assert [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["second"]
    kubeapi.delete("configmaps", "second", NS)
    assert kubeapi.find("configmaps", "shared", NS) is None


def test_cluster_scoped_owner_collects_namespaced_dependents(kubeapi: KubeApiEmulator) -> None:
    ns = kubeapi.create("namespaces", {"metadata": {"name": "owner-ns"}})
    _cm(kubeapi, "c", ns)
    kubeapi.delete("namespaces", "owner-ns")
    assert kubeapi.find("configmaps", "c", NS) is None


def test_namespace_termination_removes_its_contents(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    core = _core(kube_client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "free"}})
    core.create_namespaced_config_map(
        "doomed", {"metadata": {"name": "held", "finalizers": ["cairn.dev/f"]}}
    )
    core.delete_namespace("doomed")
    ns = core.read_namespace("doomed")
    assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp
    assert kubeapi.find("configmaps", "free", "doomed") is None
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert e.value.status == 403 and "being terminated" in json.loads(e.value.body or "")["message"]
    core.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})
    assert kubeapi.find("namespaces", "doomed") is None


def test_delete_preconditions(kube_client: Any, kubeapi: KubeApiEmulator) -> None:
    cm = _cm(kubeapi, "c")
    core = _core(kube_client)
    with pytest.raises(ApiException) as e:
        core.delete_namespaced_config_map("c", NS, body={"preconditions": {"uid": "not-the-uid"}})
    assert e.value.status == 409
    with pytest.raises(ApiException) as e:
        core.delete_namespaced_config_map("c", NS, body={"preconditions": {"resourceVersion": "1"}})
    assert e.value.status == 409
    core.delete_namespaced_config_map(
        "c", NS, body={"preconditions": {"uid": cm["metadata"]["uid"]}}
    )
    assert kubeapi.find("configmaps", "c", NS) is None


def test_bad_propagation_policy_is_rejected(kube_client: Any, kubeapi: KubeApiEmulator) -> None:
    _cm(kubeapi, "c")
    with pytest.raises(ApiException) as e:
        _core(kube_client).delete_namespaced_config_map("c", NS, propagation_policy="Sideways")
    assert e.value.status == 400


def test_deletecollection_by_label(kube_client: Any, kubeapi: KubeApiEmulator) -> None:
    for name, team in [("a", "x"), ("b", "x"), ("c", "y")]:
        kubeapi.create("configmaps", {"metadata": {"name": name, "labels": {"team": team}}}, NS)
    _core(kube_client).delete_collection_namespaced_config_map(NS, label_selector="team=x")
    assert [c["metadata"]["name"] for c in kubeapi.list("configmaps", NS)] == ["c"]

"""PUT and PATCH: optimistic concurrency, merge patch, JSON patch, generation, no-op writes."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.integration.conftest import TEST_MANIFESTS
from tests.kubeapi import KubeApiEmulator

NS = "default"
WIDGETS = "widgets.test.cairn.dev"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def _core(client: Any) -> Any:
    return kubernetes.client.CoreV1Api(client)


def _reason(e: pytest.ExceptionInfo[ApiException]) -> str:
    return str(json.loads(e.value.body or "")["reason"])


async def _patch(api: KubeApiEmulator, path: str, body: Any, content_type: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": content_type}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.patch(api.url + path, data=json.dumps(body)) as response,
    ):
        return response.status, await response.json()


def test_put_with_the_current_resource_version_succeeds_and_a_stale_one_conflicts(
    kube_client: Any,
) -> None:
    core = _core(kube_client)
    cm = core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    cm.data = {"a": "2"}
    updated = core.replace_namespaced_config_map("c", NS, cm)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    assert updated.metadata.uid == cm.metadata.uid
    cm.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("c", NS, cm)
    assert e.value.status == 409 and _reason(e) == "Conflict"
    assert "the object has been modified" in json.loads(e.value.body or "")["message"]
    # Without a resourceVersion a PUT is unconditional.
    cm.metadata.resource_version = None
    assert core.replace_namespaced_config_map("c", NS, cm).data == {"a": "3"}


def test_put_validates_the_target(kube_client: Any) -> None:
    core = _core(kube_client)
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("ghost", NS, {"metadata": {"name": "ghost"}})
    assert e.value.status == 404
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("c", NS, {"metadata": {"name": "other"}})
    assert e.value.status == 400


async def test_merge_patch_merges_objects_and_deletes_nulls(kubeapi: KubeApiEmulator) -> None:
    kubeapi.create(
        "configmaps",
        {"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}},
        NS,
    )
    status, body = await _patch(
        kubeapi,
        f"/api/v1/namespaces/{NS}/configmaps/c",
        {"metadata": {"labels": {"b": None, "c": "3"}}, "data": {"y": None}},
        MERGE,
    )
    assert status == 200
    assert body["metadata"]["labels"] == {"a": "1", "c": "3"}
    assert body["data"] == {"x": "1"}


async def test_merge_patch_with_a_stale_resource_version_conflicts(
    kubeapi: KubeApiEmulator,
) -> None:
    cm = kubeapi.create("configmaps", {"metadata": {"name": "c"}}, NS)
    stale = cm["metadata"]["resourceVersion"]
    kubeapi.patch("configmaps", "c", {"data": {"a": "1"}}, NS)
    path = f"/api/v1/namespaces/{NS}/configmaps/c"
    status, body = await _patch(
        kubeapi, path, {"metadata": {"resourceVersion": stale}, "data": {"a": "2"}}, MERGE
    )
    assert status == 409 and body["reason"] == "Conflict"
    fresh = kubeapi.get("configmaps", "c", NS)["metadata"]["resourceVersion"]
    status, _ = await _patch(
        kubeapi, path, {"metadata": {"resourceVersion": fresh}, "data": {"a": "2"}}, MERGE
    )
    assert status == 200


async def test_json_patch_operations(kubeapi: KubeApiEmulator) -> None:
    kubeapi.create(
        "configmaps",
        {"metadata": {"name": "c", "finalizers": ["a.dev/x", "a.dev/y"]}, "data": {"k": "v"}},
        NS,
    )
    path = f"/api/v1/namespaces/{NS}/configmaps/c"
    ops = [
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "add", "path": "/data/n", "value": "1"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "copy", "from": "/data/k", "path": "/data/k2"},
        {"op": "move", "from": "/data/n", "path": "/data/m"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "add", "path": "/metadata/annotations", "value": {"cairn.dev/note": "1"}},
        {"op": "add", "path": "/metadata/finalizers/-", "value": "a.dev/z"},
    ]
    status, body = await _patch(kubeapi, path, ops, JSON_PATCH)
    assert status == 200, body
    assert body["data"] == {"k": "w", "k2": "w", "m": "1"}
    assert body["metadata"]["finalizers"] == ["a.dev/y", "a.dev/z"]
    status, body = await _patch(
        kubeapi,
        path,
        [{"op": "remove", "path": "/metadata/annotations/cairn.dev~1note"}],
        JSON_PATCH,
    )
    assert status == 200 and body["metadata"]["annotations"] == {}


async def test_a_failed_json_patch_test_op_is_422_and_changes_nothing(
    kubeapi: KubeApiEmulator,
) -> None:
    cm = kubeapi.create("configmaps", {"metadata": {"name": "c"}, "data": {"k": "v"}}, NS)
    path = f"/api/v1/namespaces/{NS}/configmaps/c"
    # What Kopf sends to guard its finalizer and status changes.
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "999999"},
        {"op": "add", "path": "/data/x", "value": "1"},
    ]
    status, body = await _patch(kubeapi, path, ops, JSON_PATCH)
    assert status == 422 and body["reason"] == "Invalid"
    # JSON equality, not Python's: true is not 1.
    status, _ = await _patch(
        kubeapi, path, [{"op": "test", "path": "/metadata/generation", "value": True}], JSON_PATCH
    )
    assert status == 422
    status, body = await _patch(
        kubeapi, path, [{"op": "remove", "path": "/data/missing"}], JSON_PATCH
    )
    assert status == 422
    status, body = await _patch(kubeapi, path, {"data": {"x": "1"}}, JSON_PATCH)
    assert status == 400 and "array of operations" in body["message"]
    assert kubeapi.get("configmaps", "c", NS) == cm


def test_strategic_merge_is_a_merge_patch_for_builtins(kube_client: Any) -> None:
    core = _core(kube_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    # kubernetes>=37 sends a dict body as application/strategic-merge-patch+json.
    assert core.patch_namespaced_config_map("c", NS, {"data": {"b": "2"}}).data == {
        "a": "1",
        "b": "2",
    }
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("c", NS, {"data": {"$patch": "replace"}})
    assert e.value.status == 400 and "not supported" in json.loads(e.value.body or "")["message"]


async def test_strategic_and_apply_patches_on_custom_resources_are_415(
    kubeapi: KubeApiEmulator,
) -> None:
    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    kubeapi.create(WIDGETS, {"metadata": {"name": "w"}, "spec": {"message": "m"}}, NS)
    path = f"/apis/test.cairn.dev/v1/namespaces/{NS}/widgets/w"
    for content_type in (
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "text/plain",
    ):
        status, body = await _patch(kubeapi, path, {"spec": {"message": "n"}}, content_type)
        assert status == 415 and body["reason"] == "UnsupportedMediaType", content_type


def test_generation_follows_spec_changes_only(kubeapi: KubeApiEmulator) -> None:
    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    w = kubeapi.create(WIDGETS, {"metadata": {"name": "w"}, "spec": {"message": "m"}}, NS)
    assert w["metadata"]["generation"] == 1
    w = kubeapi.patch(
        WIDGETS, "w", {"metadata": {"labels": {"x": "y"}, "annotations": {"a": "b"}}}, NS
    )
    assert w["metadata"]["generation"] == 1
    w = kubeapi.patch_status(WIDGETS, "w", {"phase": "Ready"}, NS)
    assert w["metadata"]["generation"] == 1
    w = kubeapi.patch(WIDGETS, "w", {"spec": {"message": "n"}}, NS)
    assert w["metadata"]["generation"] == 2


def test_a_write_that_changes_nothing_bumps_nothing(
    kube_client: Any, kubeapi: KubeApiEmulator
) -> None:
    core = _core(kube_client)
    cm = core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    same = core.patch_namespaced_config_map("c", NS, {"data": {"a": "1"}})
    assert same.metadata.resource_version == cm.metadata.resource_version
    assert kubeapi.store.resource_version == int(cm.metadata.resource_version)


async def test_names_and_namespaces_are_immutable(kubeapi: KubeApiEmulator) -> None:
    kubeapi.create("configmaps", {"metadata": {"name": "c"}}, NS)
    path = f"/api/v1/namespaces/{NS}/configmaps/c"
    status, body = await _patch(kubeapi, path, {"metadata": {"name": "d"}}, MERGE)
    assert status == 422 and "immutable" in body["message"]
    status, body = await _patch(
        kubeapi,
        path,
        [{"op": "replace", "path": "/metadata/namespace", "value": "kube-system"}],
        JSON_PATCH,
    )
    assert status == 422


def test_server_managed_fields_cannot_be_overwritten(kubeapi: KubeApiEmulator) -> None:
    cm = kubeapi.create("configmaps", {"metadata": {"name": "c"}}, NS)
    patched = kubeapi.patch(
        "configmaps",
        "c",
        {"metadata": {"uid": "x", "creationTimestamp": "2000-01-01T00:00:00Z", "generation": 42}},
        NS,
    )
    for field in ("uid", "creationTimestamp", "generation"):
        assert patched["metadata"][field] == cm["metadata"][field]

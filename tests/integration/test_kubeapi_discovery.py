"""Discovery: built-in API groups, and CRDs registered at runtime, as real clients read them."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client import ApiException

from tests.integration.conftest import TEST_MANIFESTS
from tests.kubeapi import KubeApiEmulator


def _raw_get(api: KubeApiEmulator, path: str, token: str | None = "default") -> tuple[int, Any]:
    request = urllib.request.Request(api.url + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {api.token if token == 'default' else token}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _groups(client: Any) -> list[Any]:
    apis: Any = kubernetes.client.ApisApi(client)
    return list(apis.get_api_versions().groups)


def _resources(client: Any, group_version: str) -> dict[str, Any]:
    if group_version == "v1":
        found = kubernetes.client.CoreV1Api(client).get_api_resources()
    else:
        group, version = group_version.split("/")
        found = kubernetes.client.CustomObjectsApi(client).get_api_resources(group, version)
    return {r.name: r for r in found.resources}


def test_core_and_builtin_groups_are_discoverable(kube_client: Any) -> None:
    versions = kubernetes.client.CoreApi(kube_client).get_api_versions()
    assert versions.versions == ["v1"]
    groups = {g.name: g for g in _groups(kube_client)}
    for name in ("batch", "coordination.k8s.io", "events.k8s.io", "apiextensions.k8s.io"):
        assert groups[name].preferred_version.version == "v1"

    core = _resources(kube_client, "v1")
    assert core["namespaces"].namespaced is False
    assert core["configmaps"].namespaced is True
    assert core["configmaps"].kind == "ConfigMap"
    assert "cm" in core["configmaps"].short_names
    assert {"create", "list", "watch", "patch", "delete"} <= set(core["pods"].verbs)
    assert "pods/status" in core
    assert "configmaps/status" not in core

    batch = _resources(kube_client, "batch/v1")
    assert batch["jobs"].kind == "Job" and "jobs/status" in batch
    assert "leases" in _resources(kube_client, "coordination.k8s.io/v1")
    assert "events" in _resources(kube_client, "events.k8s.io/v1")
    assert "customresourcedefinitions" in _resources(kube_client, "apiextensions.k8s.io/v1")


def test_version_and_unknown_paths(kubeapi: KubeApiEmulator) -> None:
    status, body = _raw_get(kubeapi, "/version")
    assert status == 200 and body["major"] == "1"
    status, body = _raw_get(kubeapi, "/apis/nope.example.com/v1")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
    status, body = _raw_get(kubeapi, "/api/v1/nothings")
    assert status == 404 and body["reason"] == "NotFound"


def test_requests_need_the_configured_bearer_token(kubeapi: KubeApiEmulator) -> None:
    assert _raw_get(kubeapi, "/api")[0] == 200
    status, body = _raw_get(kubeapi, "/api", token="wrong")
    assert status == 401 and body["reason"] == "Unauthorized"
    assert _raw_get(kubeapi, "/api", token=None)[0] == 401


def test_posting_a_crd_serves_its_namespaced_resource_with_status(kube_client: Any) -> None:
    crd = yaml.safe_load((TEST_MANIFESTS / "widgets.yaml").read_text())
    ext: Any = kubernetes.client.ApiextensionsV1Api(kube_client)
    created = ext.create_custom_resource_definition(crd)
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}

    groups = {g.name: g for g in _groups(kube_client)}
    assert groups["test.cairn.dev"].preferred_version.version == "v1"
    served = _resources(kube_client, "test.cairn.dev/v1")
    assert served["widgets"].namespaced is True
    assert served["widgets"].kind == "Widget"
    assert served["widgets"].short_names == ["wdg"]
    assert served["widgets"].categories == ["cairn-test"]
    assert "widgets/status" in served

    custom: Any = kubernetes.client.CustomObjectsApi(kube_client)
    body = {
        "apiVersion": "test.cairn.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"message": "hi"},
    }
    made = custom.create_namespaced_custom_object(
        "test.cairn.dev", "v1", "default", "widgets", body
    )
    # The client returns the object only for 201 answers (None for 200).
    assert made is not None and made["metadata"]["uid"]


def test_a_cluster_scoped_crd_with_two_versions(kubeapi: KubeApiEmulator, kube_client: Any) -> None:
    kubeapi.register_crd(TEST_MANIFESTS / "gadgets.yaml")
    group = next(g for g in _groups(kube_client) if g.name == "test.cairn.dev")
    assert [v.version for v in group.versions] == ["v1", "v1beta1"]
    assert group.preferred_version.version == "v1"
    served = _resources(kube_client, "test.cairn.dev/v1beta1")
    assert served["gadgets"].namespaced is False and "gadgets/status" not in served

    custom: Any = kubernetes.client.CustomObjectsApi(kube_client)
    custom.create_cluster_custom_object(
        "test.cairn.dev",
        "v1",
        "gadgets",
        {
            "apiVersion": "test.cairn.dev/v1",
            "kind": "Gadget",
            "metadata": {"name": "g"},
            "spec": {"a": 1},
        },
    )
    # One storage, two views: the object reads back through either version.
    old_view = custom.get_cluster_custom_object("test.cairn.dev", "v1beta1", "gadgets", "g")
    assert old_view["apiVersion"] == "test.cairn.dev/v1beta1" and old_view["spec"] == {"a": 1}


def test_deleting_a_crd_removes_its_api_and_objects(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    kubeapi.create(
        "widgets.test.cairn.dev", {"metadata": {"name": "w"}, "spec": {"message": "x"}}, "default"
    )
    kubernetes.client.ApiextensionsV1Api(kube_client).delete_custom_resource_definition(
        "widgets.test.cairn.dev"
    )
    with pytest.raises(ApiException) as e:
        kubernetes.client.CustomObjectsApi(kube_client).list_namespaced_custom_object(
            "test.cairn.dev", "v1", "default", "widgets"
        )
    assert e.value.status == 404
    groups = [g.name for g in _groups(kube_client)]
    assert "test.cairn.dev" not in groups
    # Registering it again starts empty.
    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    assert kubeapi.list("widgets.test.cairn.dev", "default") == []


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda crd: crd["metadata"].update(name="wrong.test.cairn.dev"),
            "must be spec.names.plural",
        ),
        (lambda crd: crd["spec"].update(scope="Galaxy"), "spec.scope"),
        (lambda crd: crd["spec"]["versions"][0].update(storage=False), "storage version"),
        (lambda crd: crd["spec"]["versions"][0].pop("schema"), "schemas are required"),
        (lambda crd: crd["spec"].update(conversion={"strategy": "Webhook"}), "None conversion"),
    ],
)
def test_invalid_crds_are_refused_with_422(kube_client: Any, mutate: Any, fragment: str) -> None:
    crd = yaml.safe_load((TEST_MANIFESTS / "widgets.yaml").read_text())
    mutate(crd)
    with pytest.raises(ApiException) as e:
        kubernetes.client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(crd)
    assert e.value.status == 422
    assert fragment in json.loads(e.value.body or "")["message"]

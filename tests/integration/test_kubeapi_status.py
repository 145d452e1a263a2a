"""The status subresource's isolation, and custom resources' structural schemas
(defaulting, pruning, validation) applied on every write."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.integration.conftest import TEST_MANIFESTS
from tests.kubeapi import KubeApiEmulator

NS = "default"
G, V = "test.cairn.dev", "v1"
WIDGETS = "widgets.test.cairn.dev"


@pytest.fixture
def custom(kubeapi: KubeApiEmulator, kube_client: Any) -> Any:
    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    kubeapi.register_crd(TEST_MANIFESTS / "gadgets.yaml")
    return kubernetes.client.CustomObjectsApi(kube_client)


def _widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"message": "m", **spec},
    }


def test_status_is_dropped_on_create(custom: Any) -> None:
    made = custom.create_namespaced_custom_object(
        G, V, NS, "widgets", {**_widget(), "status": {"phase": "X"}}
    )
    assert "status" not in made


def test_the_main_endpoint_ignores_status(custom: Any) -> None:
    custom.create_namespaced_custom_object(G, V, NS, "widgets", _widget())
    custom.patch_namespaced_custom_object_status(
        G, V, NS, "widgets", "w", {"status": {"phase": "Ready"}}
    )
    patched = custom.patch_namespaced_custom_object(
        G, V, NS, "widgets", "w", {"spec": {"message": "n"}, "status": {"phase": "Hacked"}}
    )
    assert patched["spec"]["message"] == "n" and patched["status"] == {"phase": "Ready"}
    whole = custom.get_namespaced_custom_object(G, V, NS, "widgets", "w")
    whole["status"] = {"phase": "Hacked"}
    replaced = custom.replace_namespaced_custom_object(G, V, NS, "widgets", "w", whole)
    assert replaced["status"] == {"phase": "Ready"}


def test_the_status_endpoint_ignores_everything_else(custom: Any) -> None:
    custom.create_namespaced_custom_object(G, V, NS, "widgets", _widget())
    patched = custom.patch_namespaced_custom_object_status(
        G,
        V,
        NS,
        "widgets",
        "w",
        {
            "metadata": {"labels": {"sneaky": "yes"}},
            "spec": {"message": "hacked"},
            "status": {"phase": "Ready"},
        },
    )
    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"]["message"] == "m"
    assert "labels" not in patched["metadata"]
    assert patched["metadata"]["generation"] == 1
    # PUT on /status with a stale resourceVersion conflicts like any PUT.
    stale = dict(patched, status={"phase": "Later"})
    custom.patch_namespaced_custom_object_status(
        G, V, NS, "widgets", "w", {"status": {"phase": "Again"}}
    )
    with pytest.raises(ApiException) as e:
        custom.replace_namespaced_custom_object_status(G, V, NS, "widgets", "w", stale)
    assert e.value.status == 409


def test_without_a_status_subresource_status_is_ordinary_content(
    kubeapi: KubeApiEmulator, custom: Any
) -> None:
    made = custom.create_cluster_custom_object(
        G,
        V,
        "gadgets",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "Gadget",
            "metadata": {"name": "g"},
            "status": {"ok": True},
        },
    )
    assert made["status"] == {"ok": True}
    changed = custom.patch_cluster_custom_object(G, V, "gadgets", "g", {"status": {"ok": False}})
    assert changed["status"] == {"ok": False}
    assert (
        changed["metadata"]["generation"] == 2
    )  # no subresource: status is part of the spec-like body
    with pytest.raises(ApiException) as e:
        custom.patch_cluster_custom_object_status(G, V, "gadgets", "g", {"status": {"ok": True}})
    assert e.value.status == 404


def test_builtin_status_subresource(kube_client: Any) -> None:
    batch: Any = kubernetes.client.BatchV1Api(kube_client)
    batch.create_namespaced_job(
        NS,
        {
            "metadata": {"name": "j"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}],
                    }
                }
            },
        },
    )
    done = batch.patch_namespaced_job_status(
        "j",
        NS,
        {"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}},
    )
    assert done.status.succeeded == 1
    ignored = batch.patch_namespaced_job("j", NS, {"status": {"succeeded": 0}})
    assert ignored.status.succeeded == 1


def test_undeclared_fields_are_pruned_silently(custom: Any) -> None:
    made = custom.create_namespaced_custom_object(G, V, NS, "widgets", {**_widget(), "extra": 1})
    assert "extra" not in made
    made = custom.patch_namespaced_custom_object(
        G, V, NS, "widgets", "w", {"spec": {"undeclared": True}}
    )
    assert "undeclared" not in made["spec"]
    patched = custom.patch_namespaced_custom_object_status(
        G,
        V,
        NS,
        "widgets",
        "w",
        {
            "status": {
                "phase": "Ready",
                "forgotten": "gone",
                "cairn": {"progress": {"handler": {"retries": 1}}},
            }
        },
    )
    # An undeclared status field vanishes; a preserve-unknown-fields subtree keeps everything.
    assert patched["status"] == {
        "phase": "Ready",
        "cairn": {"progress": {"handler": {"retries": 1}}},
    }


def test_defaults_are_applied(custom: Any) -> None:
    assert (
        custom.create_namespaced_custom_object(G, V, NS, "widgets", _widget())["spec"]["replicas"]
        == 1
    )
    assert (
        custom.create_namespaced_custom_object(G, V, NS, "widgets", _widget("v", replicas=3))[
            "spec"
        ]["replicas"]
        == 3
    )


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"message": 7}, "spec.message in body must be of type string"),
        ({"message": "m", "replicas": -1}, "greater than or equal to 0"),
        ({"message": "m", "replicas": "two"}, "must be of type integer"),
        ({"message": "m", "size": "huge"}, 'Unsupported value: "huge"'),
        ({"message": "x" * 201}, "may not be more than 200"),
        ({"replicas": 2}, "spec.message: Required value"),
    ],
)
def test_schema_violations_are_422(custom: Any, spec: dict[str, Any], fragment: str) -> None:
    body = {"apiVersion": f"{G}/{V}", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}
    with pytest.raises(ApiException) as e:
        custom.create_namespaced_custom_object(G, V, NS, "widgets", body)
    status = json.loads(e.value.body or "")
    assert e.value.status == 422 and status["reason"] == "Invalid"
    assert fragment in status["message"]
    assert status["details"]["kind"] == "Widget"


def test_json_patch_pointer_escapes_reach_free_form_fields(
    kubeapi: KubeApiEmulator, custom: Any
) -> None:
    custom.create_cluster_custom_object(
        G,
        V,
        "gadgets",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "Gadget",
            "metadata": {"name": "g"},
            "spec": {"a~b": {"c/d": 1}},
        },
    )
    patched = kubeapi.patch(
        "gadgets",
        "g",
        [{"op": "replace", "path": "/spec/a~0b/c~1d", "value": 2}],
        content_type="application/json-patch+json",
    )
    assert patched["spec"] == {"a~b": {"c/d": 2}}


def test_a_status_write_admits_the_status_and_keeps_the_stored_rest(custom: Any) -> None:
    # As the API server's status strategy: the status is pruned and validated, the
    # rest of the object is the stored one (already admitted), whatever the body says.
    custom.create_namespaced_custom_object(G, V, NS, "widgets", _widget(replicas=2))
    with pytest.raises(ApiException) as e:
        custom.patch_namespaced_custom_object_status(
            G, V, NS, "widgets", "w", {"status": {"observedGeneration": "first"}}
        )
    status = json.loads(e.value.body or "")
    assert e.value.status == 422
    assert "status.observedGeneration in body must be of type integer" in status["message"]
    written = custom.patch_namespaced_custom_object_status(
        G,
        V,
        NS,
        "widgets",
        "w",
        {"spec": {"message": 7}, "status": {"phase": "Ready", "undeclared": 1}},
    )
    assert written["spec"] == {"message": "m", "replicas": 2}
    assert written["status"] == {"phase": "Ready"}

"""Bad input never crashes the emulator: arbitrary JSON bodies and patches are either
applied or refused with a Kubernetes error, and the store stays consistent."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.integration.conftest import TEST_MANIFESTS
from tests.kubeapi import KubeApiError
from tests.kubeapi.resources import CRDS
from tests.kubeapi.selectors import FieldSelector, LabelSelector
from tests.kubeapi.store import ObjectStore

NS = "default"
KEYS = st.sampled_from(
    [
        "metadata",
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "uid",
        "resourceVersion",
        "spec",
        "status",
        "data",
        "stringData",
        "template",
        "containers",
        "restartPolicy",
        "message",
        "replicas",
        "apiVersion",
        "kind",
        "group",
        "names",
        "plural",
        "versions",
        "served",
        "storage",
        "schema",
        "a",
        "b",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(
        ["", "x", "w", "default", "v1", "Widget", "a.dev/f", "Never", "Invalid Name", "1"]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {
            "metadata": st.fixed_dictionaries(
                {"name": st.sampled_from(["x", "y"])},
                optional={"labels": JSON, "finalizers": JSON, "ownerReferences": JSON},
            )
        },
        optional={"spec": JSON, "status": JSON, "data": JSON},
    ),
)
POINTERS = st.lists(
    st.sampled_from(
        [
            "metadata",
            "labels",
            "spec",
            "status",
            "0",
            "-",
            "finalizers",
            "data",
            "resourceVersion",
            "a~1b",
            "~0",
        ]
    ),
    max_size=3,
).map(lambda parts: "/" + "/".join(parts) if parts else "")
JSON_PATCH = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
            "path": POINTERS,
        },
        optional={"value": JSON, "from": POINTERS},
    ),
    max_size=4,
)
RESOURCES = [
    "configmaps",
    "secrets",
    "jobs.batch",
    "pods",
    "widgets.test.cairn.dev",
    "customresourcedefinitions",
    "events.events.k8s.io",
    "namespaces",
]
CONTENT_TYPES = [
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
]


@pytest.fixture(scope="module")
def store() -> ObjectStore:
    # The store alone: every semantic code path, without HTTP in the way.
    store = ObjectStore()
    store.create(CRDS, None, yaml.safe_load((TEST_MANIFESTS / "widgets.yaml").read_text()))
    return store


def _check_consistent(store: ObjectStore) -> None:
    with store.lock:
        for storage, objects in store._objects.items():
            for (ns, name), obj in objects.items():
                meta = obj["metadata"]
                assert meta["name"] == name and isinstance(name, str), (storage, name)
                assert meta.get("namespace") == ns
                assert isinstance(meta["uid"], str)
                assert 0 < int(meta["resourceVersion"]) <= store.resource_version


@settings(max_examples=150, deadline=None)
@given(
    resource=st.sampled_from(RESOURCES),
    body=BODIES,
    patch=st.one_of(JSON, JSON_PATCH),
    content_type=st.sampled_from(CONTENT_TYPES),
    policy=st.sampled_from([None, "Foreground", "Orphan", "x"]),
)
def test_arbitrary_writes_are_applied_or_refused(
    store: ObjectStore, resource: str, body: Any, patch: Any, content_type: str, policy: str | None
) -> None:
    rt = store.registry.resolve(resource)
    ns = NS if rt.namespaced else None
    for write in (
        lambda: store.create(rt, ns, body),
        lambda: store.replace(rt, ns, "x", body),
        lambda: store.patch(rt, ns, "x", content_type, patch),
        lambda: store.patch(rt, ns, "x", content_type, patch, "status"),
        lambda: store.delete(rt, ns, "y", propagation=policy),
    ):
        try:
            write()
        except KubeApiError as e:
            assert 400 <= e.code < 600 and e.status_body()["message"]
    _check_consistent(store)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab=!,() innot<>0123456789.-/_ ", max_size=30))
def test_any_selector_text_parses_or_is_a_400(text: str) -> None:
    from tests.kubeapi.resources import PODS

    for parse in (lambda: LabelSelector.parse(text), lambda: FieldSelector.parse(text, PODS)):
        try:
            parse()
        except KubeApiError as e:
            assert e.code == 400

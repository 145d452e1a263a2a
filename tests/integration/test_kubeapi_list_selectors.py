"""LIST: label selectors (equality and set-based), field selectors, cross-namespace
listing and chunked lists with continue tokens."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.kubeapi import KubeApiEmulator
from tests.kubeapi.errors import BadRequest
from tests.kubeapi.resources import CONFIGMAPS
from tests.kubeapi.selectors import FieldSelector, LabelSelector

NS = "default"


@pytest.fixture
def core(kubeapi: KubeApiEmulator, kube_client: Any) -> Any:
    objects = {
        "web-1": {"app": "web", "tier": "front", "attempt": "1"},
        "web-2": {"app": "web", "tier": "back", "attempt": "2"},
        "db-1": {"app": "db", "tier": "back"},
        "plain": {},
    }
    for name, labels in objects.items():
        kubeapi.create("configmaps", {"metadata": {"name": name, "labels": labels}}, NS)
    return kubernetes.client.CoreV1Api(kube_client)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web-1", "web-2"]),
        ("app==web", ["web-1", "web-2"]),
        ("app!=web", ["db-1", "plain"]),  # != matches objects without the label too
        ("app in (web, db)", ["db-1", "web-1", "web-2"]),
        ("app notin (web)", ["db-1", "plain"]),
        ("tier", ["db-1", "web-1", "web-2"]),
        ("!tier", ["plain"]),
        ("app=web,tier=back", ["web-2"]),
        ("app in (web,db),tier notin (front)", ["db-1", "web-2"]),
        ("attempt>1", ["web-2"]),
        ("attempt<2", ["web-1"]),
        ("", ["db-1", "plain", "web-1", "web-2"]),
    ],
)
def test_label_selectors(core: Any, selector: str, expected: list[str]) -> None:
    found = core.list_namespaced_config_map(NS, label_selector=selector)
    assert sorted(i.metadata.name for i in found.items) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=web-1", ["web-1"]),
        ("metadata.name==web-1", ["web-1"]),
        ("metadata.name!=web-1", ["db-1", "plain", "web-2"]),
        (f"metadata.namespace={NS}", ["db-1", "plain", "web-1", "web-2"]),
        ("metadata.namespace=other", []),
        ("metadata.name=web-1,metadata.name!=web-1", []),
    ],
)
def test_field_selectors(core: Any, selector: str, expected: list[str]) -> None:
    found = core.list_namespaced_config_map(NS, field_selector=selector)
    assert sorted(i.metadata.name for i in found.items) == expected


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"field_selector": "data.key=x"}, "field label not supported: data.key"),
        ({"field_selector": "metadata.name"}, "invalid field selector"),
        ({"label_selector": "app in web"}, "unable to parse requirement"),
        ({"label_selector": "app in ()"}, "at least one value"),
        ({"label_selector": "bad key!=x"}, "unable to parse requirement"),
        ({"label_selector": "app=" + "v" * 64}, "no more than 63"),
        ({"label_selector": "attempt>one"}, "integer"),
    ],
)
def test_bad_selectors_are_400(core: Any, kwargs: dict[str, str], fragment: str) -> None:
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(NS, **kwargs)
    assert e.value.status == 400 and fragment in json.loads(e.value.body or "")["message"]


def test_type_specific_field_selectors(kubeapi: KubeApiEmulator, kube_client: Any) -> None:
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    core.create_namespaced_event(
        NS,
        {
            "metadata": {"name": "e1"},
            "reason": "Started",
            "type": "Normal",
            "involvedObject": {"kind": "Job", "name": "build", "namespace": NS},
        },
    )
    core.create_namespaced_event(
        NS,
        {
            "metadata": {"name": "e2"},
            "reason": "Failed",
            "type": "Warning",
            "involvedObject": {"kind": "Job", "name": "test", "namespace": NS},
        },
    )
    found = core.list_namespaced_event(NS, field_selector="involvedObject.name=build,type=Normal")
    assert [e.metadata.name for e in found.items] == ["e1"]
    core.create_namespaced_secret(
        NS,
        {
            "metadata": {"name": "tls"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "", "tls.key": ""},
        },
    )
    assert [
        s.metadata.name
        for s in core.list_namespaced_secret(NS, field_selector="type=kubernetes.io/tls").items
    ] == ["tls"]


def test_listing_across_namespaces(kubeapi: KubeApiEmulator, kube_client: Any) -> None:
    kubeapi.create("namespaces", {"metadata": {"name": "other"}})
    kubeapi.create("configmaps", {"metadata": {"name": "x", "labels": {"k": "v"}}}, NS)
    kubeapi.create("configmaps", {"metadata": {"name": "x", "labels": {"k": "v"}}}, "other")
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    found = core.list_config_map_for_all_namespaces(label_selector="k=v")
    assert [(i.metadata.namespace, i.metadata.name) for i in found.items] == [
        (NS, "x"),
        ("other", "x"),
    ]
    assert [i.metadata.name for i in core.list_namespaced_config_map("other").items] == ["x"]


def test_chunked_lists_with_continue_tokens(kubeapi: KubeApiEmulator, kube_client: Any) -> None:
    for i in range(7):
        kubeapi.create("configmaps", {"metadata": {"name": f"cm-{i}"}}, NS)
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    first = core.list_namespaced_config_map(NS, limit=3)
    assert [i.metadata.name for i in first.items] == ["cm-0", "cm-1", "cm-2"]
    assert first.metadata.remaining_item_count == 4 and first.metadata._continue
    kubeapi.create("configmaps", {"metadata": {"name": "cm-9"}}, NS)  # between chunks
    second = core.list_namespaced_config_map(NS, limit=3, _continue=first.metadata._continue)
    third = core.list_namespaced_config_map(NS, limit=3, _continue=second.metadata._continue)
    names = [i.metadata.name for page in (first, second, third) for i in page.items]
    assert names == [f"cm-{i}" for i in (0, 1, 2, 3, 4, 5, 6, 9)]
    assert not third.metadata._continue
    # Every chunk reports the first chunk's resourceVersion, so a watch from it misses nothing.
    assert (
        first.metadata.resource_version
        == second.metadata.resource_version
        == third.metadata.resource_version
    )
    kubeapi.compact()
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map(NS, limit=3, _continue=first.metadata._continue)
    assert e.value.status == 410


def test_selector_parsing_directly() -> None:
    selector = LabelSelector.parse("a in (x, y), !b, c!=z")
    assert selector.matches({"a": "x"})
    assert not selector.matches({"a": "x", "b": ""})
    assert not selector.matches({"a": "x", "c": "z"})
    assert not selector.matches({})
    with pytest.raises(BadRequest):
        LabelSelector.parse("a = = b")
    assert FieldSelector.parse("metadata.name=a", CONFIGMAPS).exact_name() == "a"
    assert FieldSelector.parse("metadata.name!=a", CONFIGMAPS).exact_name() is None

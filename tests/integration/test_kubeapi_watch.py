"""Watch streams: initial state, resuming from a resourceVersion with nothing lost or
repeated, selector transitions, timeouts and bookmarks, 410 Gone, dropped connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.kubeapi import KubeApiEmulator

NS = "default"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"


class Stream:
    """One open watch connection, read event by event."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next event, or None when the server ended the stream."""
        async with asyncio.timeout(timeout):
            line = await self.response.content.readline()
        return json.loads(line) if line else None

    async def take(self, n: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for _ in range(n):
            event = await self.next()
            assert event is not None, f"the stream ended after {events}"
            events.append(event)
        return events

    async def rest(self) -> list[dict[str, Any]]:
        events = []
        while (event := await self.next()) is not None:
            events.append(event)
        return events


@asynccontextmanager
async def watch(
    api: KubeApiEmulator, path: str = CONFIGMAPS, **params: str
) -> AsyncIterator[Stream]:
    headers = {"Authorization": f"Bearer {api.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(api.url + path, params={"watch": "true", **params}) as response,
    ):
        assert response.status == 200, await response.text()
        yield Stream(response)


def _cm(api: KubeApiEmulator, name: str, ns: str = NS, **labels: str) -> dict[str, Any]:
    return api.create("configmaps", {"metadata": {"name": name, "labels": labels}}, ns)


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


async def test_a_watch_without_resource_version_starts_with_the_current_state(
    kubeapi: KubeApiEmulator,
) -> None:
    _cm(kubeapi, "a")
    _cm(kubeapi, "b")
    async with watch(kubeapi) as stream:
        assert _summary(await stream.take(2)) == [("ADDED", "a"), ("ADDED", "b")]
        _cm(kubeapi, "c")
        kubeapi.patch("configmaps", "a", {"data": {"k": "v"}}, NS)
        kubeapi.delete("configmaps", "b", NS)
        events = await stream.take(3)
    assert _summary(events) == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert events[1]["object"]["data"] == {"k": "v"}
    assert events[0]["object"]["kind"] == "ConfigMap" and events[0]["object"]["apiVersion"] == "v1"


async def test_list_then_watch_loses_and_repeats_nothing(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    _cm(kubeapi, "a")
    _cm(kubeapi, "b")
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    listed = core.list_namespaced_config_map(NS)
    list_rv = listed.metadata.resource_version
    # Changes in the gap between the list and the watch.
    _cm(kubeapi, "x")
    kubeapi.patch("configmaps", "a", {"data": {"k": "v"}}, NS)
    kubeapi.delete("configmaps", "b", NS)
    async with watch(kubeapi, resourceVersion=list_rv) as stream:
        gap = await stream.take(3)
        _cm(kubeapi, "live")
        live = await stream.take(1)
    assert _summary(gap + live) == [
        ("ADDED", "x"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
        ("ADDED", "live"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in gap + live]
    assert rvs == sorted(rvs) and rvs[0] > int(list_rv)


async def test_a_deletion_carries_its_own_resource_version(kubeapi: KubeApiEmulator) -> None:
    created = _cm(kubeapi, "a")
    async with watch(kubeapi, resourceVersion=created["metadata"]["resourceVersion"]) as stream:
        kubeapi.delete("configmaps", "a", NS)
        (deleted,) = await stream.take(1)
    assert deleted["type"] == "DELETED"
    assert int(deleted["object"]["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )


async def test_selectors_turn_transitions_into_added_and_deleted(kubeapi: KubeApiEmulator) -> None:
    _cm(kubeapi, "a", app="web")
    _cm(kubeapi, "other", app="db")
    async with watch(kubeapi, labelSelector="app=web") as stream:
        assert _summary(await stream.take(1)) == [("ADDED", "a")]
        kubeapi.patch("configmaps", "a", {"metadata": {"labels": {"app": "db"}}}, NS)
        kubeapi.patch("configmaps", "other", {"data": {"unseen": "1"}}, NS)
        kubeapi.patch("configmaps", "a", {"metadata": {"labels": {"app": "web"}}}, NS)
        kubeapi.patch("configmaps", "a", {"data": {"k": "v"}}, NS)
        events = await stream.take(3)
    assert _summary(events) == [("DELETED", "a"), ("ADDED", "a"), ("MODIFIED", "a")]
    assert events[0]["object"]["metadata"]["labels"] == {"app": "db"}  # the state that left


async def test_field_selector_and_named_watches(kubeapi: KubeApiEmulator) -> None:
    _cm(kubeapi, "a")
    _cm(kubeapi, "b")
    async with (
        watch(kubeapi, f"{CONFIGMAPS}/b") as named,
        watch(kubeapi, fieldSelector="metadata.name!=b") as rest,
    ):
        assert _summary(await named.take(1)) == [("ADDED", "b")]
        assert _summary(await rest.take(1)) == [("ADDED", "a")]
        kubeapi.patch("configmaps", "a", {"data": {"k": "1"}}, NS)
        kubeapi.patch("configmaps", "b", {"data": {"k": "1"}}, NS)
        assert _summary(await named.take(1)) == [("MODIFIED", "b")]
        assert _summary(await rest.take(1)) == [("MODIFIED", "a")]


async def test_cluster_wide_watch_sees_every_namespace(kubeapi: KubeApiEmulator) -> None:
    kubeapi.create("namespaces", {"metadata": {"name": "other"}})
    async with (
        watch(
            kubeapi, "/api/v1/configmaps", resourceVersion=str(kubeapi.store.resource_version)
        ) as everywhere,
        watch(kubeapi, resourceVersion=str(kubeapi.store.resource_version)) as here,
    ):
        _cm(kubeapi, "far", "other")
        _cm(kubeapi, "near")
        assert _summary(await everywhere.take(2)) == [("ADDED", "far"), ("ADDED", "near")]
        assert _summary(await here.take(1)) == [("ADDED", "near")]


async def test_timeout_seconds_ends_the_stream_with_a_bookmark(kubeapi: KubeApiEmulator) -> None:
    _cm(kubeapi, "a")
    rv = str(kubeapi.store.resource_version)
    async with watch(
        kubeapi, resourceVersion=rv, timeoutSeconds="1", allowWatchBookmarks="true"
    ) as stream:
        _cm(kubeapi, "b")
        events = await stream.rest()
    assert _summary(events)[0] == ("ADDED", "b")
    bookmark = events[-1]
    assert bookmark["type"] == "BOOKMARK" and bookmark["object"]["kind"] == "ConfigMap"
    assert bookmark["object"]["metadata"]["resourceVersion"] == str(kubeapi.store.resource_version)
    async with watch(kubeapi, resourceVersion=rv, timeoutSeconds="1") as stream:
        assert _summary(await stream.rest()) == [("ADDED", "b")]


async def test_too_old_resource_version_is_410_inside_the_stream() -> None:
    with KubeApiEmulator(history_limit=2) as api:
        first = _cm(api, "a")
        for name in ("b", "c", "d"):
            _cm(api, name)
        async with watch(api, resourceVersion=first["metadata"]["resourceVersion"]) as stream:
            events = await stream.rest()
        assert len(events) == 1 and events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["code"] == 410 and status["reason"] == "Expired"
        assert "too old resource version" in status["message"]
        # Within the kept history a resume still works.
        recent = str(api.store.resource_version - 1)
        async with watch(api, resourceVersion=recent) as stream:
            assert _summary(await stream.take(1)) == [("ADDED", "d")]
        assert api.errors == []


async def test_the_history_also_has_a_memory_budget() -> None:
    with KubeApiEmulator(history_bytes=4096) as api:
        first = _cm(api, "first")
        for i in range(3):
            api.create(
                "configmaps", {"metadata": {"name": f"big-{i}"}, "data": {"k": "x" * 1500}}, NS
            )
        async with watch(api, resourceVersion=first["metadata"]["resourceVersion"]) as stream:
            (error,) = await stream.rest()
        assert error["type"] == "ERROR" and error["object"]["code"] == 410


def test_the_kubernetes_client_sees_410_as_an_api_exception(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    old = _cm(kubeapi, "a")["metadata"]["resourceVersion"]
    _cm(kubeapi, "b")
    kubeapi.compact()
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    with pytest.raises(ApiException) as e:
        for _ in kubernetes.watch.Watch().stream(
            core.list_namespaced_config_map, NS, resource_version=old, timeout_seconds=5
        ):
            pass
    assert e.value.status == 410


def test_the_kubernetes_client_watch_resumes_from_a_list(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    _cm(kubeapi, "a")
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    _cm(kubeapi, "b")
    kubeapi.delete("configmaps", "a", NS)
    watcher = kubernetes.watch.Watch()
    seen = []
    for event in watcher.stream(
        core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            watcher.stop()
    assert seen == [("ADDED", "b"), ("DELETED", "a")]


async def test_send_initial_events_ends_with_a_marked_bookmark(kubeapi: KubeApiEmulator) -> None:
    _cm(kubeapi, "a")
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    async with watch(kubeapi, **params) as stream:
        added, bookmark = await stream.take(2)
    assert _summary([added]) == [("ADDED", "a")]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    headers = {"Authorization": f"Bearer {kubeapi.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(
            kubeapi.url + CONFIGMAPS, params={"watch": "true", "sendInitialEvents": "true"}
        ) as response,
    ):
        assert response.status == 422


async def test_a_resource_version_from_the_future_is_refused(kubeapi: KubeApiEmulator) -> None:
    headers = {"Authorization": f"Bearer {kubeapi.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for params in (
            {"watch": "true", "resourceVersion": "999999"},
            {"resourceVersion": "999999"},
        ):
            async with session.get(kubeapi.url + CONFIGMAPS, params=params) as response:
                assert response.status == 504
                assert (await response.json())["reason"] == "Timeout"


async def test_a_dropped_watch_resumes_from_its_last_resource_version(
    kubeapi: KubeApiEmulator,
) -> None:
    _cm(kubeapi, "a")
    async with watch(kubeapi) as stream:
        (added,) = await stream.take(1)
        kubeapi.wait_for_watches("configmaps")
        assert kubeapi.drop_watches("configmaps") == 1
        _cm(kubeapi, "behind-the-cut")  # queued after the cut: never sent on this connection
        with pytest.raises(aiohttp.ClientPayloadError):
            await stream.rest()
    last_rv = added["object"]["metadata"]["resourceVersion"]
    async with watch(kubeapi, resourceVersion=last_rv) as stream:
        assert _summary(await stream.take(1)) == [("ADDED", "behind-the-cut")]


async def test_a_cleanly_closed_watch_just_ends(kubeapi: KubeApiEmulator) -> None:
    async with watch(kubeapi) as stream:
        kubeapi.wait_for_watches("configmaps")
        assert kubeapi.drop_watches(abrupt=False) == 1
        assert await stream.rest() == []
    kubeapi.wait_for_watches(count=0, exactly=True)


async def test_custom_resource_watches(kubeapi: KubeApiEmulator) -> None:
    from tests.integration.conftest import TEST_MANIFESTS

    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    path = f"/apis/test.cairn.dev/v1/namespaces/{NS}/widgets"
    async with watch(kubeapi, path, resourceVersion=str(kubeapi.store.resource_version)) as stream:
        kubeapi.create(
            "widgets.test.cairn.dev", {"metadata": {"name": "w"}, "spec": {"message": "m"}}, NS
        )
        kubeapi.patch_status("widgets.test.cairn.dev", "w", {"phase": "Ready"}, NS)
        events = await stream.take(2)
    assert _summary(events) == [("ADDED", "w"), ("MODIFIED", "w")]
    assert events[1]["object"]["status"] == {"phase": "Ready"}
    assert events[1]["object"]["apiVersion"] == "test.cairn.dev/v1"

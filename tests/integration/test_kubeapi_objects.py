"""Server-set metadata, create/get answers and errors, and per-type admission rules."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import aiohttp
import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.kubeapi import KubeApiEmulator

NS = "default"


def _core(client: Any) -> Any:
    return kubernetes.client.CoreV1Api(client)


def _status_of(e: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.value.body or "")
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == e.value.status
    return body


def test_server_sets_identity_and_versions(kube_client: Any) -> None:
    core = _core(kube_client)
    a = core.create_namespaced_config_map(NS, {"metadata": {"name": "a", "uid": "forged"}})
    b = core.create_namespaced_config_map(NS, {"metadata": {"name": "b"}})
    assert a.metadata.uid != "forged" and re.fullmatch(r"[0-9a-f-]{36}", a.metadata.uid)
    assert a.metadata.uid != b.metadata.uid
    assert a.metadata.namespace == NS  # from the URL
    assert a.metadata.generation == 1
    assert a.metadata.creation_timestamp is not None
    # One global, monotonic resourceVersion across resource types.
    secret = core.create_namespaced_secret(NS, {"metadata": {"name": "s"}})
    rvs = [int(x.metadata.resource_version) for x in (a, b, secret)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    assert (
        core.read_namespaced_config_map("a", NS).metadata.resource_version
        == a.metadata.resource_version
    )


def test_generate_name(kube_client: Any) -> None:
    core = _core(kube_client)
    names = {
        core.create_namespaced_config_map(NS, {"metadata": {"generateName": "run-"}}).metadata.name
        for _ in range(5)
    }
    assert len(names) == 5
    assert all(re.fullmatch(r"run-[a-z0-9]{5}", n) for n in names)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(NS, {"metadata": {}})
    assert e.value.status == 422 and "name or generateName is required" in _status_of(e)["message"]


async def test_post_answers_201_and_conflicts_answer_409(kubeapi: KubeApiEmulator) -> None:
    headers = {"Authorization": f"Bearer {kubeapi.token}"}
    url = f"{kubeapi.url}/api/v1/namespaces/{NS}/configmaps"
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(url, json={"metadata": {"name": "x"}}) as response:
            assert response.status == 201
            assert (await response.json())["metadata"]["name"] == "x"
        async with session.post(url, json={"metadata": {"name": "x"}}) as response:
            assert response.status == 409
            body = await response.json()
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "x" already exists'
    assert body["details"] == {"name": "x", "kind": "configmaps"}


def test_not_found_is_a_404_status(kube_client: Any) -> None:
    with pytest.raises(ApiException) as e:
        _core(kube_client).read_namespaced_config_map("ghost", NS)
    body = _status_of(e)
    assert e.value.status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "ghost" not found'
    with pytest.raises(ApiException) as e:
        kubernetes.client.BatchV1Api(kube_client).read_namespaced_job("ghost", NS)
    assert _status_of(e)["message"] == 'jobs.batch "ghost" not found'


def test_namespaces_must_exist_and_match(kube_client: Any) -> None:
    core = _core(kube_client)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    assert e.value.status == 404 and _status_of(e)["message"] == 'namespaces "nowhere" not found'
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(NS, {"metadata": {"name": "x", "namespace": "other"}})
    assert e.value.status == 400
    core.create_namespace({"metadata": {"name": "team-a"}})
    assert (
        core.create_namespaced_config_map("team-a", {"metadata": {"name": "x"}}).metadata.namespace
        == "team-a"
    )
    assert core.read_namespace("team-a").status.phase == "Active"


@pytest.mark.parametrize(
    ("meta", "fragment"),
    [
        ({"name": "Not_A_Name"}, "metadata.name"),
        ({"name": "x" * 254}, "no more than 253"),
        ({"name": "ok", "labels": {"k": "v" * 64}}, "no more than 63"),
        ({"name": "ok", "labels": {"bad key!": "v"}}, "metadata.labels"),
        ({"name": "ok", "annotations": {"big": "x" * (256 * 1024)}}, "262144 bytes"),
        ({"name": "ok", "finalizers": ["not a qualified name"]}, "metadata.finalizers"),
        (
            {
                "name": "ok",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": ""}
                ],
            },
            "ownerReferences[0].uid",
        ),
    ],
)
def test_invalid_metadata_is_a_422(kube_client: Any, meta: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ApiException) as e:
        _core(kube_client).create_namespaced_config_map(NS, {"metadata": meta})
    body = _status_of(e)
    assert e.value.status == 422 and body["reason"] == "Invalid"
    assert fragment in body["message"]


def test_resource_version_on_create_and_mismatched_kind_are_400(kube_client: Any) -> None:
    core = _core(kube_client)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(NS, {"metadata": {"name": "x", "resourceVersion": "3"}})
    assert e.value.status == 400
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(NS, {"kind": "Secret", "metadata": {"name": "x"}})
    assert e.value.status == 400 and "kind" in _status_of(e)["message"]


async def test_size_limits(kubeapi: KubeApiEmulator) -> None:
    headers = {"Authorization": f"Bearer {kubeapi.token}"}
    url = f"{kubeapi.url}/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
    async with aiohttp.ClientSession(headers=headers) as session:
        # Above etcd's 1.5 MiB per object: the API server reports etcd's refusal as a 500.
        big = {"metadata": {"name": "big"}, "spec": {"holderIdentity": "x" * (1600 * 1024)}}
        async with session.post(url, json=big) as response:
            assert response.status == 500
            assert "etcdserver: request is too large" in (await response.json())["message"]
        # Above 3 MiB the body is refused before decoding.
        huge = {"metadata": {"name": "huge"}, "spec": {"holderIdentity": "x" * (3200 * 1024)}}
        async with session.post(url, json=huge) as response:
            assert response.status == 413
    assert kubeapi.find("leases", "big", NS) is None


def test_secret_string_data_becomes_base64_data(kube_client: Any) -> None:
    secret = _core(kube_client).create_namespaced_secret(
        NS, {"metadata": {"name": "s"}, "stringData": {"token": "hunter2"}, "data": {"a": "YQ=="}}
    )
    assert secret.type == "Opaque"
    assert secret.data == {"a": "YQ==", "token": base64.b64encode(b"hunter2").decode()}
    assert secret.string_data is None
    with pytest.raises(ApiException) as e:
        _core(kube_client).create_namespaced_secret(
            NS, {"metadata": {"name": "t"}, "data": {"a": "%%%"}}
        )
    assert e.value.status == 422


def test_configmaps_hold_at_most_one_mebibyte(kube_client: Any) -> None:
    with pytest.raises(ApiException) as e:
        _core(kube_client).create_namespaced_config_map(
            NS, {"metadata": {"name": "x"}, "data": {"spec.json": "x" * (1024 * 1024 + 1)}}
        )
    assert e.value.status == 422 and "1048576 bytes" in _status_of(e)["message"]


def _job(name: str, restart_policy: str | None = "Never") -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    if restart_policy:
        pod_spec["restartPolicy"] = restart_policy
    return {"metadata": {"name": name}, "spec": {"template": {"spec": pod_spec}}}


def test_jobs_get_defaults_and_are_validated(kube_client: Any) -> None:
    batch: Any = kubernetes.client.BatchV1Api(kube_client)
    job = batch.create_namespaced_job(NS, _job("build-1"))
    assert job.spec.backoff_limit == 6 and job.spec.completions == 1 and job.spec.parallelism == 1
    assert job.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": job.metadata.uid
    }
    assert job.spec.template.metadata.labels["job-name"] == "build-1"
    assert job.status.active is None and job.status.succeeded is None  # status starts empty

    for bad, fragment in [
        (_job("x", None), "restartPolicy"),
        (_job("y", "Always"), "restartPolicy"),
        (_job("z" * 64), "no more than 63"),
    ]:
        with pytest.raises(ApiException) as e:
            batch.create_namespaced_job(NS, bad)
        assert e.value.status == 422 and fragment in _status_of(e)["message"]

    with pytest.raises(ApiException) as e:
        batch.patch_namespaced_job(
            "build-1",
            NS,
            {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "other"}]}}}},
        )
    assert e.value.status == 422 and "field is immutable" in _status_of(e)["message"]


def test_pods_start_pending(kube_client: Any) -> None:
    pod = _core(kube_client).create_namespaced_pod(
        NS,
        {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"},
        },
    )
    assert pod.status.phase == "Pending"


def test_a_namespace_with_a_null_spec_gets_the_default_finalizer(kubeapi: KubeApiEmulator) -> None:
    """Found by the robustness property test: ``"spec": null`` crashed the create."""
    created = kubeapi.create("namespaces", {"metadata": {"name": "nulled"}, "spec": None})
    assert created["spec"] == {"finalizers": ["kubernetes"]}
    assert created["status"] == {"phase": "Active"}

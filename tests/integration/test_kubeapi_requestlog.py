"""The request counters and the bounded request log that tests and benchmarks read."""

from __future__ import annotations

import contextlib
import http.client
import time
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.kubeapi import EmulatorUsageError, KubeApiEmulator


def test_counts_by_verb_resource_subresource_and_status(
    kubeapi: KubeApiEmulator, kube_client: Any
) -> None:
    core: Any = kubernetes.client.CoreV1Api(kube_client)
    batch: Any = kubernetes.client.BatchV1Api(kube_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    with contextlib.suppress(ApiException):  # AlreadyExists, counted with its status
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.read_namespaced_config_map("a", "default")
    core.list_namespaced_config_map("default")
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    batch.create_namespaced_job(
        "default",
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
    batch.patch_namespaced_job_status("j", "default", {"status": {"active": 1}})
    kubernetes.client.CoreApi(kube_client).get_api_versions()

    assert kubeapi.request_count("create", "configmaps") == 2
    assert kubeapi.request_count("create", "configmaps", status=201) == 1
    assert kubeapi.request_count("create", "configmaps", status=409) == 1
    assert kubeapi.request_count("get", "configmaps") == 1
    assert kubeapi.request_count("list", "configmaps") == 1
    assert kubeapi.request_count("patch", "configmaps") == 1
    assert kubeapi.request_count("create", "jobs.batch") == 1
    assert kubeapi.request_count("patch", "jobs", subresource="status") == 1
    assert kubeapi.request_count("patch", "jobs", subresource=None) == 0
    assert kubeapi.request_count(namespace="default") == 7
    assert kubeapi.request_count(path="/api") == 1
    assert kubeapi.request_count() == 8

    kubeapi.reset_request_counts()
    assert kubeapi.request_count() == 0
    core.read_namespaced_config_map("a", "default")
    assert kubeapi.request_count("get") == 1


def test_in_process_calls_are_not_counted(kubeapi: KubeApiEmulator) -> None:
    kubeapi.create("configmaps", {"metadata": {"name": "a"}}, "default")
    kubeapi.patch("configmaps", "a", {"data": {"k": "v"}}, "default")
    kubeapi.get("configmaps", "a", "default")
    assert kubeapi.request_count() == 0


def test_the_log_is_bounded_and_counting_does_not_grow_with_traffic(kube_client: Any) -> None:
    with KubeApiEmulator(request_log_size=10) as api:
        client = api.api_client()
        core: Any = kubernetes.client.CoreV1Api(client)
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
        for _ in range(50):
            core.read_namespaced_config_map("a", "default")
        records = api.recent_requests()
        assert len(records) == 10
        assert [r.seq for r in records] == list(range(42, 52))
        assert all(
            r.verb == "get" and r.resource == "configmaps" and r.name == "a" for r in records
        )
        assert api.request_count("get", "configmaps") == 50
        # One counter row per kind of request: a count query costs the same after 50 or 50,000 GETs.
        assert api.requests.rows == 2
        client.close()


def test_records_describe_the_request(kubeapi: KubeApiEmulator, kube_client: Any) -> None:
    before = time.time()
    kubernetes.client.CoreV1Api(kube_client).list_namespaced_config_map(
        "default", label_selector="a=b"
    )
    (record,) = kubeapi.recent_requests()
    assert (record.method, record.verb, record.resource, record.namespace, record.status) == (
        "GET",
        "list",
        "configmaps",
        "default",
        200,
    )
    assert record.query == "labelSelector=a%3Db"
    assert record.user_agent.startswith("OpenAPI-Generator")
    assert before <= record.at <= time.time()


def test_each_user_has_a_token_and_requests_are_counted_per_user(
    kubeapi: KubeApiEmulator, kube_client: Any, tmp_path: Path
) -> None:
    """Two clients alike but for their token (two operator replicas) are told apart."""
    token_a = kubeapi.add_user("replica-a")
    kubeapi.add_user("replica-b", token="b-secret")
    assert kubeapi.token_of("replica-b") == "b-secret" != token_a
    config_b = kubeapi.write_kubeconfig(tmp_path / "b.kubeconfig", user="replica-b")
    client_a = kubeapi.api_client(user="replica-a")
    client_b = kubernetes.config.new_client_from_config(config_file=str(config_b))
    try:
        kubernetes.client.CoreV1Api(client_a).create_namespaced_config_map(
            "default", {"metadata": {"name": "a"}}
        )
        kubernetes.client.CoreV1Api(client_b).read_namespaced_config_map("a", "default")
        kubernetes.client.CoreV1Api(client_b).list_namespaced_config_map("default")
        kubernetes.client.CoreV1Api(kube_client).read_namespaced_config_map("a", "default")
    finally:
        client_a.close()
        client_b.close()

    assert kubeapi.request_count("create", "configmaps", user="replica-a") == 1
    assert kubeapi.request_count("create", "configmaps", user="replica-b") == 0
    assert kubeapi.request_count(user="replica-b") == 2
    assert kubeapi.request_count("get", "configmaps", user="cairn-test") == 1
    assert kubeapi.request_count() == 4
    assert [r.user for r in kubeapi.recent_requests()] == [
        "replica-a",
        "replica-b",
        "replica-b",
        "cairn-test",
    ]


def test_an_unknown_token_is_refused_and_users_are_unique(
    kubeapi: KubeApiEmulator, tmp_path: Path
) -> None:
    kubeapi.add_user("replica-a", token="a-secret")
    with pytest.raises(EmulatorUsageError, match="exists already"):
        kubeapi.add_user("replica-a")
    with pytest.raises(EmulatorUsageError, match="belongs to another user"):
        kubeapi.add_user("replica-b", token="a-secret")
    with pytest.raises(EmulatorUsageError, match="no user 'nobody'"):
        kubeapi.kubeconfig(user="nobody")
    configuration = kubernetes.client.Configuration()
    configuration.host = kubeapi.url
    configuration.api_key = {"BearerToken": "forged"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    with (
        kubernetes.client.ApiClient(configuration) as forged,
        pytest.raises(ApiException) as refused,
    ):
        kubernetes.client.CoreV1Api(forged).list_namespaced_config_map("default")
    assert refused.value.status == 401
    (record,) = kubeapi.recent_requests()
    assert (record.status, record.user) == (401, "")


def test_open_watches_are_told_apart_by_user(kubeapi: KubeApiEmulator) -> None:
    token = kubeapi.add_user("replica-a")
    connection = http.client.HTTPConnection(kubeapi.host, kubeapi.port, timeout=10)
    try:
        connection.request(
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert connection.getresponse().status == 200
        (watch,) = kubeapi.wait_for_watches("configmaps", user="replica-a")
        assert watch.user == "replica-a"
        assert kubeapi.active_watches("configmaps", user="cairn-test") == []
    finally:
        connection.close()
    assert kubeapi.wait_for_watches("configmaps", 0, exactly=True, user="replica-a") == []
    assert kubeapi.request_count("watch", "configmaps", user="replica-a") == 1

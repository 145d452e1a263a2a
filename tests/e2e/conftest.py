"""End-to-end tests against a real cluster (kind), with the real operator image.

They run only when ``CAIRN_E2E_KUBECONFIG`` names a kubeconfig; otherwise
every test is skipped with that reason. Before running them, build the image
and make it available to the cluster (docs/kubernetes.md, "Deploy on kind"):

    docker build -t cairn:dev . && kind load docker-image cairn:dev
    CAIRN_E2E_KUBECONFIG=~/.kube/config pytest tests/e2e -ra

``CAIRN_E2E_IMAGE`` overrides the image (default ``cairn:dev``) and
``CAIRN_E2E_TIMEOUT`` the seconds each run may take (default 300). The
fixtures apply ``crds/`` and ``manifests/`` with server-side apply (what
``kubectl apply -k`` does), create the operator key Secret when it is
missing, and run each test in a fresh namespace deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = os.environ.get("CAIRN_E2E_KUBECONFIG")
IMAGE = os.environ.get("CAIRN_E2E_IMAGE", "cairn:dev")
RUN_TIMEOUT = float(os.environ.get("CAIRN_E2E_TIMEOUT", "300"))
FIELD_MANAGER = "cairn-e2e"
SKIP_REASON = "set CAIRN_E2E_KUBECONFIG to a cluster's kubeconfig to run the end-to-end tests"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KUBECONFIG:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


def kustomization_documents(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization lists (plain files: no patches are used)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    out = []
    for resource in kustomization["resources"]:
        out += [d for d in yaml.safe_load_all((directory / resource).read_text()) if d]
    return out


def with_image(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with ``cairn:dev`` replaced by the image under test."""
    if obj["kind"] != "Deployment" or IMAGE == "cairn:dev":
        return obj
    for container in obj["spec"]["template"]["spec"]["containers"]:
        if container["image"] == "cairn:dev":
            container["image"] = IMAGE
        for env in container.get("env", []):
            if env["name"] == "CAIRN_RUNNER_IMAGE":
                env["value"] = IMAGE
    return obj


class Cluster:
    """The kubernetes client, with waits that watch rather than sleep."""

    def __init__(self) -> None:
        from kubernetes import client, config, dynamic

        self.api_client = config.new_client_from_config(config_file=KUBECONFIG)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)
        self.extensions = client.ApiextensionsV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self._dynamic = dynamic.DynamicClient
        self.dynamic = dynamic.DynamicClient(self.api_client)

    def as_dict(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict):
            return obj
        result: dict[str, Any] = self.api_client.sanitize_for_serialization(obj)
        return result

    def apply(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            resource = self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            self.dynamic.server_side_apply(
                resource,
                body=obj,
                namespace=obj["metadata"].get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )

    def refresh_discovery(self) -> None:
        # New kinds (from CRDs applied moments ago) are unknown to a cached client.
        self.dynamic = self._dynamic(self.api_client)

    def wait_for(
        self,
        list_call: Callable[..., Any],
        *,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float,
        what: str,
        describe: Callable[[], str] = lambda: "",
        **args: Any,
    ) -> dict[str, Any]:
        """The object called ``name`` once ``predicate`` holds, by list then watch."""
        from kubernetes import watch

        deadline = time.monotonic() + timeout
        selector = f"metadata.name={name}"
        last: dict[str, Any] | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            listing = self.as_dict(list_call(field_selector=selector, **args))
            for item in listing.get("items", []):
                last = item
                if predicate(item):
                    return item
            stream = watch.Watch().stream(
                list_call,
                field_selector=selector,
                resource_version=listing["metadata"]["resourceVersion"],
                timeout_seconds=max(1, int(remaining)),
                **args,
            )
            for event in stream:
                obj = self.as_dict(event["object"])
                if event["type"] == "ERROR":
                    break  # e.g. 410 Gone: list again
                last = obj
                if event["type"] != "DELETED" and predicate(obj):
                    return obj
        status = (last or {}).get("status")
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {what}; last status: {status}\n{describe()}"
        )


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    return Cluster()


@pytest.fixture(scope="session")
def deployed(cluster: Cluster) -> Cluster:
    """Cairn installed: CRDs established, the operator Deployment available."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    crds = kustomization_documents(ROOT / "crds")
    cluster.apply(crds)
    for crd in crds:
        cluster.wait_for(
            cluster.extensions.list_custom_resource_definition,
            name=crd["metadata"]["name"],
            predicate=lambda o: any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (o.get("status") or {}).get("conditions") or []
            ),
            timeout=60,
            what=f"CRD {crd['metadata']['name']} to be established",
        )
    cluster.refresh_discovery()
    manifests = [with_image(o) for o in kustomization_documents(ROOT / "manifests")]
    namespace = [o for o in manifests if o["kind"] == "Namespace"]
    cluster.apply(namespace)
    for secret, key, value in (
        ("cairn-operator-key", "key", secrets.token_hex(32)),
        ("cairn-webhook-secrets", "default", secrets.token_hex(32)),
    ):
        try:
            cluster.core.create_namespaced_secret(
                "cairn-system",
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name=secret), string_data={key: value}
                ),
            )
        except ApiException as error:
            if error.status != 409:  # already there: keep the existing key
                raise
    cluster.apply([o for o in manifests if o["kind"] != "Namespace"])
    cluster.wait_for(
        cluster.apps.list_namespaced_deployment,
        namespace="cairn-system",
        name="cairn-operator",
        predicate=lambda o: (
            (o.get("status") or {}).get("availableReplicas", 0) >= o["spec"]["replicas"]
        ),
        timeout=180,
        what="the operator Deployment to be available",
    )
    return cluster


@pytest.fixture
def namespace(deployed: Cluster) -> Iterator[str]:
    from kubernetes import client

    name = f"cairn-e2e-{secrets.token_hex(3)}"
    deployed.core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={"cairn.dev/e2e": "true"})
        )
    )
    try:
        yield name
    finally:
        deployed.core.delete_namespace(name, propagation_policy="Background")

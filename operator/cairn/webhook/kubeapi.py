"""The receiver's store over the Kubernetes API (``KubeCluster``).

The receiver makes three kinds of calls (create a CIRun, list CIWorkflows by
label, patch one annotation of a CIWorkflow) through the shared client,
``cairn.k8s.kubeclient``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cairn.k8s.errors import AlreadyExists, Conflict, KubeApiError, NotFound
from cairn.k8s.kubeclient import JSON_PATCH, MERGE_PATCH, KubeClient
from cairn.k8s.resources import CIRUN_PLURAL, CIWORKFLOW_PLURAL, GROUP, VERSION

_GROUP_PATH = f"/apis/{GROUP}/{VERSION}"


class KubeCluster:
    """``RunStore`` and ``WorkflowAnnotator`` over the Kubernetes API."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
        path = f"{_GROUP_PATH}/namespaces/{quote(namespace)}/{CIRUN_PLURAL}"
        try:
            await self.client.request("POST", path, body=body)
        except AlreadyExists:
            return False
        return True

    async def check_ready(self) -> None:
        try:
            discovery = await self.client.request("GET", _GROUP_PATH)
        except NotFound:
            raise KubeApiError(
                f"the API server does not serve {GROUP}/{VERSION}: are the CRDs installed?"
            ) from None
        served = {r.get("name") for r in discovery.get("resources", [])}
        missing = {CIRUN_PLURAL, CIWORKFLOW_PLURAL} - served
        if missing:
            raise KubeApiError(f"the API server does not serve {', '.join(sorted(missing))}")

    async def list_workflows(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        path = f"{_GROUP_PATH}/namespaces/{quote(namespace)}/{CIWORKFLOW_PLURAL}"
        answer = await self.client.request("GET", path, params={"labelSelector": label_selector})
        items = answer.get("items") or []
        return [item for item in items if isinstance(item, dict)]

    async def annotate_workflow(
        self, namespace: str, name: str, key: str, value: str, *, replaces: str | None
    ) -> None:
        path = f"{_GROUP_PATH}/namespaces/{quote(namespace)}/{CIWORKFLOW_PLURAL}/{quote(name)}"
        if replaces is None:
            patch: Any = {"metadata": {"annotations": {key: value}}}
            content_type = MERGE_PATCH
        else:
            # the precondition covers this one annotation, not the whole object
            pointer = "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")
            patch = [
                {"op": "test", "path": pointer, "value": replaces},
                {"op": "replace", "path": pointer, "value": value},
            ]
            content_type = JSON_PATCH
        try:
            await self.client.request("PATCH", path, body=patch, content_type=content_type)
        except KubeApiError as exc:
            # 422: a failed test, or annotations over their limit: re-read and decide again
            if exc.api_status == 422:
                raise Conflict(str(exc), api_status=422, reason=exc.reason) from None
            raise


#: (API group, resource, verbs) the receiver uses; ``manifests/webhook.yaml`` grants
#: exactly these (a unit test compares them), so its RBAC stays least-privilege
RECEIVER_PERMISSIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (GROUP, CIRUN_PLURAL, ("create",)),
    (GROUP, CIWORKFLOW_PLURAL, ("list", "patch")),
)

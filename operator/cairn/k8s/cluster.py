"""The operator's own Kubernetes API calls, over the light async client.

Kopf watches; everything the operator writes or reads on purpose goes through
:class:`Cluster`: a few typed calls over ``cairn.k8s.kubeclient.KubeClient``
(aiohttp, no thread pool), so the operator does not carry the official
client's models in memory. Errors are the client's: ``NotFound``,
``AlreadyExists``, ``Conflict`` (409 other than AlreadyExists, and a failed
JSON-patch ``test`` here too), ``KubeUnavailable`` (connection errors, 5xx
gateways) and ``KubeApiError`` for anything else.
"""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from cairn.k8s.errors import (
    AlreadyExists,
    Conflict,
    KubeApiError,
    KubeUnavailable,
    NotFound,
)
from cairn.k8s.kubeclient import JSON_PATCH, MERGE_PATCH, KubeClient, KubeConnection
from cairn.k8s.resources import CIRUN_PLURAL, CIWORKFLOW_PLURAL, GROUP, RUNNERCLASS_PLURAL, VERSION

__all__ = [
    "AlreadyExists",
    "Cluster",
    "Conflict",
    "KubeApiError",
    "KubeUnavailable",
    "NotFound",
    "is_transient",
]

_CAIRN = f"/apis/{GROUP}/{VERSION}"

#: plural -> API path prefix (namespaced resources get ``/namespaces/<ns>`` inserted)
_PREFIXES = {
    CIRUN_PLURAL: _CAIRN,
    CIWORKFLOW_PLURAL: _CAIRN,
    RUNNERCLASS_PLURAL: _CAIRN,
    "jobs": "/apis/batch/v1",
    "pods": "/api/v1",
    "configmaps": "/api/v1",
    "secrets": "/api/v1",
    "events": "/api/v1",
    "clusterkopfpeerings": "/apis/kopf.dev/v1",
    "kopfpeerings": "/apis/kopf.dev/v1",
}
_CLUSTER_SCOPED = frozenset({RUNNERCLASS_PLURAL, "clusterkopfpeerings"})


def is_transient(error: Exception) -> bool:
    """Worth retrying later: the API was away, overloaded, or timed out."""
    if isinstance(error, KubeUnavailable):
        return True
    status = getattr(error, "api_status", None)
    return isinstance(error, KubeApiError) and status in (429, 500, 502, 503, 504)


def json_pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


class Cluster:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, *, timeout_seconds: float = 10.0) -> Cluster:
        """Credentials as ``kubectl`` finds them: in-cluster, else ``$KUBECONFIG``."""
        return cls(KubeClient(KubeConnection.load(), timeout_seconds=timeout_seconds))

    async def close(self) -> None:
        await self.client.close()

    @staticmethod
    def path(plural: str, namespace: str | None, name: str | None = None, sub: str = "") -> str:
        prefix = _PREFIXES[plural]
        if plural not in _CLUSTER_SCOPED:
            if not namespace:
                raise ValueError(f"{plural} are namespaced: a namespace is required")
            prefix += f"/namespaces/{quote(namespace)}"
        path = f"{prefix}/{plural}"
        if name is not None:
            path += f"/{quote(name)}"
        if sub:
            path += f"/{sub}"
        return path

    async def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any]:
        return await self.client.request("GET", self.path(plural, namespace, name))

    async def find(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return await self.get(plural, namespace, name)
        except NotFound:
            return None

    async def list(
        self, plural: str, namespace: str | None, *, label_selector: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        answer = await self.client.request("GET", self.path(plural, namespace), params=params)
        return [item for item in answer.get("items") or [] if isinstance(item, dict)]

    async def create(self, plural: str, namespace: str | None, body: Any) -> dict[str, Any]:
        return await self.client.request("POST", self.path(plural, namespace), body=body)

    async def merge_patch(
        self, plural: str, namespace: str | None, name: str, patch: Any, *, status: bool = False
    ) -> dict[str, Any]:
        path = self.path(plural, namespace, name, "status" if status else "")
        return await self.client.request("PATCH", path, body=patch, content_type=MERGE_PATCH)

    async def json_patch(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        operations: builtins.list[dict[str, Any]],
    ) -> dict[str, Any]:
        """A JSON patch; a failed ``test`` operation (422) raises ``Conflict``."""
        path = self.path(plural, namespace, name)
        try:
            return await self.client.request(
                "PATCH", path, body=operations, content_type=JSON_PATCH
            )
        except KubeApiError as error:
            if error.api_status == 422 and not isinstance(error, Conflict):
                raise Conflict(str(error), api_status=422, reason=error.reason) from None
            raise

    async def delete(
        self, plural: str, namespace: str | None, name: str, *, propagation: str = "Background"
    ) -> bool:
        """Delete; False when it was already gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            await self.client.request("DELETE", self.path(plural, namespace, name), body=body)
        except NotFound:
            return False
        return True

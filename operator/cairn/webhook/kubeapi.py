"""A small asynchronous Kubernetes API client for the receiver.

The receiver makes three kinds of calls (create a CIRun, list CIWorkflows by
label, patch one annotation of a CIWorkflow), so instead of the official
client's thread pool it speaks HTTP through aiohttp, which it already runs.
Credentials still come from the official loader, so every kubeconfig form it
understands (certificates, tokens, exec plugins, in-cluster service accounts
with token rotation) works here too.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from cairn.k8s.resources import CIRUN_PLURAL, CIWORKFLOW_PLURAL, GROUP, VERSION
from cairn.webhook.errors import (
    AlreadyExists,
    ConfigError,
    Conflict,
    KubeApiError,
    KubeUnavailable,
    NotFound,
)

_GROUP_PATH = f"/apis/{GROUP}/{VERSION}"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class KubeConnection:
    """Where the API server is and how to authenticate to it."""

    host: str
    ssl: ssl.SSLContext | bool = True
    #: the ``Authorization`` header value, re-evaluated per request (tokens rotate)
    authorization: Callable[[], str | None] = lambda: None
    server_hostname: str | None = None
    proxy: str | None = None

    @classmethod
    def load(cls, kubeconfig: str | None = None, context: str | None = None) -> KubeConnection:
        """In-cluster when running in a pod and no kubeconfig is named; else the kubeconfig
        (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``)."""
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        cfg = client.Configuration()
        try:
            if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
                config.load_incluster_config(client_configuration=cfg)
            else:
                config.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=cfg
                )
        except (ConfigException, OSError) as exc:
            raise ConfigError(f"cannot load Kubernetes credentials: {exc}") from None
        if cfg.username and not cfg.api_key:
            raise ConfigError(
                "kubeconfig basic authentication (username/password) is not supported"
            )
        return cls(
            host=cfg.host.rstrip("/"),
            ssl=_ssl_context(cfg) if cfg.host.startswith("https:") else False,
            authorization=lambda: cfg.get_api_key_with_prefix("BearerToken"),
            server_hostname=cfg.tls_server_name,
            proxy=cfg.proxy,
        )


def _ssl_context(cfg: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if not cfg.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    return context


class KubeClient:
    """JSON over HTTP to the API server, with its errors as exceptions."""

    def __init__(self, connection: KubeConnection, *, timeout_seconds: float = 5.0) -> None:
        self.connection = connection
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Accept": "application/json"}
        authorization = self.connection.authorization()
        if authorization:
            headers["Authorization"] = authorization
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        url = self.connection.host + path
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                ssl=self.connection.ssl,
                server_hostname=self.connection.server_hostname,
                proxy=self.connection.proxy,
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise KubeUnavailable(f"{method} {path}: {exc or type(exc).__name__}") from None
        try:
            answer = json.loads(text) if text else {}
        except json.JSONDecodeError:
            answer = {}
        if status >= 400:
            raise _api_error(method, path, status, answer, text)
        if not isinstance(answer, dict):
            raise KubeApiError(f"{method} {path}: the API answered with {type(answer).__name__}")
        return answer


def _api_error(method: str, path: str, status: int, answer: Any, text: str) -> KubeApiError:
    reason = answer.get("reason", "") if isinstance(answer, dict) else ""
    message = answer.get("message") if isinstance(answer, dict) else None
    detail = f"{method} {path}: {status} {reason or ''} {message or text[:200]}".strip()
    if status == 404:
        return NotFound(detail, api_status=status, reason=reason)
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists(detail, api_status=status, reason=reason)
    if status == 409:
        return Conflict(detail, api_status=status, reason=reason)
    if status in (502, 503, 504):
        return KubeUnavailable(detail, api_status=status, reason=reason)
    return KubeApiError(detail, api_status=status, reason=reason)


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

"""A small asynchronous Kubernetes API client, shared by the operator and the receiver.

Both make a handful of JSON calls (create, get, list, patch, delete), so
instead of the official client's models and thread pool they speak HTTP
through aiohttp, which Kopf and the receiver already run. Credentials still
come from the official loader, so every kubeconfig form it understands
(certificates, tokens, exec plugins, in-cluster service accounts with token
rotation) works here too. Errors are ``cairn.k8s.errors``.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from cairn.k8s.errors import (
    AlreadyExists,
    Conflict,
    KubeApiError,
    KubeCredentialsError,
    KubeUnavailable,
    NotFound,
)

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
            raise KubeCredentialsError(f"cannot load Kubernetes credentials: {exc}") from None
        return cls(
            host=cfg.host.rstrip("/"),
            ssl=_ssl_context(cfg) if cfg.host.startswith("https:") else False,
            authorization=CachedAuthorization(lambda: cfg.get_api_key_with_prefix("BearerToken")),
            server_hostname=cfg.tls_server_name,
            proxy=cfg.proxy,
        )


class CachedAuthorization:
    """The ``Authorization`` header, re-read from the credentials at most every
    ``ttl_seconds`` (and after the API answered 401).

    The official loader refreshes tokens (in-cluster files, exec plugins) on
    every read by rebuilding its whole configuration: a measurable share of
    every request's cost. Tokens live for minutes to hours, and the official
    in-cluster loader itself re-reads its file once a minute."""

    def __init__(
        self,
        read: Callable[[], str | None],
        *,
        ttl_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl_seconds
        self._clock = clock
        self._value: str | None = None
        self._read_at: float | None = None

    def __call__(self) -> str | None:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._ttl:
            self._value, self._read_at = self._read(), now
        return self._value

    def invalidate(self) -> None:
        self._read_at = None


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
            data = orjson.dumps(body)
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
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise KubeUnavailable(f"{method} {path}: {exc or type(exc).__name__}") from None
        try:
            answer = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            answer = {}
        if status >= 400:
            if status == 401 and isinstance(self.connection.authorization, CachedAuthorization):
                self.connection.authorization.invalidate()  # a rotated token: read it again
            raise _api_error(method, path, status, answer, raw.decode(errors="replace"))
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

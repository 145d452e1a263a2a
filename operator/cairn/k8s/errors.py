"""Errors of the Kubernetes API, as the operator and the receiver see them.

They hide the transport (aiohttp) and keep what callers decide on: the API's
HTTP status and the ``reason`` of its Status object. The receiver maps them to
its own HTTP answers (``cairn.webhook.app``); the operator retries the
transient ones (``cairn.k8s.cluster.is_transient``).
"""

from __future__ import annotations

from cairn.errors import CairnError


class KubeCredentialsError(CairnError):
    """No usable credentials: the kubeconfig or the service account cannot be loaded."""


class KubeApiError(CairnError):
    """The Kubernetes API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, api_status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        #: the API server's HTTP status; None when it could not be reached
        self.api_status = api_status
        #: the ``reason`` of the API's Status object (``AlreadyExists``, ``Conflict``...)
        self.reason = reason


class KubeUnavailable(KubeApiError):
    """The API server could not be reached (connection error, timeout, 502-504)."""


class NotFound(KubeApiError):
    """404: the object (or the resource type) does not exist."""


class AlreadyExists(KubeApiError):
    """409 AlreadyExists: an object of that name exists."""


class Conflict(KubeApiError):
    """A write lost an optimistic-concurrency race (stale resourceVersion), or a
    JSON-patch ``test`` failed."""

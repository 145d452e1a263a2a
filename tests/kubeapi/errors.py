"""API errors as the Kubernetes API server reports them.

Every failure the emulator answers with is one of these: it carries the HTTP
code, the machine-readable ``reason`` clients switch on (``AlreadyExists``,
``Conflict``, ``Invalid``...) and renders as a ``v1.Status`` body, so the real
``kubernetes`` client raises ``ApiException`` with the right ``status`` and
Kopf's error classes (``APIConflictError``, ``APIUnprocessableEntityError``,
``APINotFoundError``...) trigger exactly as against a real server.
"""

from __future__ import annotations

from typing import Any

from cairn.errors import CairnError


class KubeApiError(CairnError):
    """A request the emulated API server refuses, rendered as a ``Status``."""

    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes or []

    def status_body(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


class BadRequest(KubeApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(KubeApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(KubeApiError):
    code = 403
    reason = "Forbidden"


class NotFound(KubeApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(KubeApiError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(KubeApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(KubeApiError):
    code = 409
    reason = "Conflict"


class Gone(KubeApiError):
    """The requested resourceVersion is older than the kept history."""

    code = 410
    reason = "Expired"


class RequestEntityTooLarge(KubeApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(KubeApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(KubeApiError):
    code = 422
    reason = "Invalid"


class InternalError(KubeApiError):
    code = 500
    reason = "InternalError"


class TooLargeResourceVersion(KubeApiError):
    code = 504
    reason = "Timeout"


class InjectedFailure(KubeApiError):
    """A failure a test asked for with ``KubeApiEmulator.fail_next``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = _REASONS_BY_CODE.get(code, "InternalError")


class EmulatorUsageError(CairnError):
    """A test used the emulator's in-process API wrongly (e.g. an unknown resource name)."""


class WaitTimeout(CairnError):
    """A condition awaited on the emulator's objects did not come true in time."""


_REASONS_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

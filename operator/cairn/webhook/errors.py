"""Errors of the webhook receiver (the Kubernetes API's are ``cairn.k8s.errors``).

Each carries the HTTP status the receiver answers with, so a handler can turn
any of them into a response without a table of special cases.
"""

from __future__ import annotations

from cairn.errors import CairnError


class WebhookError(CairnError):
    """Base of the receiver's errors; ``status`` is the HTTP answer."""

    status = 500


class ConfigError(WebhookError):
    """The receiver's configuration (file or flags) is invalid."""


class SecretsError(WebhookError):
    """A webhook secret or the operator key cannot be loaded."""

    status = 503


class RequestRejected(WebhookError):
    """A request the receiver refuses; the message is safe to send back."""

    def __init__(self, status: int, message: str, outcome: str) -> None:
        super().__init__(message)
        self.status = status
        #: the metrics label of this rejection (``bad_request``, ``too_large``...)
        self.outcome = outcome


class BodyTooLarge(RequestRejected):
    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(413, f"{what} is larger than the limit of {limit} bytes", "too_large")
        self.limit = limit


class InvalidPayload(RequestRejected):
    """A body that is not what the endpoint expects (400 with the reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message, "bad_request")

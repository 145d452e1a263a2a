"""Callback tokens as the outside world sees them, and the per-attempt secret.

The engine derives one token per job attempt. Outside, a token is prefixed with
the CIWorkflow's callback key (a label on the CIWorkflow), so the webhook
receiver finds the workflow with one label-selected read, never by listing
every workflow: ``<callback key>.<engine token>``. The whole public token is
the name part of the annotation ``callback.cairn.dev/<token>``, so it must stay
a valid annotation name (at most 63 characters of ``[A-Za-z0-9._-]``).

A sandbox proves it owns a token with a secret derived from it:
``HMAC-SHA256(operator key, token)``. The operator hands each Job pod only its
own secret; the receiver recomputes and compares in constant time, so one pod
can complete only its own job.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cairn.errors import CairnError

CALLBACK_KEY_LENGTH = 16
_TOKEN_RE = re.compile(r"^(?P<key>[0-9a-f]{16})\.(?P<engine>[A-Za-z0-9_-]{1,46})$")


class InvalidTokenError(CairnError):
    """A callback token that is not of Cairn's form."""


def callback_key(namespace: str, workflow_name: str) -> str:
    """The stable key of one CIWorkflow, used as its label value."""
    digest = hashlib.sha256(f"{namespace}/{workflow_name}".encode()).hexdigest()
    return digest[:CALLBACK_KEY_LENGTH]


def public_token(key: str, engine_token: str) -> str:
    token = f"{key}.{engine_token}"
    if not _TOKEN_RE.match(token):
        raise InvalidTokenError(f"cannot make a callback token from {key!r} and {engine_token!r}")
    return token


def split_token(token: str) -> tuple[str, str]:
    """``(callback key, engine token)``; InvalidTokenError for anything else."""
    match = _TOKEN_RE.match(token)
    if match is None:
        raise InvalidTokenError("malformed callback token")
    return match["key"], match["engine"]


def callback_secret(operator_key: bytes, token: str) -> str:
    return hmac.new(operator_key, token.encode(), hashlib.sha256).hexdigest()


def verify_callback_secret(operator_key: bytes, token: str, presented: str) -> bool:
    return hmac.compare_digest(callback_secret(operator_key, token), presented)

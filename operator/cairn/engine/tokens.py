"""Callback tokens: one per attempt of one job instance.

The engine must not use randomness, yet a token must be unguessable by anyone
who can read the workflow (a sandbox must not complete another job). So a
token is an HMAC of ``(instance, attempt)`` keyed with the run's
``token_seed``, a secret the adapter generates once when it creates the run.
The same inputs always give the same token, which is what makes replays and
crash recovery emit identical ``StartJob`` actions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

#: 16 bytes of HMAC-SHA256 (128 bits), base64url without padding.
TOKEN_LENGTH = 22


def callback_token(seed: str, instance_id: str, attempt: int) -> str:
    """The token of ``attempt`` of ``instance_id`` in the run keyed by ``seed``."""
    message = f"{instance_id}:{attempt}".encode()
    digest = hmac.new(seed.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def token_matches(seed: str, instance_id: str, attempt: int, token: str) -> bool:
    """True when ``token`` is the token of that attempt (constant-time compare)."""
    return hmac.compare_digest(callback_token(seed, instance_id, attempt), token)

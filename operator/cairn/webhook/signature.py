"""GitHub's ``X-Hub-Signature-256``: HMAC-SHA256 of the raw body, hex, ``sha256=`` prefixed."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends for ``body`` signed with ``secret``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_digest(header: str | None) -> bytes | None:
    """The 32-byte digest a header carries; None when missing or malformed."""
    if header is None:
        return None
    match = _SIGNATURE.match(header.strip())
    return None if match is None else bytes.fromhex(match[1])


def matching_secret_names(
    secrets: Mapping[str, tuple[bytes, ...]], body: bytes, digest: bytes
) -> frozenset[str]:
    """The names of the secrets (any of their rotated values) that signed ``body``.

    Every configured secret is tried, so the body is authenticated before a byte
    of it is parsed; each distinct value is hashed once and compared in
    constant time.
    """
    verdicts: dict[bytes, bool] = {}
    matched = set()
    for name, values in secrets.items():
        for value in values:
            if value not in verdicts:
                computed = hmac.new(value, body, hashlib.sha256).digest()
                verdicts[value] = hmac.compare_digest(computed, digest)
            if verdicts[value]:
                matched.add(name)
    return frozenset(matched)

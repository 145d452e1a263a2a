"""Deterministic CIRun names from ``X-GitHub-Delivery``.

GitHub gives each delivery a GUID and keeps it on redelivery, so a name
derived from it makes a redelivered event a repeated create, which the API
answers with AlreadyExists: the seed's named, idempotent executions. The name
is also the ``cairn.dev/run`` label value on every child, so it must be a DNS
label (at most 63 characters of ``[a-z0-9-]``).
"""

from __future__ import annotations

import hashlib
import re

RUN_NAME_PREFIX = "gh-"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# what a delivery id may look like at all (GUIDs, GHES' and proxies' variants)
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def is_plausible_delivery_id(value: str) -> bool:
    return bool(_DELIVERY.match(value))


def run_name_for_delivery(delivery_id: str) -> str:
    """``gh-<guid>`` for GitHub's GUIDs; ``gh-<hash>`` for any other id.

    The caller checks ``is_plausible_delivery_id`` first.
    """
    lowered = delivery_id.lower()
    if _GUID.match(lowered):
        return RUN_NAME_PREFIX + lowered
    return RUN_NAME_PREFIX + hashlib.sha256(delivery_id.encode()).hexdigest()[:40]

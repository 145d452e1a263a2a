"""Kopf handlers for CIRuns: every watch event wakes the run's reconcile.

``on.event`` and nothing change-detecting: the run's own status is its
checkpoint, so Kopf has no progress or diff-base of its own to write onto
every run (see ``operator.py``).
"""

from __future__ import annotations

from typing import Any

import kopf

from cairn.k8s.resources import CIRUN_PLURAL, GROUP, VERSION


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(GROUP, VERSION, CIRUN_PLURAL, registry=registry)
    async def cirun_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.cairn.runs.on_run_event(type, body)

"""Kopf handlers for CIWorkflows: wake the workflow's loop and its run.

A CIWorkflow's events carry the requests written as annotations (callbacks,
cancel, retry, re-run, approve) and, through our own status writes, the
progress its CIRun aggregates. The initial listing (``type`` None) is how the
loop resumes every unfinished workflow after a restart.
"""

from __future__ import annotations

from typing import Any

import kopf

from cairn.k8s.resources import CIWORKFLOW_PLURAL, GROUP, VERSION


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(GROUP, VERSION, CIWORKFLOW_PLURAL, registry=registry)
    async def ciworkflow_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.cairn.workflows.on_workflow_event(type, body)
        memo.cairn.runs.on_child_event(type, body)

"""Kopf handlers for the sandboxes: Jobs and Pods carrying Cairn's labels.

They only turn an object's current state into a report for its CIWorkflow's
loop (``observations.py``); the loop decides whether it matters. ``on.event``
is deliberate: a change-detecting handler would make Kopf write its
annotations and finalizers onto every Job and Pod. RunnerClasses are watched
here too, so rendering a sandbox never reads them from the API.
"""

from __future__ import annotations

from typing import Any

import kopf

from cairn.k8s.observations import report_from_job, report_from_pod
from cairn.k8s.resources import GROUP, LABEL_MANAGED_BY, MANAGED_BY, RUNNERCLASS_PLURAL, VERSION

_CAIRN = {LABEL_MANAGED_BY: MANAGED_BY}


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event("batch", "v1", "jobs", labels=_CAIRN, registry=registry)
    async def job_event(
        type: str | None, body: kopf.Body, namespace: str | None, memo: Any, **_: Any
    ) -> None:
        report = report_from_job(body, deleted=type == "DELETED")
        if report is not None and namespace:
            await memo.cairn.workflows.on_sandbox_report(namespace, report)

    @kopf.on.event("", "v1", "pods", labels=_CAIRN, registry=registry)
    async def pod_event(
        type: str | None, body: kopf.Body, namespace: str | None, memo: Any, **_: Any
    ) -> None:
        # A deleted pod's last state still counts (its termination message, if any).
        report = report_from_pod(body)
        if report is not None and namespace:
            await memo.cairn.workflows.on_sandbox_report(namespace, report)

    @kopf.on.event(GROUP, VERSION, RUNNERCLASS_PLURAL, registry=registry)
    async def runnerclass_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
        if type == "DELETED":
            memo.cairn.runner_classes.remove(body["metadata"]["name"])
        else:
            memo.cairn.runner_classes.update(body)

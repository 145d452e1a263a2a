"""Starting and stopping sandboxes: the engine's StartJob and CancelJob on the cluster.

Both are idempotent, which is what lets the loop replay a wake after a crash:

- **start** creates the attempt's Job, then its spec ConfigMap (and callback
  Secret) owned by the Job. A Job that already exists (AlreadyExists) was made
  by an earlier try of the same wake: it is read back for its uid so its
  companions can still be created, and its status tells the loop whether it
  already finished. A Job of that name owned by *another* CIWorkflow is a
  leftover of a deleted namesake that garbage collection has not removed yet:
  that is retried later, never adopted.
- **stop** deletes the Job with foreground propagation (its pod gets SIGTERM
  and the grace period to run ``always()`` steps); a Job already gone is done.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cairn.engine.jobspec import JobSpec
from cairn.errors import CairnError
from cairn.k8s import names
from cairn.k8s.cluster import AlreadyExists, Cluster, KubeUnavailable
from cairn.k8s.runnerclass import InvalidRunnerClassError, RunnerClass, from_object, select_for_job
from cairn.k8s.sandbox import WorkflowIdentity, render_sandbox
from cairn.k8s.settings import OperatorSettings

log = logging.getLogger(__name__)

#: an awaitable the loop's crash hook turns into a simulated crash (tests)
CrashPoint = Callable[[str], Awaitable[None]]


class SandboxRefused(CairnError):
    """The attempt cannot have a sandbox (no RunnerClass, a spec too large, an
    unsupported container option): the attempt fails with this reason."""


class LeftoverJob(KubeUnavailable):
    """A Job of the attempt's name belongs to another CIWorkflow (a deleted
    namesake's, not yet garbage collected): retry later."""


@dataclass(frozen=True)
class Launch:
    job_name: str
    #: False: the Job was already there (an earlier try of the same wake)
    created: bool
    #: the existing Job when it was already there (its status may say it finished)
    existing: Mapping[str, Any] | None = None


class RunnerClasses:
    """The cluster's RunnerClasses, kept current by watch events."""

    def __init__(self) -> None:
        self._classes: dict[str, RunnerClass] = {}
        #: name -> why the object is unusable
        self.invalid: dict[str, str] = {}

    def replace_all(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self._classes.clear()
        self.invalid.clear()
        for obj in objects:
            self.update(obj)

    def update(self, obj: Mapping[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        try:
            self._classes[name] = from_object(obj)
            self.invalid.pop(name, None)
        except InvalidRunnerClassError as error:
            self._classes.pop(name, None)
            self.invalid[name] = str(error)

    def remove(self, name: str) -> None:
        self._classes.pop(name, None)
        self.invalid.pop(name, None)

    def all(self) -> list[RunnerClass]:
        return list(self._classes.values())


class Launcher:
    def __init__(
        self,
        cluster: Cluster,
        settings: OperatorSettings,
        runner_classes: RunnerClasses,
        *,
        operator_key: bytes | None = None,
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.runner_classes = runner_classes
        self.operator_key = operator_key

    def job_name(self, identity: WorkflowIdentity, spec: JobSpec) -> str:
        return names.job_name(identity.workflow_name, spec.instance_id, spec.attempt)

    async def start(self, spec: JobSpec, identity: WorkflowIdentity, crash: CrashPoint) -> Launch:
        try:
            runner_class = select_for_job(spec, self.runner_classes.all(), settings=self.settings)
            sandbox = render_sandbox(
                spec, runner_class, identity, self.settings, operator_key=self.operator_key
            )
        except CairnError as error:
            raise SandboxRefused(str(error)) from None
        namespace = identity.namespace
        existing: Mapping[str, Any] | None = None
        try:
            job = await self.cluster.create("jobs", namespace, sandbox.job)
            created = True
        except AlreadyExists:
            job = await self.cluster.get("jobs", namespace, sandbox.name)
            created = False
            existing = job
            owners = {ref.get("uid") for ref in job["metadata"].get("ownerReferences") or []}
            if identity.workflow_uid not in owners:
                raise LeftoverJob(
                    f"Job {namespace}/{sandbox.name} belongs to another CIWorkflow of the same "
                    "name (deleted, not yet garbage collected)"
                ) from None
        await crash("after-job-create")
        for manifest in sandbox.owned_by_job(job["metadata"]["uid"]):
            plural = "configmaps" if manifest["kind"] == "ConfigMap" else "secrets"
            with contextlib.suppress(AlreadyExists):
                await self.cluster.create(plural, namespace, manifest)
        return Launch(job_name=sandbox.name, created=created, existing=existing)

    async def stop(self, namespace: str, job_name: str) -> bool:
        """Delete the attempt's Job (foreground: its pod goes first); False if gone."""
        return await self.cluster.delete("jobs", namespace, job_name, propagation="Foreground")

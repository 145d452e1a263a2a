"""Concurrency groups across the CIWorkflows of a namespace.

The engine only asks to join a group (``AcquireConcurrency``) and to leave it
(``ReleaseConcurrency``); the verdicts come from :func:`cairn.engine.arbitrate`,
a pure function of a group's members. Here the members are the claims in the
CIWorkflows' checkpoints, so the arbiter needs no storage of its own:

- the first time a namespace's groups are needed in this process, every
  CIWorkflow of the namespace is listed once and the claims of the unfinished
  ones become the members; the groups are then arbitrated, which re-issues any
  verdict a crash may have swallowed (a grant never delivered is granted again);
- from then on the arbiter follows the acquire/release actions of the wakes of
  this process, the only writer of those checkpoints (peering keeps one
  operator active);
- when another writer may have worked meanwhile (a relisting shows changes
  this process never saw: a watch restart, or a resume after a peering pause),
  the namespace is read again (``invalidate``), once a relisting settles;
- a verdict goes to the claim's CIWorkflow as an engine event; the engine
  absorbs duplicates, so re-announcing a grant is always safe.

GitHub scopes groups to a repository; Cairn scopes them to a namespace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from cairn.engine import (
    AcquireConcurrency,
    Action,
    Cancel,
    ConcurrencyCancelled,
    ConcurrencyClaim,
    ConcurrencyGranted,
    Event,
    Grant,
    Member,
    ReleaseConcurrency,
    arbitrate,
)
from cairn.k8s.cluster import Cluster, KubeApiError
from cairn.k8s.resources import CIWORKFLOW_PLURAL

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class WorkflowKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


Delivery = Callable[[WorkflowKey, Event], None]


def claims_in_checkpoint(state: Mapping[str, Any]) -> list[tuple[ConcurrencyClaim, bool]]:
    """``(claim, cancelling)`` of an unfinished checkpoint, read from its compact
    JSON without loading the whole state (a namespace may hold big workflows)."""
    if state.get("p") == "completed":
        return []
    found: list[tuple[ConcurrencyClaim, bool]] = []
    candidates: list[tuple[Any, bool]] = [(state.get("k"), "x" in state)]
    for job in (state.get("j") or {}).values():
        if isinstance(job, Mapping) and "k" in job:
            candidates.append((job["k"], "x" in job))
    for raw, cancelling in candidates:
        if raw is None:
            continue
        try:
            found.append((ConcurrencyClaim.model_validate(raw), cancelling))
        except ValidationError:
            log.warning("ignoring a malformed concurrency claim: %r", raw)
    return found


class ConcurrencyArbiter:
    def __init__(
        self, cluster: Cluster, deliver: Delivery, *, reload_delay_seconds: float = 0.5
    ) -> None:
        self._cluster = cluster
        self._deliver = deliver
        #: (namespace, group) -> claim key -> member
        self._groups: dict[tuple[str, str], dict[str, Member]] = {}
        #: (namespace, claim key) -> the CIWorkflow holding the claim
        self._owners: dict[tuple[str, str], WorkflowKey] = {}
        self._loaded: set[str] = set()
        self._lock = asyncio.Lock()
        #: namespaces to read again, and the task that will
        self._stale: set[str] = set()
        self._reloading: asyncio.Task[None] | None = None
        #: a relisting arrives as many events: read the namespace once they settle
        self.reload_delay_seconds = reload_delay_seconds

    async def apply(self, owner: WorkflowKey, actions: Sequence[Action]) -> list[Event]:
        """Apply a wake's concurrency actions; return the verdicts for ``owner``
        itself (the others are delivered to their workflows)."""
        relevant = [a for a in actions if isinstance(a, AcquireConcurrency | ReleaseConcurrency)]
        if not relevant:
            return []
        async with self._lock:
            await self._load(owner.namespace)
            verdicts: list[tuple[WorkflowKey, Event]] = []
            for action in relevant:
                if isinstance(action, AcquireConcurrency):
                    verdicts += self._acquire(owner, action)
                else:
                    verdicts += self._release(owner.namespace, action)
        own: list[Event] = []
        for target, event in verdicts:
            if target == owner:
                own.append(event)
            else:
                self._deliver(target, event)
        return own

    def forget(self, owner: WorkflowKey) -> None:
        """A CIWorkflow is gone: its claims leave their groups."""
        verdicts: list[tuple[WorkflowKey, Event]] = []
        for (namespace, key), holder in list(self._owners.items()):
            if holder != owner:
                continue
            del self._owners[(namespace, key)]
            for (ns, group), members in list(self._groups.items()):
                if ns == namespace and members.pop(key, None) is not None:
                    verdicts += self._settle(namespace, group)
        for target, event in verdicts:
            self._deliver(target, event)

    def invalidate(self, namespace: str) -> None:
        """The namespace's groups may have changed behind this process: read them again."""
        if namespace not in self._loaded:
            return  # never read, or already to be read again
        self._stale.add(namespace)
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        await asyncio.sleep(self.reload_delay_seconds)  # let the relisting's events pass
        async with self._lock:
            stale, self._stale = self._stale, set()
            for namespace in stale:
                self._drop(namespace)
            for namespace in stale:
                try:
                    await self._load(namespace)
                except KubeApiError as error:
                    # The next acquire or release in the namespace loads it instead.
                    log.warning("cannot read the concurrency groups of %s: %s", namespace, error)

    def _drop(self, namespace: str) -> None:
        self._loaded.discard(namespace)
        for ns, group in list(self._groups):
            if ns == namespace:
                del self._groups[(ns, group)]
        for ns, key in list(self._owners):
            if ns == namespace:
                del self._owners[(ns, key)]

    async def close(self) -> None:
        if self._reloading is not None and not self._reloading.done():
            self._reloading.cancel()
            await asyncio.gather(self._reloading, return_exceptions=True)

    async def _load(self, namespace: str) -> None:
        if namespace in self._loaded:
            return
        workflows = await self._cluster.list(CIWORKFLOW_PLURAL, namespace)
        for workflow in workflows:
            state = (workflow.get("status") or {}).get("state")
            if not isinstance(state, Mapping):
                continue
            owner = WorkflowKey(namespace, workflow["metadata"]["name"])
            for claim, cancelling in claims_in_checkpoint(state):
                member = Member(
                    key=claim.key,
                    requested_at=claim.requested_at,
                    cancel_in_progress=claim.cancel_in_progress,
                    holding=claim.holding,
                    cancelling=cancelling and claim.holding,
                )
                self._groups.setdefault((namespace, claim.group), {})[claim.key] = member
                self._owners[(namespace, claim.key)] = owner
        self._loaded.add(namespace)
        verdicts: list[tuple[WorkflowKey, Event]] = []
        for ns, group in list(self._groups):
            if ns == namespace:
                verdicts += self._settle(namespace, group)
        for target, event in verdicts:
            self._deliver(target, event)

    def _acquire(
        self, owner: WorkflowKey, action: AcquireConcurrency
    ) -> list[tuple[WorkflowKey, Event]]:
        namespace = owner.namespace
        members = self._groups.setdefault((namespace, action.group), {})
        existing = members.get(action.key)
        self._owners[(namespace, action.key)] = owner
        if existing is None:
            members[action.key] = Member(
                key=action.key,
                requested_at=action.requested_at,
                cancel_in_progress=action.cancel_in_progress,
            )
        elif existing.holding:
            # A replayed wake asks again for what it already holds: say so again.
            return [(owner, ConcurrencyGranted(key=action.key, group=action.group))]
        return self._settle(namespace, action.group)

    def _release(
        self, namespace: str, action: ReleaseConcurrency
    ) -> list[tuple[WorkflowKey, Event]]:
        members = self._groups.get((namespace, action.group))
        if members is None or members.pop(action.key, None) is None:
            return []
        self._owners.pop((namespace, action.key), None)
        return self._settle(namespace, action.group)

    def _settle(self, namespace: str, group: str) -> list[tuple[WorkflowKey, Event]]:
        members = self._groups.get((namespace, group), {})
        verdicts: list[tuple[WorkflowKey, Event]] = []
        for verdict in arbitrate(members.values()):
            owner = self._owners.get((namespace, verdict.key))
            if owner is None:
                members.pop(verdict.key, None)
                continue
            if isinstance(verdict, Grant):
                members[verdict.key] = replace(members[verdict.key], holding=True)
                verdicts.append((owner, ConcurrencyGranted(key=verdict.key, group=group)))
                continue
            assert isinstance(verdict, Cancel)
            member = members[verdict.key]
            if member.holding:
                members[verdict.key] = replace(member, cancelling=True)
            else:
                del members[verdict.key]
                self._owners.pop((namespace, verdict.key), None)
            verdicts.append(
                (owner, ConcurrencyCancelled(key=verdict.key, reason=verdict.reason, group=group))
            )
        if not members:
            self._groups.pop((namespace, group), None)
        return verdicts

    def members(self, namespace: str, group: str) -> Iterable[Member]:
        return list(self._groups.get((namespace, group), {}).values())

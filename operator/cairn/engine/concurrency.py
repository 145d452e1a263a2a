"""Concurrency groups, arbitrated as a pure function over a group's members.

A group spans runs, and one run's state cannot see the others, so the engine
only asks (``AcquireConcurrency``) and lets go (``ReleaseConcurrency``); the
adapter keeps the members of each group, calls :func:`arbitrate`, and feeds
the verdicts back to the runs concerned as ``ConcurrencyGranted`` /
``ConcurrencyCancelled`` events. Locally :class:`ConcurrencyRegistry` keeps the
members in memory; in Kubernetes the members are read from the CIWorkflows of
the group (:func:`claims_of` lists one run's claims from its checkpoint).

GitHub's rules: at most one member holds a group and at most one waits. A newer
waiting member replaces an older one (which is cancelled). A newer member with
``cancel-in-progress`` cancels the holder; it is granted when the holder lets go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, Literal, TypeVar

from cairn.engine.actions import AcquireConcurrency, Action, ReleaseConcurrency
from cairn.engine.events import ConcurrencyCancelled, ConcurrencyGranted, Event
from cairn.engine.state import ConcurrencyClaim, WorkflowState

CancelReason = Literal["superseded", "cancel_in_progress"]


@dataclass(frozen=True)
class Member:
    """One membership of a group: a waiting or holding workflow or job."""

    key: str
    requested_at: datetime
    cancel_in_progress: bool = False
    holding: bool = False
    #: a cancellation was already sent to this holder; it still holds until it lets go
    cancelling: bool = False

    @property
    def age(self) -> tuple[datetime, str]:
        """Ordering: earlier requests are older; the key breaks ties."""
        return (self.requested_at, self.key)


@dataclass(frozen=True)
class Grant:
    key: str


@dataclass(frozen=True)
class Cancel:
    key: str
    reason: CancelReason


Verdict = Grant | Cancel


def arbitrate(members: Iterable[Member]) -> list[Verdict]:
    """The transitions due in one group, given all its current members.

    Applying the verdicts (a granted member holds, a cancelled waiter leaves,
    a cancelled holder is ``cancelling``) and arbitrating again yields nothing:
    the function is idempotent over its own output.
    """
    members = list(members)
    holders = [m for m in members if m.holding]
    waiters = sorted((m for m in members if not m.holding), key=lambda m: m.age)
    verdicts: list[Verdict] = []
    if not waiters:
        return verdicts
    newest = waiters[-1]
    verdicts.extend(Cancel(m.key, "superseded") for m in waiters[:-1])
    if not holders:
        verdicts.append(Grant(newest.key))
    elif newest.cancel_in_progress:
        verdicts.extend(
            Cancel(h.key, "cancel_in_progress")
            for h in sorted(holders, key=lambda m: m.age)
            if not h.cancelling and h.age < newest.age
        )
    return verdicts


def claims_of(state: WorkflowState) -> list[ConcurrencyClaim]:
    """Every concurrency claim a run's checkpoint holds (workflow and jobs)."""
    claims = [state.claim] if state.claim is not None else []
    claims.extend(job.claim for job in state.jobs.values() if job.claim is not None)
    return claims


def member_of(claim: ConcurrencyClaim, *, cancelling: bool = False) -> Member:
    return Member(
        key=claim.key,
        requested_at=claim.requested_at,
        cancel_in_progress=claim.cancel_in_progress,
        holding=claim.holding,
        cancelling=cancelling,
    )


Owner = TypeVar("Owner")


class ConcurrencyRegistry(Generic[Owner]):
    """In-memory groups for one process (``cairn run``, tests).

    ``apply(owner, actions)`` takes a decision's actions and returns the events
    to deliver, each with the owner (whatever the adapter uses to find a run)
    that registered the claim.
    """

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, Member]] = {}
        self._owners: dict[str, Owner] = {}

    def apply(self, owner: Owner, actions: Sequence[Action]) -> list[tuple[Owner, Event]]:
        events: list[tuple[Owner, Event]] = []
        for action in actions:
            if isinstance(action, AcquireConcurrency):
                events.extend(self.acquire(owner, action))
            elif isinstance(action, ReleaseConcurrency):
                events.extend(self.release(action))
        return events

    def acquire(self, owner: Owner, action: AcquireConcurrency) -> list[tuple[Owner, Event]]:
        group = self._groups.setdefault(action.group, {})
        if action.key not in group:
            group[action.key] = Member(
                key=action.key,
                requested_at=action.requested_at,
                cancel_in_progress=action.cancel_in_progress,
            )
            self._owners[action.key] = owner
        return self._settle(action.group)

    def release(self, action: ReleaseConcurrency) -> list[tuple[Owner, Event]]:
        group = self._groups.get(action.group, {})
        if group.pop(action.key, None) is None:
            return []
        self._owners.pop(action.key, None)
        return self._settle(action.group)

    def members(self, group: str) -> list[Member]:
        return sorted(self._groups.get(group, {}).values(), key=lambda m: m.age)

    def _settle(self, name: str) -> list[tuple[Owner, Event]]:
        """Arbitrate group ``name`` and apply the verdicts to its members."""
        group = self._groups.get(name, {})
        events: list[tuple[Owner, Event]] = []
        for verdict in arbitrate(group.values()):
            owner = self._owners[verdict.key]
            if isinstance(verdict, Grant):
                group[verdict.key] = replace(group[verdict.key], holding=True)
                events.append((owner, ConcurrencyGranted(key=verdict.key, group=name)))
                continue
            member = group[verdict.key]
            if member.holding:
                group[verdict.key] = replace(member, cancelling=True)
            else:
                del group[verdict.key]
                del self._owners[verdict.key]
            cancelled = ConcurrencyCancelled(key=verdict.key, reason=verdict.reason, group=name)
            events.append((owner, cancelled))
        if not group:
            self._groups.pop(name, None)
        return events

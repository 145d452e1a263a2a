"""Whether this replica is the one Kopf's peering lets act.

Kopf pauses a replica when a live peer with a higher (or the same) priority
shows up in the peering object, and resumes it when no such peer is left
(``kopf/_core/engines/peering.py``). A pause stops Kopf's watches, so no
handler runs; but it does not tell the handlers, and Cairn's own timers (a
job's deadline, a delayed wake) would still fire and act in a paused replica.
:class:`PeeringGate` applies Kopf's rule to the same peering objects, so a
timer asks it first; and it notices a resume, after which what this process
remembers of the cluster (concurrency groups, the Jobs it listed) is stale:
the other replica worked meanwhile.

Kopf's rule is applied to Kopf's own records: ``status.<identity>`` holds each
peer's ``priority``, ``lastseen`` and ``lifetime``; a record whose ``lastseen``
plus ``lifetime`` has passed is dead. This replica's record is the one of its
identity, which the operator gives Kopf (``kopf.run(identity=...)``) so both
agree on it.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cairn.k8s.cluster import Cluster, KubeApiError, NotFound

log = logging.getLogger(__name__)


def own_identity(environ: Mapping[str, str] = os.environ) -> str:
    """The peer identity: ``$POD_ID`` as Kopf reads it (the manifests set it to the
    pod's name), else one unique to this process."""
    pod = environ.get("POD_ID")
    if pod:
        return pod
    return f"{getpass.getuser()}@{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class PeeringScope:
    """Where this replica's peering records are, and who it is among them."""

    name: str
    identity: str
    priority: int
    #: the watched namespaces, each with its own ``KopfPeering``; empty: one
    #: ``ClusterKopfPeering`` (Kopf's own choice, by whether it watches all namespaces)
    namespaces: tuple[str, ...] = ()


def blocking_peers(status: Mapping[str, Any], scope: PeeringScope, now: datetime) -> list[str]:
    """The live peers, other than this one, that pause it: a higher or equal priority."""
    blocking: list[str] = []
    for identity, record in status.items():
        if identity == scope.identity or not isinstance(record, Mapping):
            continue
        try:
            priority = int(record.get("priority", 0))
            lastseen = datetime.fromisoformat(str(record["lastseen"]))
            lifetime = float(record.get("lifetime", 60))
        except (KeyError, TypeError, ValueError):
            continue  # not a record Kopf would count either
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=now.tzinfo)
        if lastseen + timedelta(seconds=lifetime) < now:
            continue  # dead: Kopf ignores it (and cleans it up)
        if priority >= scope.priority:
            blocking.append(identity)
    return blocking


class PeeringGate:
    """``await gate.active()``: may this replica act now? Verdicts are kept for
    ``fresh_seconds`` so a burst of timers costs one read; ``on_resume``
    callbacks run when a pause is seen to end."""

    def __init__(
        self,
        cluster: Cluster,
        scope: PeeringScope | None,
        clock: Callable[[], datetime],
        *,
        fresh_seconds: float = 1.0,
    ) -> None:
        self.cluster = cluster
        self.scope = scope
        self.clock = clock
        self.fresh_seconds = fresh_seconds
        self.on_resume: list[Callable[[], None]] = []
        self._verdict = True
        self._checked: float | None = None
        self._lock = asyncio.Lock()

    async def active(self) -> bool:
        if self.scope is None:
            return True  # standalone: no peers
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._checked is not None and now - self._checked < self.fresh_seconds:
                return self._verdict
            verdict = await self._read()
            self._checked = asyncio.get_running_loop().time()
            if verdict and not self._verdict:
                log.info("peering: this replica works again; refreshing what it remembers")
                for callback in self.on_resume:
                    callback()
            elif not verdict and self._verdict:
                log.info("peering: this replica is paused; its timers wait")
            self._verdict = verdict
            return verdict

    async def _read(self) -> bool:
        assert self.scope is not None
        scope = self.scope
        where: list[tuple[str, str | None]] = (
            [("kopfpeerings", ns) for ns in scope.namespaces]
            if scope.namespaces
            else [("clusterkopfpeerings", None)]
        )
        for plural, namespace in where:
            try:
                peering = await self.cluster.get(plural, namespace, scope.name)
            except NotFound:
                continue  # Kopf reports a missing peering object itself
            except KubeApiError as error:
                # Cannot tell: act. Every write stays conditional and idempotent, so
                # an overlap with another replica duplicates no-ops, never work.
                log.info("peering: cannot read %s/%s (%s); acting", plural, scope.name, error)
                return True
            blocking = blocking_peers(peering.get("status") or {}, scope, self.clock())
            if blocking:
                return False
        return True

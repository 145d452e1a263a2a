"""Kubernetes Events for transitions, aggregated to keep API requests low.

Every wake can produce several transitions (a job succeeded, two started). An
Event per transition would cost more API requests than the orchestration
itself, so :class:`EventRecorder` buffers what one object reports and posts
one Event per object and type (Normal/Warning) at most every
``flush_seconds``, or at once when asked (a workflow that just finished).
``kubectl describe`` then lists "build succeeded (12s); test started" as one
entry. Events are best effort, as in Kubernetes itself: a failed post is
logged and dropped, never retried into a loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cairn.k8s.cluster import Cluster, KubeApiError
from cairn.k8s.status import clip, rfc3339

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]

COMPONENT = "cairn-operator"
REPORTING_CONTROLLER = "cairn.dev/operator"
#: the Event message limit we keep to (events.k8s.io allows 1 KiB notes)
EVENT_MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about (``involvedObject``)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
        )

    def as_involved_object(self) -> dict[str, str]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
        }


@dataclass
class _Pending:
    reason: str = ""
    weight: int = -1
    messages: list[str] = field(default_factory=list)


class EventRecorder:
    def __init__(
        self,
        cluster: Cluster,
        clock: Callable[[], datetime],
        *,
        flush_seconds: float = 1.0,
        instance: str = COMPONENT,
    ) -> None:
        self._cluster = cluster
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._instance = instance
        self._pending: dict[tuple[ObjectRef, EventType], _Pending] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Events posted, for tests and benchmarks
        self.posted = 0

    def record(
        self,
        ref: ObjectRef,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        weight: int = 0,
    ) -> None:
        """Buffer one transition; it is posted with the object's next flush. The
        aggregated Event carries the reason of the heaviest transition."""
        kind: EventType = "Warning" if warning else "Normal"
        pending = self._pending.setdefault((ref, kind), _Pending())
        if weight > pending.weight:
            pending.reason, pending.weight = reason, weight
        pending.messages.append(message)
        self._arm()

    def flush_soon(self) -> None:
        """Post everything buffered without waiting for the timer."""
        self._cancel_timer()
        self._spawn()

    async def close(self) -> None:
        self._cancel_timer()
        self._spawn()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _arm(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._flush_seconds, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._spawn()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _spawn(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        task = asyncio.get_running_loop().create_task(self._post_all(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_all(self, batch: dict[tuple[ObjectRef, EventType], _Pending]) -> None:
        for (ref, kind), pending in batch.items():
            await self._post(ref, kind, pending)

    async def _post(self, ref: ObjectRef, kind: EventType, pending: _Pending) -> None:
        now = rfc3339(self._clock())
        reason = pending.reason
        message = clip("; ".join(pending.messages), EVENT_MESSAGE_LIMIT)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
            "involvedObject": ref.as_involved_object(),
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": COMPONENT},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": REPORTING_CONTROLLER,
            "reportingInstance": self._instance,
        }
        try:
            await self._cluster.create("events", ref.namespace, body)
            self.posted += 1
        except KubeApiError as error:
            log.warning("could not post an Event on %s/%s: %s", ref.kind, ref.name, error)

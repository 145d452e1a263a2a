"""Change records, and subscriptions that turn them into watch events.

The store appends a ``Change`` for every write and offers it to each
subscription of that resource. A subscription filters by namespace and
selectors with the API server's transition rules: an object that starts
matching a selector arrives as ADDED, one that stops matching as DELETED.

Delivery crosses threads: the store may be written from the emulator's loop
(HTTP requests) or from a test's thread (in-process controllers). Every item
goes through ``loop.call_soon_threadsafe`` (or a thread-safe queue), which
keeps one FIFO per subscriber, so events arrive in resourceVersion order.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .resources import StorageKey
from .selectors import FieldSelector, LabelSelector

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(frozen=True)
class Change:
    """One committed write. ``obj`` is the state after it (for DELETED: the last state)."""

    type: str
    rv: int
    storage: StorageKey
    namespace: str | None
    name: str
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None
    #: serialized size of ``obj``, for the history's memory budget
    size: int = 0


@dataclass(frozen=True)
class WatchEvent:
    """A change as one subscriber sees it (type adjusted to its selectors)."""

    type: str
    obj: Mapping[str, Any]
    rv: int


@dataclass(frozen=True)
class Marker:
    """A control item travelling in order with the events.

    ``bookmark``: the subscriber has seen everything up to ``rv``;
    ``initial-end``: the synthetic initial events are over (sendInitialEvents);
    ``close``: end the stream normally; ``drop``: cut the connection.
    """

    kind: str
    rv: int


class Sink(Protocol):
    def put(self, item: WatchEvent | Marker) -> bool:
        """Deliver; False when the consumer is gone and the subscription should end."""
        ...


class LoopSink:
    """Delivers into an ``asyncio.Queue`` owned by ``loop``, from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[WatchEvent | Marker] = asyncio.Queue()

    def put(self, item: WatchEvent | Marker) -> bool:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the consumer's loop is closed
            return False
        return True


class ThreadSink:
    """Delivers into a thread-safe queue for blocking consumers (sync tests)."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[WatchEvent | Marker] = queue.SimpleQueue()

    def put(self, item: WatchEvent | Marker) -> bool:
        self.queue.put(item)
        return True


class Subscription:
    def __init__(
        self,
        storage: StorageKey,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        sink: Sink,
    ) -> None:
        self.storage = storage
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.sink = sink
        self.active = True

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and self.fields.matches(obj)

    def view(self, change: Change) -> WatchEvent | None:
        if change.type == DELETED:
            old_ok, new_ok = self.matches(change.obj), False
        else:
            old_ok = change.old is not None and self.matches(change.old)
            new_ok = self.matches(change.obj)
        if new_ok:
            return WatchEvent(MODIFIED if old_ok else ADDED, change.obj, change.rv)
        if old_ok:
            return WatchEvent(DELETED, change.obj, change.rv)
        return None

    def offer(self, change: Change) -> None:
        if not self.active:
            return
        event = self.view(change)
        if event is not None and not self.sink.put(event):
            self.active = False

    def send(self, item: WatchEvent | Marker) -> None:
        if self.active and not self.sink.put(item):
            self.active = False

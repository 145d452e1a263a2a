"""A bounded log of the requests the emulator served, and O(1) counters over them.

Benchmarks and tests ask "how many PATCHes of ciworkflows/status did the
operator make?" Counting happens once per request into a small table keyed
by (verb, group, resource, subresource, namespace, status code, user); a query sums
the keys that match, so its cost depends on how many distinct kinds of request
there were, never on how many requests. The log keeps only the newest
``maxlen`` records, for debugging.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Final

#: pass as ``subresource`` to count requests whatever their subresource
ANY: Final = "<any>"


@dataclass(frozen=True)
class RequestRecord:
    seq: int
    method: str
    path: str
    query: str
    #: Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection;
    #: ``get`` for non-resource URLs (discovery, /version)
    verb: str
    group: str | None
    version: str | None
    resource: str | None
    subresource: str | None
    namespace: str | None
    name: str | None
    status: int
    user_agent: str
    #: who sent it: the name the bearer token belongs to ("" when unauthenticated)
    user: str = ""
    #: when it was served (``time.time()``, for ordering against other clocks' events)
    at: float = 0.0


_Key = tuple[str, str | None, str | None, str | None, str | None, int, str | None, str]


class RequestLog:
    def __init__(self, maxlen: int = 1000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)
        self._counts: Counter[_Key] = Counter()
        self._seq = 0
        self._lock = threading.Lock()

    def record(
        self,
        *,
        method: str,
        path: str,
        query: str,
        verb: str,
        group: str | None,
        version: str | None,
        resource: str | None,
        subresource: str | None,
        namespace: str | None,
        name: str | None,
        status: int,
        user_agent: str,
        user: str = "",
    ) -> RequestRecord:
        with self._lock:
            self._seq += 1
            rec = RequestRecord(
                self._seq,
                method,
                path,
                query,
                verb,
                group,
                version,
                resource,
                subresource,
                namespace,
                name,
                status,
                user_agent,
                user,
                time.time(),
            )
            self._records.append(rec)
            # Only non-resource requests are told apart by path: there are few such paths.
            self._counts[
                (
                    verb,
                    group,
                    resource,
                    subresource,
                    namespace,
                    status,
                    path if resource is None else None,
                    user,
                )
            ] += 1
            return rec

    def count(
        self,
        verb: str | None = None,
        resource: str | None = None,
        *,
        subresource: str | None = ANY,
        namespace: str | None = None,
        status: int | None = None,
        path: str | None = None,
        user: str | None = None,
    ) -> int:
        """Requests served since the last reset that match every given filter.

        ``resource`` is a plural (``jobs``), optionally with its group
        (``jobs.batch``, ``ciworkflows.cairn.dev``). ``subresource=None`` counts
        only requests to the object itself; the default counts all. ``user``
        is the name of the client's bearer token (``KubeApiEmulator.add_user``).
        """
        plural, group = [*resource.split(".", 1), None][:2] if resource else (None, None)
        total = 0
        with self._lock:
            for key, n in self._counts.items():
                k_verb, k_group, k_res, k_sub, k_ns, k_status, k_path, k_user = key
                if verb is not None and k_verb != verb:
                    continue
                if plural is not None and k_res != plural:
                    continue
                if group is not None and k_group != group:
                    continue
                if subresource != ANY and k_sub != subresource:
                    continue
                if namespace is not None and k_ns != namespace:
                    continue
                if status is not None and k_status != status:
                    continue
                if path is not None and k_path != path:
                    continue
                if user is not None and k_user != user:
                    continue
                total += n
        return total

    def reset(self) -> None:
        """Zero the counters (the log of recent requests stays, for debugging)."""
        with self._lock:
            self._counts.clear()

    @property
    def rows(self) -> int:
        """Distinct kinds of request seen: what a count query iterates over."""
        with self._lock:
            return len(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def maxlen(self) -> int:
        return self._records.maxlen or 0

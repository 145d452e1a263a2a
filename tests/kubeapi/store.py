"""The emulated API server's object store: every semantic rule of a write lives here.

What a real API server (plus its garbage collector and namespace controller)
guarantees, and Kopf or Cairn rely on:

* server-set ``uid``, ``creationTimestamp``, ``generation`` (bumped when
  anything but metadata — and status, when it is a subresource — changes),
  one global, monotonic ``resourceVersion`` bumped by every write; a write that
  changes nothing is a no-op and bumps nothing;
* optimistic concurrency: a stale ``resourceVersion`` in a PUT or a patched
  body is a 409 Conflict;
* the ``status`` subresource isolation: the main endpoint keeps the stored
  status, ``/status`` keeps everything else;
* finalizers and ``deletionTimestamp``; ownerReference garbage collection
  with Background, Foreground and Orphan propagation; namespace and CRD
  termination removing their contents;
* a bounded per-resource history of changes so watches resume from a
  resourceVersion with nothing lost or repeated, and 410 Gone beyond it.

No HTTP here: the server and the in-process test API both call these methods.
All state changes happen under one re-entrant lock, so each request is atomic.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import random
import threading
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from .admission import MAX_GENERATED_PREFIX, admit, check_events_v1
from .conversion import core_to_events_v1, events_v1_to_core
from .errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    InternalError,
    Invalid,
    MethodNotAllowed,
    NotFound,
    TooLargeResourceVersion,
)
from .jsoncopy import json_copy
from .resources import (
    BACKGROUND,
    CORE_EVENTS,
    CRDS,
    EVENTS_V1,
    FOREGROUND,
    NAMESPACES,
    ORPHAN,
    PODS,
    PROPAGATION_POLICIES,
    ResourceRegistry,
    ResourceType,
    StorageKey,
    types_from_crd,
)
from .selectors import FieldSelector, LabelSelector
from .shapes import check_shape
from .watches import ADDED, DELETED, MODIFIED, Change, Marker, Sink, Subscription, WatchEvent

ObjectKey = tuple[str | None, str]  # (namespace or None for cluster-scoped, name)
ObjectRef = tuple[StorageKey, str | None, str]

#: etcd refuses values above 1.5 MiB; the API server reports it as a 500
MAX_OBJECT_BYTES = 1536 * 1024
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)
FOREGROUND_FINALIZER = "foregroundDeletion"
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def present(rt: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The stored object as served through ``rt`` (shallow: callers must not mutate it)."""
    body = core_to_events_v1(dict(obj)) if rt == EVENTS_V1 else obj
    out: dict[str, Any] = {"apiVersion": rt.api_version, "kind": rt.kind}
    out.update((k, v) for k, v in body.items() if k not in ("apiVersion", "kind"))
    return out


class ObjectStore:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        seed: int = 0,
        history_limit: int = 10_000,
        history_bytes: int = 64 * 1024 * 1024,
        namespaces: tuple[str, ...] = DEFAULT_NAMESPACES,
        max_object_bytes: int = MAX_OBJECT_BYTES,
    ) -> None:
        self.registry = ResourceRegistry()
        self.lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = random.Random(seed)
        # Each resource keeps its recent changes up to a count and a memory budget, whichever
        # comes first: a 1,000-job workflow's status patches would otherwise pile up gigabytes.
        self._history_limit = history_limit
        self._history_bytes = history_bytes
        self._max_object_bytes = max_object_bytes
        self._rv = 0
        self._objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = defaultdict(dict)
        self._sizes: dict[tuple[StorageKey, ObjectKey], int] = {}
        self._history: dict[StorageKey, deque[Change]] = defaultdict(deque)
        self._history_size: Counter[StorageKey] = Counter()
        #: changes with rv <= this may be missing from the history of that resource
        self._compacted: dict[StorageKey, int] = defaultdict(int)
        self._subs: dict[StorageKey, list[Subscription]] = defaultdict(list)
        self._by_uid: dict[str, ObjectRef] = {}
        self._dependents: dict[str, set[ObjectRef]] = defaultdict(set)
        self._ns_counts: Counter[str] = Counter()
        #: called with every committed change, under the store's lock, at the moment of
        #: the commit (benchmarks time writes by it; it must be quick and not write)
        self.on_commit: Callable[[Change], None] | None = None
        for ns in namespaces:
            self.create(NAMESPACES, None, {"metadata": {"name": ns}})

    # --- reading ----------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        with self.lock:
            return present(rt, self._require(rt, namespace, name))

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self._objects[rt.storage].get(self._key(rt, namespace, name))
            return present(rt, obj) if obj is not None else None

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], int, str, int | None]:
        """Matching objects sorted by (namespace, name): items, list rv, continue, remaining."""
        with self.lock:
            list_rv, start = self._rv, None
            if continue_token:
                list_rv, start = self._decode_continue(rt, continue_token)
            matched = [
                present(rt, obj) for _, obj in self._matching(rt, namespace, labels, fields, start)
            ]
            if limit <= 0 or len(matched) <= limit:
                return matched, list_rv, "", None
            page, rest = matched[:limit], len(matched) - limit
            last = page[-1]["metadata"]
            token = self._encode_continue(list_rv, last.get("namespace") or "", last["name"])
            return page, list_rv, token, rest

    def _matching(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        start: tuple[str, str] | None = None,
    ) -> Iterator[tuple[ObjectKey, dict[str, Any]]]:
        store = self._objects[rt.storage]
        exact = fields.exact_name()
        if exact is not None and (namespace is not None or not rt.namespaced):
            key = self._key(rt, namespace, exact)
            candidates = [(key, store[key])] if key in store else []
        else:
            candidates = sorted(store.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
        for key, obj in candidates:
            if namespace is not None and rt.namespaced and key[0] != namespace:
                continue
            if start is not None and (key[0] or "", key[1]) <= start:
                continue
            meta = obj["metadata"]
            if labels.matches(meta.get("labels")) and (
                not fields.requirements or fields.matches(present(rt, obj))
            ):
                yield key, obj

    def _encode_continue(self, rv: int, namespace: str, name: str) -> str:
        raw = json.dumps({"rv": rv, "start": [namespace, name]}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    def _decode_continue(self, rt: ResourceType, token: str) -> tuple[int, tuple[str, str]]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            rv, start = int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
        except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as e:
            raise BadRequest(f"invalid continue token {token!r}: {e}") from e
        if rv < self._compacted[rt.storage]:
            raise Gone(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter."
            )
        return rv, start

    # --- watching ---------------------------------------------------------------------------

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        since: str | None,
        sink: Sink,
        *,
        send_initial_events: bool = False,
    ) -> Subscription:
        """Subscribe to changes; replay what the client missed since ``since``.

        ``since`` unset or "0" starts with synthetic ADDED events for the current
        state; a resourceVersion N replays exactly the changes after N.
        """
        with self.lock:
            sub = Subscription(
                rt.storage, namespace if rt.namespaced else None, labels, fields, sink
            )
            if since in (None, "", "0") or send_initial_events:
                for _, obj in self._matching(rt, namespace, labels, fields):
                    sub.send(WatchEvent(ADDED, obj, int(obj["metadata"]["resourceVersion"])))
                if send_initial_events:
                    sub.send(Marker("initial-end", self._rv))
            else:
                assert since is not None
                try:
                    since_rv = int(since)
                except ValueError as e:
                    raise BadRequest(
                        f"invalid resourceVersion {since!r}: must be an integer"
                    ) from e
                if since_rv < self._compacted[rt.storage]:
                    raise Gone(
                        f"too old resource version: {since_rv} ({self._compacted[rt.storage]})"
                    )
                if since_rv > self._rv:
                    raise TooLargeResourceVersion(
                        f"Too large resource version: {since_rv}, current: {self._rv}"
                    )
                for change in self._history[rt.storage]:
                    if change.rv > since_rv:
                        sub.offer(change)
            self._subs[rt.storage].append(sub)
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self.lock:
            sub.active = False
            subs = self._subs.get(sub.storage)
            if subs and sub in subs:
                subs.remove(sub)

    def subscriptions(self, storage: StorageKey | None = None) -> builtins.list[Subscription]:
        with self.lock:
            if storage is not None:
                return list(self._subs.get(storage, ()))
            return [s for subs in self._subs.values() for s in subs]

    def bookmark(self, sub: Subscription) -> None:
        """Queue a BOOKMARK at the current resourceVersion behind every pending event."""
        with self.lock:
            sub.send(Marker("bookmark", self._rv))

    def compact(self) -> int:
        """Forget all history (as etcd compaction does); older resumes then get 410 Gone."""
        with self.lock:
            for storage in list(self._history):
                self._history[storage].clear()
            self._history_size.clear()
            for storage in set(self._objects) | set(self._history):
                self._compacted[storage] = self._rv
            return self._rv

    # --- writing ----------------------------------------------------------------------------

    def create(
        self, rt: ResourceType, namespace: str | None, body: Any, *, fresh: bool = False
    ) -> dict[str, Any]:
        """``fresh``: the body is the caller's to give away (parsed from a request),
        so the store keeps it instead of a copy."""
        with self.lock:
            self._check_writable(rt)
            obj = self._incoming(rt, body, fresh=fresh)
            meta = obj["metadata"]
            if meta.get("resourceVersion"):
                raise BadRequest("resourceVersion should not be set on objects to be created")
            namespace = self._settle_namespace(rt, namespace, meta)
            if rt.namespaced:
                self._check_namespace_open(rt, namespace, meta)
            store = self._objects[rt.storage]
            if not meta.get("name"):
                prefix = meta.get("generateName")
                if not prefix:
                    raise Invalid(
                        f"{rt.kind} is invalid: metadata.name: Required value: "
                        "name or generateName is required",
                        group=rt.group,
                        kind=rt.kind,
                    )
                meta["name"] = self._generate_name(str(prefix), lambda n: (namespace, n) in store)
            name = str(meta["name"])
            if self._key(rt, namespace, name) in store:
                raise AlreadyExists(
                    f'{rt.group_resource} "{name}" already exists',
                    name=name,
                    group=rt.group,
                    kind=rt.plural,
                )
            for field in _SERVER_META:
                meta.pop(field, None)
            meta["uid"] = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            meta["creationTimestamp"] = self._now()
            meta["generation"] = 1
            self._prepare_create(rt, obj)
            if rt == EVENTS_V1:
                check_events_v1(rt, obj)
                obj = events_v1_to_core(obj)
            obj = admit(self._storage_type(rt), obj, None)
            obj.pop("apiVersion", None)
            obj.pop("kind", None)
            crd_types = types_from_crd(present(CRDS, obj)) if rt.storage == CRDS.storage else None
            if crd_types is not None:
                self._check_crd_storage_free(obj, crd_types)
                obj["status"] = self._crd_status(obj)
            self._commit(rt.storage, self._key(rt, namespace, name), obj, None)
            if crd_types is not None:
                for t in crd_types:
                    self.registry.add(t)
            return present(rt, obj)

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None = None,
        *,
        fresh: bool = False,
    ) -> dict[str, Any]:
        with self.lock:
            old = self._require(rt, namespace, name)
            incoming = self._incoming(rt, body, fresh=fresh)
            meta = incoming["metadata"]
            if meta.get("name") not in (None, "", name):
                raise BadRequest(
                    f"the name of the object ({meta['name']}) does not match "
                    f"the name on the URL ({name})"
                )
            meta["name"] = name
            self._settle_namespace(rt, namespace, meta)
            self._check_precondition(rt, old, meta.get("resourceVersion"))
            return self._apply_update(rt, old, incoming, subresource)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        from .patching import apply_patch

        with self.lock:
            old = self._require(rt, namespace, name)
            patched = apply_patch(rt, content_type, json_copy(present(rt, old)), patch)
            incoming = self._incoming(rt, patched, fresh=True)
            meta = incoming["metadata"]
            if meta.get("name") != name:
                raise Invalid(
                    f'{rt.kind} "{name}" is invalid: metadata.name: Invalid value: '
                    f'"{meta.get("name")}": field is immutable',
                    name=name,
                    group=rt.group,
                    kind=rt.kind,
                )
            if rt.namespaced and meta.get("namespace") != namespace:
                raise Invalid(
                    f'{rt.kind} "{name}" is invalid: metadata.namespace: Invalid value: '
                    f'"{meta.get("namespace")}": field is immutable',
                    name=name,
                    group=rt.group,
                    kind=rt.kind,
                )
            self._check_precondition(rt, old, meta.get("resourceVersion"))
            return self._apply_update(rt, old, incoming, subresource)

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Delete (or start deleting) one object; return its state and whether it is gone."""
        with self.lock:
            obj = self._require(rt, namespace, name)
            meta = obj["metadata"]
            if preconditions:
                if preconditions.get("uid") and preconditions["uid"] != meta["uid"]:
                    raise Conflict(
                        f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                        f"UID in object meta: {meta['uid']}",
                        name=name,
                        group=rt.group,
                        kind=rt.plural,
                    )
                rv = preconditions.get("resourceVersion")
                if rv and rv != meta["resourceVersion"]:
                    raise Conflict(
                        f"Precondition failed: ResourceVersion in precondition: {rv}, "
                        f"ResourceVersion in object meta: {meta['resourceVersion']}",
                        name=name,
                        group=rt.group,
                        kind=rt.plural,
                    )
            policy = propagation or rt.default_propagation
            if policy not in PROPAGATION_POLICIES:
                raise BadRequest(
                    f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                    '"Background", "Foreground", "Orphan"'
                )
            key = self._key(rt, namespace, name)
            if meta.get("deletionTimestamp"):
                return present(rt, obj), False
            final = self._delete_object(rt.storage, key, policy)
            return present(rt, final), key not in self._objects[rt.storage]

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        propagation: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        with self.lock:
            keys = [key for key, _ in self._matching(rt, namespace, labels, fields)]
            return [self.delete(rt, key[0], key[1], propagation=propagation)[0] for key in keys]

    # --- write internals --------------------------------------------------------------------

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> ObjectKey:
        return (namespace if rt.namespaced else None, name)

    def _require(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects[rt.storage].get(self._key(rt, namespace, name))
        if obj is None:
            raise NotFound(
                f'{rt.group_resource} "{name}" not found', name=name, group=rt.group, kind=rt.plural
            )
        return obj

    def _storage_type(self, rt: ResourceType) -> ResourceType:
        return CORE_EVENTS if rt == EVENTS_V1 else rt

    def _check_writable(self, rt: ResourceType) -> None:
        if rt.custom:
            crd = self._objects[CRDS.storage].get((None, f"{rt.plural}.{rt.group}"))
            if crd is not None and crd["metadata"].get("deletionTimestamp"):
                raise MethodNotAllowed(
                    "create not allowed while custom resource definition "
                    f"{rt.plural}.{rt.group} is terminating"
                )

    def _incoming(self, rt: ResourceType, body: Any, *, fresh: bool = False) -> dict[str, Any]:
        """Check a request body against its URL's type; a copy the store may change (unless
        ``fresh``: already a private copy)."""
        if not isinstance(body, dict):
            raise BadRequest(f"the request body must be a JSON object, got {type(body).__name__}")
        obj = body if fresh else json_copy(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.api_version:
            raise BadRequest(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise BadRequest(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be a JSON object")
        check_shape(rt, obj)
        return obj

    def _settle_namespace(
        self, rt: ResourceType, namespace: str | None, meta: dict[str, Any]
    ) -> str | None:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return None
        if not namespace:
            raise BadRequest(
                f"{rt.group_resource} is namespaced: the request needs a namespace in its URL"
            )
        if meta.get("namespace") not in (None, "", namespace):
            raise BadRequest(
                "the namespace of the provided object does not match "
                "the namespace sent on the request"
            )
        meta["namespace"] = namespace
        return namespace

    def _check_namespace_open(
        self, rt: ResourceType, namespace: str | None, meta: Mapping[str, Any]
    ) -> None:
        ns = self._objects[NAMESPACES.storage].get((None, str(namespace)))
        if ns is None:
            raise NotFound(f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        if ns["metadata"].get("deletionTimestamp"):
            name = meta.get("name") or meta.get("generateName") or ""
            raise Forbidden(
                f'{rt.group_resource} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated",
                name=str(name),
                group=rt.group,
                kind=rt.plural,
            )

    def _generate_name(self, prefix: str, taken: Callable[[str], bool]) -> str:
        base = prefix[:MAX_GENERATED_PREFIX]
        for _ in range(100):
            name = base + "".join(self._rng.choice(_GENERATE_ALPHABET) for _ in range(5))
            if not taken(name):
                return name
        raise AlreadyExists(f"could not generate a unique name from the prefix {prefix!r}")

    def _prepare_create(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """What each type's create strategy resets or sets."""
        if rt.has_status:
            # Custom resources start without status; built-ins with an empty one.
            obj.pop("status", None)
            if not rt.custom:
                obj["status"] = {}
        if rt == NAMESPACES:
            if obj.get("spec") is None:  # a JSON null decodes to an empty spec
                obj["spec"] = {}
            obj["spec"].setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
        elif rt == PODS:
            obj["status"] = {"phase": "Pending"}

    def _check_precondition(self, rt: ResourceType, old: Mapping[str, Any], rv: Any) -> None:
        if rv and str(rv) != old["metadata"]["resourceVersion"]:
            name = old["metadata"]["name"]
            raise Conflict(
                f'Operation cannot be fulfilled on {rt.group_resource} "{name}": '
                "the object has been modified; "
                "please apply your changes to the latest version and try again",
                name=old["metadata"]["name"],
                group=rt.group,
                kind=rt.plural,
            )

    def _apply_update(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        incoming: dict[str, Any],
        subresource: str | None,
    ) -> dict[str, Any]:
        art = self._storage_type(rt)
        if rt == EVENTS_V1:
            incoming = events_v1_to_core(incoming)
        if subresource == "status":
            new = json_copy(old)
            if "status" in incoming:
                new["status"] = incoming["status"]
            else:
                new.pop("status", None)
        else:
            new = incoming
            new.pop("apiVersion", None)
            new.pop("kind", None)
            meta = new["metadata"]
            for field in _SERVER_META:
                meta.pop(field, None)
                if field in old["metadata"]:
                    meta[field] = old["metadata"][field]
            if art.has_status:
                if "status" in old:
                    new["status"] = json_copy(old["status"])
                else:
                    new.pop("status", None)
        self._check_finalizers_frozen(rt, old, new)
        new = admit(art, new, present(art, old), status_only=subresource == "status")
        new.pop("apiVersion", None)
        new.pop("kind", None)
        if _content(art, new) != _content(art, old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
        crd_types = None
        if rt.storage == CRDS.storage and subresource != "status":
            crd_types = types_from_crd(present(CRDS, new))
            if _crd_storage(new) != _crd_storage(old):
                raise Invalid(
                    f'CustomResourceDefinition.apiextensions.k8s.io "{old["metadata"]["name"]}" is '
                    "invalid: spec.group, spec.names.plural: Invalid value: field is immutable",
                    name=old["metadata"]["name"],
                    group="apiextensions.k8s.io",
                    kind="CustomResourceDefinition",
                )
        if _same(new, old):
            return present(rt, old)
        key = (old["metadata"].get("namespace"), old["metadata"]["name"])
        self._commit(rt.storage, key, new, old)
        if crd_types is not None and not new["metadata"].get("deletionTimestamp"):
            self.registry.remove_storage(_crd_storage(new))
            for t in crd_types:
                self.registry.add(t)
        self._maybe_remove(rt.storage, key)
        return present(rt, new)

    def _check_finalizers_frozen(
        self, rt: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> None:
        if not old["metadata"].get("deletionTimestamp"):
            return
        added = set(new["metadata"].get("finalizers") or []) - set(
            old["metadata"].get("finalizers") or []
        )
        if added:
            name = old["metadata"]["name"]
            raise Invalid(
                f'{rt.kind} "{name}" is invalid: metadata.finalizers: Forbidden: '
                "no new finalizers can be added if the object is being deleted, "
                f"found new finalizers {sorted(added)}",
                name=name,
                group=rt.group,
                kind=rt.kind,
            )

    def _check_crd_storage_free(
        self, crd: Mapping[str, Any], types: builtins.list[ResourceType]
    ) -> None:
        storage = types[0].storage if types else _crd_storage(crd)
        taken = [rt for rt in self.registry.of_storage(storage) if not rt.custom]
        if taken:
            raise Invalid(
                f'CustomResourceDefinition.apiextensions.k8s.io "{crd["metadata"]["name"]}" '
                f"is invalid: spec.names.plural: {storage[1]}.{storage[0]} "
                "is served by a built-in API",
                name=crd["metadata"]["name"],
                group="apiextensions.k8s.io",
                kind="CustomResourceDefinition",
            )

    def _crd_status(self, crd: Mapping[str, Any]) -> dict[str, Any]:
        now = self._now()
        spec = crd["spec"]
        storage_version = next(v["name"] for v in spec["versions"] if v.get("storage"))
        return {
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ],
            "acceptedNames": json_copy(spec["names"]),
            "storedVersions": [storage_version],
        }

    def _commit(
        self,
        storage: StorageKey,
        key: ObjectKey,
        new: dict[str, Any] | None,
        old: dict[str, Any] | None,
    ) -> Change:
        """Persist one write: bump the resourceVersion, index it, record it, fan it out."""
        rv = self._rv + 1
        if new is not None:
            new["metadata"]["resourceVersion"] = str(rv)
            size = len(json.dumps(new, separators=(",", ":")))
            if size > self._max_object_bytes:
                if old is not None:
                    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                raise InternalError(
                    f"etcdserver: request is too large ({size} bytes > {self._max_object_bytes})"
                )
            self._objects[storage][key] = new
            self._sizes[(storage, key)] = size
            kind = MODIFIED if old is not None else ADDED
            change = Change(kind, rv, storage, key[0], key[1], new, old, size)
        else:
            assert old is not None
            final = dict(old)
            final["metadata"] = dict(old["metadata"], resourceVersion=str(rv))
            del self._objects[storage][key]
            size = self._sizes.pop((storage, key), 0)
            change = Change(DELETED, rv, storage, key[0], key[1], final, old, size)
        self._rv = rv
        if self.on_commit is not None:
            self.on_commit(change)
        self._reindex(storage, key, new, old)
        self._remember(change)
        subs = self._subs.get(storage)
        if subs:
            for sub in list(subs):
                sub.offer(change)
                if not sub.active:
                    subs.remove(sub)
        return change

    def _remember(self, change: Change) -> None:
        history = self._history[change.storage]
        while history and (
            len(history) >= self._history_limit
            or self._history_size[change.storage] + change.size > self._history_bytes
        ):
            evicted = history.popleft()
            self._history_size[change.storage] -= evicted.size
            self._compacted[change.storage] = evicted.rv
        history.append(change)
        self._history_size[change.storage] += change.size

    def _reindex(
        self,
        storage: StorageKey,
        key: ObjectKey,
        new: Mapping[str, Any] | None,
        old: Mapping[str, Any] | None,
    ) -> None:
        ref: ObjectRef = (storage, key[0], key[1])
        if old is None and new is not None:
            self._by_uid[new["metadata"]["uid"]] = ref
            if key[0] is not None:
                self._ns_counts[key[0]] += 1
        elif new is None and old is not None:
            self._by_uid.pop(old["metadata"]["uid"], None)
            if key[0] is not None:
                self._ns_counts[key[0]] -= 1
        old_owners = _owner_uids(old)
        new_owners = _owner_uids(new)
        for uid in old_owners - new_owners:
            self._dependents[uid].discard(ref)
            if not self._dependents[uid]:
                del self._dependents[uid]
        for uid in new_owners - old_owners:
            self._dependents[uid].add(ref)

    def _lookup(self, ref: ObjectRef) -> dict[str, Any] | None:
        storage, ns, name = ref
        return self._objects[storage].get((ns, name))

    def _write_meta(
        self, storage: StorageKey, key: ObjectKey, mutate: Callable[[dict[str, Any]], None]
    ) -> None:
        """A server-side metadata change (GC, finalizer release): no admission, same generation."""
        old = self._objects[storage].get(key)
        if old is None:
            return
        new = json_copy(old)
        mutate(new["metadata"])
        if _same(new, old):
            return
        self._commit(storage, key, new, old)
        self._maybe_remove(storage, key)

    # --- deletion and garbage collection ----------------------------------------------------

    def _delete_object(self, storage: StorageKey, key: ObjectKey, policy: str) -> dict[str, Any]:
        obj = self._objects[storage][key]
        uid = obj["metadata"]["uid"]
        if policy == ORPHAN:
            self._orphan_dependents(uid)
            obj = self._objects[storage][key]
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if (
            policy == FOREGROUND
            and self._dependents.get(uid)
            and FOREGROUND_FINALIZER not in finalizers
        ):
            finalizers.append(FOREGROUND_FINALIZER)
        if (
            storage == CRDS.storage
            and self._objects[_crd_storage(obj)]
            and CRD_CLEANUP_FINALIZER not in finalizers
        ):
            finalizers.append(CRD_CLEANUP_FINALIZER)
        if not finalizers and not self._has_contents(storage, key, obj):
            self._remove(storage, key)
            return obj
        new = json_copy(obj)
        meta = new["metadata"]
        meta["deletionTimestamp"] = self._now()
        meta["deletionGracePeriodSeconds"] = 0
        if finalizers:
            meta["finalizers"] = finalizers
        if meta.get("generation"):
            meta["generation"] = int(meta["generation"]) + 1
        if storage == NAMESPACES.storage:
            new["status"] = {"phase": "Terminating"}
        self._commit(storage, key, new, obj)
        if storage == NAMESPACES.storage:
            self._empty_namespace(key[1])
        elif storage == CRDS.storage:
            self._empty_crd(new)
        if FOREGROUND_FINALIZER in finalizers:
            for ref in sorted(self._dependents.get(uid, ())):
                self._collect(ref)
            self._release_foreground(uid)
        self._maybe_remove(storage, key)
        return self._objects[storage].get(key, new)

    def _has_contents(self, storage: StorageKey, key: ObjectKey, obj: Mapping[str, Any]) -> bool:
        if storage == NAMESPACES.storage:
            return self._ns_counts[key[1]] > 0
        if storage == CRDS.storage:
            return bool(self._objects[_crd_storage(obj)])
        return False

    def _maybe_remove(self, storage: StorageKey, key: ObjectKey) -> None:
        obj = self._objects[storage].get(key)
        if obj is None or not obj["metadata"].get("deletionTimestamp"):
            return
        finalizers = obj["metadata"].get("finalizers") or []
        cleaned_up = storage == CRDS.storage and not self._objects[_crd_storage(obj)]
        if cleaned_up and CRD_CLEANUP_FINALIZER in finalizers:
            self._write_meta(storage, key, _drop_finalizer(CRD_CLEANUP_FINALIZER))
            return
        if finalizers or self._has_contents(storage, key, obj):
            return
        self._remove(storage, key)

    def _remove(self, storage: StorageKey, key: ObjectKey) -> None:
        obj = self._objects[storage][key]
        self._commit(storage, key, None, obj)
        uid = obj["metadata"]["uid"]
        for ref in sorted(self._dependents.get(uid, ())):
            self._collect(ref)
        for owner_uid in _owner_uids(obj):
            self._release_foreground(owner_uid)
        if key[0] is not None and self._ns_counts[key[0]] == 0:
            self._maybe_remove(NAMESPACES.storage, (None, key[0]))
        if storage == CRDS.storage:
            self._drop_crd_types(_crd_storage(obj))
        else:
            crd_key = (None, f"{storage[1]}.{storage[0]}")
            if storage[0] and crd_key in self._objects[CRDS.storage] and not self._objects[storage]:
                self._maybe_remove(CRDS.storage, crd_key)

    def _owner_state(self, uid: str) -> str:
        """How the GC classifies an owner: ``dangling`` (gone), ``waiting`` (deleting in the
        foreground) or ``solid``."""
        ref = self._by_uid.get(uid)
        owner = self._lookup(ref) if ref else None
        if owner is None:
            return "dangling"
        meta = owner["metadata"]
        if meta.get("deletionTimestamp") and FOREGROUND_FINALIZER in (meta.get("finalizers") or []):
            return "waiting"
        return "solid"

    def _collect(self, ref: ObjectRef) -> None:
        """The garbage collector's decision for one dependent whose owner went away or is going."""
        dep = self._lookup(ref)
        if dep is None:
            return
        owners = dep["metadata"].get("ownerReferences") or []
        states = {r["uid"]: self._owner_state(r["uid"]) for r in owners}
        if not states or "solid" in states.values():
            gone = {uid for uid, state in states.items() if state != "solid"}
            if gone:
                self._write_meta(ref[0], (ref[1], ref[2]), _drop_owner_refs(gone))
            return
        if dep["metadata"].get("deletionTimestamp"):
            return
        policy = FOREGROUND if "waiting" in states.values() else BACKGROUND
        self._delete_object(ref[0], (ref[1], ref[2]), policy)

    def _release_foreground(self, owner_uid: str) -> None:
        ref = self._by_uid.get(owner_uid)
        owner = self._lookup(ref) if ref else None
        if owner is None or ref is None:
            return
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp") or FOREGROUND_FINALIZER not in (
            meta.get("finalizers") or []
        ):
            return
        for dep_ref in self._dependents.get(owner_uid, ()):
            dep = self._lookup(dep_ref)
            if dep is None:
                continue
            for r in dep["metadata"].get("ownerReferences") or []:
                if r.get("uid") == owner_uid and r.get("blockOwnerDeletion"):
                    return  # still blocked by this dependent
        self._write_meta(ref[0], (ref[1], ref[2]), _drop_finalizer(FOREGROUND_FINALIZER))

    def _orphan_dependents(self, uid: str) -> None:
        for ref in sorted(self._dependents.get(uid, ())):
            self._write_meta(ref[0], (ref[1], ref[2]), _drop_owner_refs({uid}))

    def _empty_namespace(self, namespace: str) -> None:
        for storage, objects in list(self._objects.items()):
            for key in [k for k in objects if k[0] == namespace]:
                obj = objects.get(key)
                if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                    self._delete_object(storage, key, BACKGROUND)

    def _empty_crd(self, crd: Mapping[str, Any]) -> None:
        storage = _crd_storage(crd)
        for key in list(self._objects[storage]):
            obj = self._objects[storage].get(key)
            if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                self._delete_object(storage, key, BACKGROUND)

    def _drop_crd_types(self, storage: StorageKey) -> None:
        self.registry.remove_storage(storage)
        for sub in self._subs.pop(storage, []):
            sub.send(Marker("close", self._rv))
            sub.active = False
        self._history.pop(storage, None)
        self._history_size.pop(storage, None)


def _content(rt: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if rt.has_status else set())
    return {k: v for k, v in obj.items() if k not in skip}


def _same(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Equal but for the resourceVersion: such a write changes nothing and is not stored."""
    if new.keys() != old.keys():
        return False
    for k, v in new.items():
        if k == "metadata":
            a = {mk: mv for mk, mv in v.items() if mk != "resourceVersion"}
            b = {mk: mv for mk, mv in old[k].items() if mk != "resourceVersion"}
            if a != b:
                return False
        elif v != old[k]:
            return False
    return True


def _owner_uids(obj: Mapping[str, Any] | None) -> set[str]:
    if obj is None:
        return set()
    return {
        r["uid"]
        for r in obj["metadata"].get("ownerReferences") or []
        if isinstance(r, Mapping) and r.get("uid")
    }


def _crd_storage(crd: Mapping[str, Any]) -> StorageKey:
    spec = crd.get("spec") or {}
    return (str(spec.get("group")), str((spec.get("names") or {}).get("plural")))


def _drop_finalizer(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(meta: dict[str, Any]) -> None:
        remaining = [f for f in meta.get("finalizers") or [] if f != name]
        if remaining:
            meta["finalizers"] = remaining
        else:
            meta.pop("finalizers", None)

    return mutate


def _drop_owner_refs(uids: set[str]) -> Callable[[dict[str, Any]], None]:
    def mutate(meta: dict[str, Any]) -> None:
        remaining = [r for r in meta.get("ownerReferences") or [] if r.get("uid") not in uids]
        if remaining:
            meta["ownerReferences"] = remaining
        else:
            meta.pop("ownerReferences", None)

    return mutate

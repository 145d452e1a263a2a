"""``KubeApiEmulator``: a Kubernetes API server on a loopback port, for integration tests.

It runs in its own thread with its own event loop, so anything can talk to it:
the blocking ``kubernetes`` client from a sync or an async test, Kopf inside
``KopfRunner``'s thread, aiohttp sessions. Besides HTTP, tests get an
in-process API on the same store (not counted in the request log): that is
how a test plays the Job controller and the kubelet, waits for conditions
without sleeping, cuts watch connections, compacts history or injects
failures.

    with KubeApiEmulator() as api:
        api.write_kubeconfig(path)
        api.register_crd(Path("crds/cirun.yaml"))
        core = kubernetes.client.CoreV1Api(api.api_client())
        ...
        api.wait_for("jobs.batch", "x", namespace="default", predicate=lambda o: o is not None)
        assert api.request_count("create", "jobs") == 1
"""

from __future__ import annotations

import asyncio
import builtins
import queue
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from aiohttp import web

from .errors import EmulatorUsageError, WaitTimeout
from .jsoncopy import json_copy
from .requestlog import ANY, RequestLog, RequestRecord
from .resources import CRDS, ResourceType
from .selectors import FieldSelector, LabelSelector
from .server import DEFAULT_USER, ActiveWatch, ApiServer, FaultRule
from .store import ObjectStore, present
from .watches import DELETED, LoopSink, Marker, Subscription, ThreadSink, WatchEvent

Predicate = Callable[[dict[str, Any] | None], bool]


@dataclass(frozen=True)
class ObjectChange:
    """A change seen by an in-process subscriber (a test's controller or kubelet)."""

    type: str  # ADDED, MODIFIED, DELETED
    object: dict[str, Any]
    resource_version: int


class KubeApiEmulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = "cairn-test-token",
        seed: int = 0,
        clock: Callable[[], datetime] | None = None,
        history_limit: int = 10_000,
        history_bytes: int = 64 * 1024 * 1024,
        request_log_size: int = 1000,
        watch_timeout: float = 1800.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.token = token
        self.store = ObjectStore(
            clock=clock, seed=seed, history_limit=history_limit, history_bytes=history_bytes
        )
        self.requests = RequestLog(request_log_size)
        self._watch_changed = threading.Condition()
        self.server = ApiServer(
            self.store,
            self.requests,
            token=token,
            watch_timeout=watch_timeout,
            on_watches_changed=self._notify_watches,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._startup_error: BaseException | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise EmulatorUsageError("the emulator is already running")
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="kubeapi-emulator", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise EmulatorUsageError(
                f"the emulator could not start: {self._startup_error}"
            ) from self._startup_error
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:
            self._startup_error = e
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(
            self.server.make_app(),
            handle_signals=False,
            shutdown_timeout=2.0,
            handler_cancellation=True,
            access_log=None,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.server.server_address = f"{self.host}:{self._port}"

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        for watch in list(self.server.watches):
            watch.subscription.send(Marker("close", self.store.resource_version))
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmulatorUsageError("the emulator is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def errors(self) -> builtins.list[str]:
        """Tracebacks of crashes inside the emulator: a passing test leaves this empty."""
        return list(self.server.errors)

    # --- client configuration ---------------------------------------------------------------

    def add_user(self, name: str, token: str | None = None) -> str:
        """Another identity with its own bearer token; returns the token.

        The request log records who sent each request, so ``request_count(user=name)``
        tells clients apart that are otherwise alike (two replicas of one operator,
        with the same user agent). ``kubeconfig(user=name)`` logs in as this user.
        """
        if not name or name == DEFAULT_USER or name in self.server.users.values():
            raise EmulatorUsageError(f"user {name!r} is empty or exists already")
        token = token or f"{name}-{secrets.token_hex(8)}"
        if token in self.server.users:
            raise EmulatorUsageError(f"the token of user {name!r} belongs to another user")
        self.server.add_user(name, token)
        return token

    def token_of(self, user: str | None) -> str | None:
        """The bearer token of ``user`` (None: the emulator's own token)."""
        if user is None or user == DEFAULT_USER:
            return self.token
        for token, name in self.server.users.items():
            if name == user:
                return token
        raise EmulatorUsageError(f"no user {user!r}: add it with add_user() first")

    def kubeconfig(self, user: str | None = None) -> dict[str, Any]:
        token = self.token_of(user)
        user_name = user or DEFAULT_USER
        credentials: dict[str, Any] = {"token": token} if token else {}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cairn-emulator", "cluster": {"server": self.url}}],
            "users": [{"name": user_name, "user": credentials}],
            "contexts": [
                {
                    "name": "cairn-emulator",
                    "context": {
                        "cluster": "cairn-emulator",
                        "user": user_name,
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "cairn-emulator",
        }

    def write_kubeconfig(self, path: Path, user: str | None = None) -> Path:
        path.write_text(yaml.safe_dump(self.kubeconfig(user)))
        return path

    def api_client(self, user: str | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` bound to this emulator (not to $KUBECONFIG)."""
        import kubernetes

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        token = self.token_of(user)
        if token:
            configuration.api_key = {"BearerToken": token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return kubernetes.client.ApiClient(configuration)

    # --- in-process object API (controllers and kubelets played by tests) -----------------

    def resource(self, name: str) -> ResourceType:
        """Resolve ``configmaps``, ``jobs.batch``, ``batch/v1/jobs``, ``Job`` or ``cm``."""
        with self.store.lock:
            return self.store.registry.resolve(name)

    def create(
        self, resource: str, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        rt = self.resource(resource)
        ns = namespace or (body.get("metadata") or {}).get("namespace")
        return json_copy(self.store.create(rt, ns, dict(body)))

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return json_copy(self.store.get(self.resource(resource), namespace, name))

    def find(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        return json_copy(self.store.find(self.resource(resource), namespace, name))

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        rt = self.resource(resource)
        items, _, _, _ = self.store.list(
            rt,
            namespace,
            LabelSelector.parse(label_selector),
            FieldSelector.parse(field_selector, rt),
        )
        return json_copy(items)

    def replace(
        self,
        resource: str,
        name: str,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        rt = self.resource(resource)
        return json_copy(self.store.replace(rt, namespace, name, dict(body), subresource))

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        content_type: str = "application/merge-patch+json",
    ) -> dict[str, Any]:
        rt = self.resource(resource)
        return json_copy(self.store.patch(rt, namespace, name, content_type, patch, subresource))

    def patch_status(
        self, resource: str, name: str, status: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Merge ``status`` into the object's status, as a controller or kubelet reports."""
        return self.patch(resource, name, {"status": dict(status)}, namespace, subresource="status")

    def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = None,
    ) -> dict[str, Any]:
        obj, _ = self.store.delete(
            self.resource(resource), namespace, name, propagation=propagation
        )
        return json_copy(obj)

    def apply_manifest(
        self, manifest: Mapping[str, Any] | Path | str, namespace: str = "default"
    ) -> builtins.list[dict[str, Any]]:
        """Create every object of a YAML file/string (or one dict), as ``kubectl create -f`` does:
        namespaced objects without a namespace go to ``namespace``. Returns what was stored."""
        if isinstance(manifest, Mapping):
            documents: builtins.list[Any] = [manifest]
        else:
            text = manifest.read_text() if isinstance(manifest, Path) else manifest
            documents = [d for d in yaml.safe_load_all(text) if d]
        created = []
        for doc in documents:
            if not isinstance(doc, Mapping) or "apiVersion" not in doc or "kind" not in doc:
                raise EmulatorUsageError(
                    f"not a Kubernetes object (no apiVersion/kind): {str(doc)[:80]!r}"
                )
            rt = self._type_of_manifest(doc)
            ns = (doc.get("metadata") or {}).get("namespace") or namespace
            created.append(json_copy(self.store.create(rt, ns, dict(doc))))
        return created

    def register_crd(self, crd: Mapping[str, Any] | Path | str) -> builtins.list[ResourceType]:
        """Create CustomResourceDefinition(s); return the resource types now served."""
        stored = self.apply_manifest(crd)
        types = []
        for obj in stored:
            if obj.get("kind") != CRDS.kind:
                raise EmulatorUsageError(
                    f"register_crd got a {obj.get('kind')}, not a CustomResourceDefinition"
                )
            group, plural = obj["spec"]["group"], obj["spec"]["names"]["plural"]
            with self.store.lock:
                types.extend(self.store.registry.of_storage((group, plural)))
        return types

    def _type_of_manifest(self, doc: Mapping[str, Any]) -> ResourceType:
        api_version, kind = str(doc["apiVersion"]), str(doc["kind"])
        group, _, version = api_version.rpartition("/")
        with self.store.lock:
            for rt in self.store.registry.all():
                if rt.group == group and rt.version == version and rt.kind == kind:
                    return rt
        raise EmulatorUsageError(f"the emulator serves no kind {kind} in {api_version}")

    # --- subscriptions and waiting ----------------------------------------------------------

    def _subscribe(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        since: int | None,
        sink: LoopSink | ThreadSink,
    ) -> Subscription:
        return self.store.watch(
            rt,
            namespace,
            LabelSelector.parse(label_selector),
            FieldSelector.parse(field_selector, rt),
            None if since is None else str(since),
            sink,
        )

    @staticmethod
    def _change(rt: ResourceType, item: WatchEvent) -> ObjectChange:
        return ObjectChange(item.type, json_copy(present(rt, item.obj)), item.rv)

    async def changes(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        since: int | None = None,
    ) -> AsyncIterator[ObjectChange]:
        """Every change of ``resource`` from now (or after ``since``), in order: the seam for test
        controllers. Without ``since`` it starts with an ADDED for each existing object."""
        rt = self.resource(resource)
        sink = LoopSink(asyncio.get_running_loop())
        sub = self._subscribe(rt, namespace, label_selector, field_selector, since, sink)
        try:
            while True:
                item = await sink.queue.get()
                if isinstance(item, Marker):
                    if item.kind in ("close", "drop"):
                        return
                    continue
                yield self._change(rt, item)
        finally:
            self.store.unsubscribe(sub)

    def changes_sync(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        since: int | None = None,
        timeout: float = 10.0,
    ) -> Generator[ObjectChange, None, None]:
        """Blocking twin of ``changes``; ``WaitTimeout`` when nothing comes for ``timeout`` s."""
        rt = self.resource(resource)
        sink = ThreadSink()
        sub = self._subscribe(rt, namespace, label_selector, field_selector, since, sink)
        try:
            while True:
                try:
                    item = sink.queue.get(timeout=timeout)
                except queue.Empty:
                    raise WaitTimeout(f"no change of {resource} within {timeout}s") from None
                if isinstance(item, Marker):
                    if item.kind in ("close", "drop"):
                        return
                    continue
                yield self._change(rt, item)
        finally:
            self.store.unsubscribe(sub)

    def wait_for(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        predicate: Predicate = lambda obj: obj is not None,
        timeout: float = 10.0,
    ) -> dict[str, Any] | None:
        """Block until ``predicate(object or None)`` holds; no polling: it wakes on each change."""
        rt = self.resource(resource)
        sink = ThreadSink()
        with self.store.lock:
            state = self.store.find(rt, namespace, name)
            sub = self._subscribe(
                rt, namespace, None, f"metadata.name={name}", self.store.resource_version, sink
            )
        deadline = time.monotonic() + timeout
        try:
            while not predicate(json_copy(state)):
                try:
                    item = sink.queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    raise WaitTimeout(
                        f"{rt.group_resource} {_where(namespace, name)} did not reach the "
                        f"expected state within {timeout}s; last seen: {_brief(state)}"
                    ) from None
                if isinstance(item, WatchEvent):
                    state = None if item.type == DELETED else present(rt, item.obj)
            return json_copy(state)
        finally:
            self.store.unsubscribe(sub)

    async def wait_for_async(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        predicate: Predicate = lambda obj: obj is not None,
        timeout: float = 10.0,
    ) -> dict[str, Any] | None:
        """``wait_for`` for async tests: suspends instead of blocking the test's loop."""
        rt = self.resource(resource)
        sink = LoopSink(asyncio.get_running_loop())
        with self.store.lock:
            state = self.store.find(rt, namespace, name)
            sub = self._subscribe(
                rt, namespace, None, f"metadata.name={name}", self.store.resource_version, sink
            )
        try:
            async with asyncio.timeout(timeout):
                while not predicate(json_copy(state)):
                    item = await sink.queue.get()
                    if isinstance(item, WatchEvent):
                        state = None if item.type == DELETED else present(rt, item.obj)
            return json_copy(state)
        except TimeoutError:
            raise WaitTimeout(
                f"{rt.group_resource} {_where(namespace, name)} did not reach the "
                f"expected state within {timeout}s; last seen: {_brief(state)}"
            ) from None
        finally:
            self.store.unsubscribe(sub)

    def wait_until(
        self,
        resource: str,
        condition: Callable[[builtins.list[dict[str, Any]]], bool],
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        timeout: float = 10.0,
    ) -> builtins.list[dict[str, Any]]:
        """Block until ``condition(all matching objects)`` holds; re-checked after each change."""
        rt = self.resource(resource)
        sink = ThreadSink()
        with self.store.lock:
            sub = self._subscribe(
                rt, namespace, label_selector, None, self.store.resource_version, sink
            )
        deadline = time.monotonic() + timeout
        try:
            while True:
                items = self.list(resource, namespace, label_selector=label_selector)
                if condition(items):
                    return items
                try:
                    sink.queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    raise WaitTimeout(
                        f"the condition on {rt.group_resource} did not hold within {timeout}s; "
                        f"{len(items)} objects: {[_brief(i) for i in items][:10]}"
                    ) from None
        finally:
            self.store.unsubscribe(sub)

    # --- request log ------------------------------------------------------------------------

    def request_count(
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
        """HTTP requests served since the last reset (see ``RequestLog.count``)."""
        return self.requests.count(
            verb,
            resource,
            subresource=subresource,
            namespace=namespace,
            status=status,
            path=path,
            user=user,
        )

    def reset_request_counts(self) -> None:
        self.requests.reset()

    def recent_requests(self) -> builtins.list[RequestRecord]:
        return self.requests.records()

    # --- faults and connections -------------------------------------------------------------

    def fail_next(
        self,
        verb: str | None = None,
        resource: str | None = None,
        *,
        code: int = 500,
        times: int = 1,
        namespace: str | None = None,
        name: str | None = None,
        message: str = "injected failure",
    ) -> None:
        """Make the next ``times`` matching requests fail with ``code`` (a Status body)."""
        if times < 1:
            raise EmulatorUsageError("times must be at least 1")
        self.server.add_fault(FaultRule(verb, resource, namespace, name, code, message, times))

    def active_watches(
        self, resource: str | None = None, *, user: str | None = None
    ) -> builtins.list[ActiveWatch]:
        """Open watch streams, of ``resource`` and opened by ``user`` when given."""
        storage = self.resource(resource).storage if resource else None
        return [
            w
            for w in list(self.server.watches)
            if (storage is None or w.rt.storage == storage) and (user is None or w.user == user)
        ]

    def drop_watches(self, resource: str | None = None, *, abrupt: bool = True) -> int:
        """End open watch streams: cut the connection (``abrupt``) or close the stream cleanly.

        Events already queued before the cut may be lost on the wire; a correct client resumes
        from the last resourceVersion it saw and gets them again.
        """
        watches = self.active_watches(resource)
        for watch in watches:
            watch.subscription.send(
                Marker("drop" if abrupt else "close", self.store.resource_version)
            )
        return len(watches)

    def wait_for_watches(
        self,
        resource: str | None = None,
        count: int = 1,
        *,
        exactly: bool = False,
        timeout: float = 10.0,
        user: str | None = None,
    ) -> builtins.list[ActiveWatch]:
        """Block until at least (or ``exactly``) ``count`` watches of ``resource`` are open
        (opened by ``user`` when given; ``count=0, exactly=True`` waits for none)."""
        deadline = time.monotonic() + timeout
        whose = f" by {user}" if user is not None else ""
        with self._watch_changed:
            while True:
                found = self.active_watches(resource, user=user)
                if len(found) == count or (len(found) > count and not exactly):
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(
                        f"{len(found)} watches of {resource or 'any resource'}{whose} open after "
                        f"{timeout}s, wanted {'exactly ' if exactly else ''}{count}"
                    )
                self._watch_changed.wait(remaining)

    def _notify_watches(self) -> None:
        with self._watch_changed:
            self._watch_changed.notify_all()

    def compact(self) -> int:
        """Drop the change history: a watch resuming from an older resourceVersion gets 410 Gone."""
        return self.store.compact()


def _where(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _brief(obj: Mapping[str, Any] | None) -> str:
    if obj is None:
        return "absent"
    meta = obj.get("metadata") or {}
    parts = [f"rv={meta.get('resourceVersion')}"]
    if meta.get("deletionTimestamp"):
        parts.append(f"deleting, finalizers={meta.get('finalizers')}")
    if "status" in obj:
        parts.append(f"status={str(obj['status'])[:200]}")
    return ", ".join(parts)

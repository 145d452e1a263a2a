"""The HTTP face of the emulator: routing, request decoding, responses, watch streams.

It speaks the Kubernetes REST conventions the real ``kubernetes`` client and
Kopf use: discovery documents, ``/api/v1/namespaces/{ns}/{plural}/{name}/{sub}``
paths, JSON bodies, ``v1.Status`` errors, and watch streams as one JSON event
per line. All semantics are delegated to ``ObjectStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import resources as res
from .errors import (
    BadRequest,
    InjectedFailure,
    Invalid,
    KubeApiError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from .requestlog import RequestLog
from .resources import ResourceType
from .selectors import FieldSelector, LabelSelector
from .store import ObjectStore, present
from .watches import LoopSink, Marker, Subscription, WatchEvent

log = logging.getLogger(__name__)

#: the API server refuses request bodies above 3 MiB before decoding them
MAX_REQUEST_BYTES = 3 * 1024 * 1024
#: the user the emulator's own token authenticates (the kubeconfig's user name)
DEFAULT_USER = "cairn-test"
SERVER_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-cairn-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass
class Route:
    """What a request addresses, once its URL is understood."""

    verb: str
    group: str | None = None
    version: str | None = None
    rt: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    #: set once the request log has this request (watches log when their stream starts)
    recorded: bool = False


@dataclass
class FaultRule:
    verb: str | None
    resource: str | None  # plural or plural.group
    namespace: str | None
    name: str | None
    code: int
    message: str
    remaining: int

    def matches(self, route: Route) -> bool:
        if self.verb is not None and route.verb != self.verb:
            return False
        if self.resource is not None:
            if route.rt is None:
                return False
            if self.resource not in (route.rt.plural, route.rt.group_resource):
                return False
        if self.namespace is not None and route.namespace != self.namespace:
            return False
        return self.name is None or route.name == self.name


@dataclass
class ActiveWatch:
    """One open watch stream, for tests that cut or count connections."""

    rt: ResourceType
    namespace: str | None
    since: str | None
    subscription: Subscription
    request: web.BaseRequest = field(repr=False)
    #: who opened it (the name of its bearer token; "" when unauthenticated)
    user: str = ""


class ApiServer:
    def __init__(
        self,
        store: ObjectStore,
        requests: RequestLog,
        *,
        token: str | None,
        watch_timeout: float,
        on_watches_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.requests = requests
        self.token = token
        #: bearer token -> the user it authenticates (replaced whole, never mutated:
        #: tests add users from their own thread while the server reads it)
        self.users: dict[str, str] = {token: DEFAULT_USER} if token else {}
        self.watch_timeout = watch_timeout
        self.faults: list[FaultRule] = []
        self._faults_lock = threading.Lock()  # tests add rules from their own thread
        self.watches: list[ActiveWatch] = []
        #: tracebacks of bugs in the emulator itself (a test should fail if any)
        self.errors: list[str] = []
        self._on_watches_changed = on_watches_changed
        self.server_address = ""

    def make_app(self) -> web.Application:
        # Our own 413 check runs first; aiohttp's limit only guards against absurd bodies.
        app = web.Application(client_max_size=4 * MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # --- entry point ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route = Route(verb=request.method.lower())
        status = 500
        try:
            self._authenticate(request)
            route = self._route(request)
            self._inject_faults(route)
            if route.verb == "watch":
                assert route.rt is not None
                return await self._serve_watch(request, route)
            status, body = await self._dispatch(request, route)
            return _json_response(body, status)
        except KubeApiError as e:
            status = e.code
            return _json_response(e.status_body(), e.code)
        except Exception:
            self.errors.append(traceback.format_exc())
            log.exception(
                "the Kubernetes API emulator failed on %s %s", request.method, request.path_qs
            )
            status = 500
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "reason": "InternalError",
                "code": 500,
                "message": "the Cairn API emulator crashed on this request (a bug in the emulator)",
            }
            return _json_response(body, 500)
        finally:
            if not route.recorded:
                self._record(request, route, status)

    def _record(self, request: web.BaseRequest, route: Route, status: int) -> None:
        route.recorded = True
        rt = route.rt
        self.requests.record(
            method=request.method,
            path=request.path.rstrip("/") or "/",
            query=request.query_string,
            verb=route.verb,
            group=rt.group if rt else route.group,
            version=rt.version if rt else route.version,
            resource=rt.plural if rt else None,
            subresource=route.subresource,
            namespace=route.namespace,
            name=route.name,
            status=status,
            user_agent=request.headers.get("User-Agent", ""),
            user=self._user_of(request),
        )

    def add_user(self, name: str, token: str) -> None:
        self.users = {**self.users, token: name}

    def _user_of(self, request: web.BaseRequest) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.users.get(token, "") if scheme == "Bearer" else ""

    def _authenticate(self, request: web.BaseRequest) -> None:
        if self.token is None:
            return
        if not self._user_of(request):
            raise Unauthorized("Unauthorized")

    def add_fault(self, rule: FaultRule) -> None:
        with self._faults_lock:
            self.faults.append(rule)

    def _inject_faults(self, route: Route) -> None:
        with self._faults_lock:
            rule = next((r for r in self.faults if r.matches(route)), None)
            if rule is None:
                return
            rule.remaining -= 1
            if rule.remaining <= 0:
                self.faults.remove(rule)
        raise InjectedFailure(rule.code, rule.message)

    # --- routing ----------------------------------------------------------------------------

    def _route(self, request: web.BaseRequest) -> Route:
        parts = [p for p in request.path.split("/") if p]
        method = request.method.upper()
        if not parts or parts[0] in ("version", "healthz", "readyz", "livez"):
            return Route(verb="get" if method == "GET" else method.lower())
        if parts[0] == "api":
            if len(parts) == 1:
                return Route(verb="get")
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise NotFound("the server could not find the requested resource")
        elif parts[0] == "apis":
            if len(parts) <= 2:
                return Route(verb="get", group=parts[1] if len(parts) == 2 else None)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise NotFound("the server could not find the requested resource")
        if not self.store.registry.group_versions(
            group
        ) or version not in self.store.registry.group_versions(group):
            raise NotFound(
                f"the server could not find the requested resource (no {group or 'core'}/{version})"
            )
        if not rest:
            return Route(verb="get", group=group, version=version)
        if rest[0] == "watch":
            raise NotFound(
                "the legacy /watch/ paths are not served by the Cairn API emulator; use ?watch=true"
            )
        namespace = None
        is_namespace_sub = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
        if rest[0] == "namespaces" and len(rest) >= 3 and not is_namespace_sub:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise NotFound("the server could not find the requested resource")
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        rt = self.store.registry.get(group, version, plural)
        if rt is None or (namespace is not None and not rt.namespaced):
            raise NotFound(
                "the server could not find the requested resource "
                f"({plural} in {group or 'core'}/{version})"
            )
        if subresource is not None and subresource not in rt.subresources:
            raise NotFound(
                "the server could not find the requested resource: "
                f"the {subresource!r} subresource of "
                f"{rt.group_resource} is not served by the Cairn API emulator"
            )
        watching = method == "GET" and request.query.get("watch") in ("true", "1")
        if method == "GET":
            verb = "watch" if watching else "get" if name else "list"
        elif method == "POST":
            if name is not None:
                raise MethodNotAllowed(
                    f"POST is not allowed on a named {rt.group_resource} URL; "
                    "POST to the collection"
                )
            if rt.namespaced and namespace is None:
                raise MethodNotAllowed(f"creating {rt.group_resource} needs a namespace in the URL")
            verb = "create"
        elif method in ("PUT", "PATCH"):
            if name is None:
                raise MethodNotAllowed(f"{method} needs an object name in the URL")
            verb = "update" if method == "PUT" else "patch"
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise MethodNotAllowed(f"the method {method} is not supported on resources")
        if subresource is not None and verb not in ("get", "update", "patch"):
            raise MethodNotAllowed(f"{verb} is not allowed on the {subresource} subresource")
        return Route(verb, group, version, rt, namespace, name, subresource)

    # --- non-watch requests -----------------------------------------------------------------

    async def _dispatch(self, request: web.BaseRequest, route: Route) -> tuple[int, Any]:
        if route.rt is None:
            return 200, self._discovery(request, route)
        rt, ns, name, params = route.rt, route.namespace, route.name, request.query
        if params.get("dryRun"):
            raise BadRequest("dryRun is not supported by the Cairn API emulator")
        store = self.store
        if route.verb == "get":
            assert name is not None
            return 200, store.get(rt, ns, name)
        if route.verb == "list":
            return 200, self._list(rt, ns, params)
        if route.verb == "create":
            body = await _json_body(request)
            return 201, store.create(rt, ns, body, fresh=True)  # parsed here: ours to keep
        if route.verb == "update":
            assert name is not None
            body = await _json_body(request)
            return 200, store.replace(rt, ns, name, body, route.subresource, fresh=True)
        if route.verb == "patch":
            assert name is not None
            raw = await _read_body(request)
            patch = _decode_json(raw)
            content_type = request.headers.get("Content-Type", "")
            return 200, store.patch(rt, ns, name, content_type, patch, route.subresource)
        if route.verb == "delete":
            assert name is not None
            policy, preconditions = await _delete_options(request)
            obj, gone = store.delete(rt, ns, name, propagation=policy, preconditions=preconditions)
            if gone and not rt.custom and rt != res.PODS:
                meta = obj["metadata"]
                return 200, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": meta["name"],
                        "group": rt.group,
                        "kind": rt.plural,
                        "uid": meta["uid"],
                    },
                }
            return 200, obj
        if route.verb == "deletecollection":
            policy, _ = await _delete_options(request)
            labels = LabelSelector.parse(params.get("labelSelector"))
            fields = FieldSelector.parse(params.get("fieldSelector"), rt)
            items = store.delete_collection(rt, ns, labels, fields, propagation=policy)
            return 200, {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {},
                "items": items,
            }
        raise MethodNotAllowed(f"unsupported verb {route.verb}")

    def _discovery(self, request: web.BaseRequest, route: Route) -> Any:
        path = request.path.rstrip("/") or "/"
        registry = self.store.registry
        if path == "/version":
            return SERVER_VERSION
        if path in ("/healthz", "/readyz", "/livez"):
            return "ok"
        if path == "/":
            paths = {"/api", "/api/v1", "/apis", "/version", "/healthz", "/readyz", "/livez"}
            for g in registry.groups():
                paths.add(f"/apis/{g}")
                paths.update(f"/apis/{g}/{v}" for v in registry.group_versions(g))
            return {"paths": sorted(paths)}
        if path == "/api":
            return res.api_versions_doc(self.server_address)
        if path == "/apis":
            return res.api_group_list_doc(registry)
        if route.version is None:
            assert route.group is not None
            if not registry.group_versions(route.group):
                raise NotFound("the server could not find the requested resource")
            return res.api_group_doc(registry, route.group)
        return res.api_resource_list_doc(registry, route.group or "", route.version)

    def _list(self, rt: ResourceType, namespace: str | None, params: Any) -> dict[str, Any]:
        labels = LabelSelector.parse(params.get("labelSelector"))
        fields = FieldSelector.parse(params.get("fieldSelector"), rt)
        if params.get("shardSelector"):
            raise BadRequest("shardSelector is not supported by the Cairn API emulator")
        if params.get("resourceVersionMatch") == "Exact":
            raise BadRequest(
                "resourceVersionMatch=Exact is not supported by the Cairn API emulator"
            )
        since = params.get("resourceVersion")
        if since not in (None, "", "0"):
            try:
                wanted = int(since)
            except ValueError as e:
                raise BadRequest(f"invalid resourceVersion {since!r}") from e
            if wanted > self.store.resource_version:
                from .errors import TooLargeResourceVersion

                raise TooLargeResourceVersion(
                    f"Too large resource version: {wanted}, current: {self.store.resource_version}"
                )
        limit = _int_param(params, "limit", 0)
        items, list_rv, token, remaining = self.store.list(
            rt,
            namespace,
            labels,
            fields,
            limit=limit,
            continue_token=params.get("continue") or None,
        )
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": items,
        }

    # --- watch streams ----------------------------------------------------------------------

    async def _serve_watch(self, request: web.BaseRequest, route: Route) -> web.StreamResponse:
        rt = route.rt
        assert rt is not None
        params = request.query
        if params.get("shardSelector"):
            raise BadRequest("shardSelector is not supported by the Cairn API emulator")
        labels = LabelSelector.parse(params.get("labelSelector"))
        field_text = params.get("fieldSelector") or ""
        if route.name is not None:
            field_text = ",".join(filter(None, [field_text, f"metadata.name={route.name}"]))
        fields = FieldSelector.parse(field_text, rt)
        timeout = float(_int_param(params, "timeoutSeconds", 0)) or self.watch_timeout
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        send_initial = params.get("sendInitialEvents") in ("true", "1")
        if send_initial and (params.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
            raise Invalid(
                "sendInitialEvents requires resourceVersionMatch=NotOlderThan "
                "and allowWatchBookmarks=true"
            )
        since = params.get("resourceVersion")
        loop = asyncio.get_running_loop()
        sink = LoopSink(loop)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            sub = self.store.watch(
                rt, route.namespace, labels, fields, since, sink, send_initial_events=send_initial
            )
        except KubeApiError as e:
            if e.code != 410:
                raise
            # A too-old resourceVersion is reported inside a successful stream, like the API server.
            self._record(request, route, 200)
            await response.prepare(request)
            await _write_event(response, {"type": "ERROR", "object": e.status_body()})
            await response.write_eof()
            return response
        self._record(request, route, 200)
        watch = ActiveWatch(rt, route.namespace, since, sub, request, self._user_of(request))
        self.watches.append(watch)
        self._on_watches_changed()
        try:
            await response.prepare(request)
            await self._pump(request, response, rt, sub, sink, loop.time() + timeout, bookmarks)
        except ConnectionResetError:
            pass  # the client went away; a cancellation (client gone, shutdown) propagates
        finally:
            self.store.unsubscribe(sub)
            with contextlib.suppress(ValueError):
                self.watches.remove(watch)
            self._on_watches_changed()
        return response

    async def _pump(
        self,
        request: web.BaseRequest,
        response: web.StreamResponse,
        rt: ResourceType,
        sub: Subscription,
        sink: LoopSink,
        deadline: float,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        ending = False
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 and not ending:
                if not bookmarks:
                    break
                # The closing bookmark queues behind every pending event: its rv is safe to resume.
                self.store.bookmark(sub)
                ending = True
            try:
                # asyncio.timeout, not wait_for: no task per event on the watch's hot path
                async with asyncio.timeout(None if ending else max(remaining, 0.001)):
                    item = await sink.queue.get()
            except TimeoutError:
                continue
            if isinstance(item, WatchEvent):
                await _write_event(response, {"type": item.type, "object": present(rt, item.obj)})
                continue
            assert isinstance(item, Marker)
            if item.kind == "bookmark":
                await _write_event(response, _bookmark(rt, item.rv))
                if ending:
                    break
            elif item.kind == "initial-end":
                await _write_event(response, _bookmark(rt, item.rv, initial_end=True))
            elif item.kind == "drop":
                # Cut the TCP connection mid-stream, as a crashed API server or a proxy would.
                if request.transport is not None:
                    request.transport.close()
                return
            elif item.kind == "close":
                break
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()


def _bookmark(rt: ResourceType, rv: int, *, initial_end: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
    }


async def _write_event(response: web.StreamResponse, event: dict[str, Any]) -> None:
    await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")


def _json_response(body: Any, status: int) -> web.Response:
    if isinstance(body, str):
        return web.Response(text=body, status=status, content_type="text/plain")
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


async def _read_body(request: web.BaseRequest) -> bytes:
    raw = await request.read()
    if len(raw) > MAX_REQUEST_BYTES:
        raise RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")
    return raw


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise BadRequest(f"the request body is not valid JSON: {e}") from e


async def _json_body(request: web.BaseRequest) -> Any:
    media = request.headers.get("Content-Type", "application/json").split(";", 1)[0].strip().lower()
    if media not in ("application/json", "", "*/*"):
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format {media!r} - the Cairn API emulator "
            "accepts application/json"
        )
    return _decode_json(await _read_body(request))


async def _delete_options(request: web.BaseRequest) -> tuple[str | None, dict[str, Any] | None]:
    raw = await _read_body(request)
    options = _decode_json(raw) if raw.strip() else {}
    if not isinstance(options, dict):
        raise BadRequest("DeleteOptions must be a JSON object")
    if options.get("dryRun"):
        raise BadRequest("dryRun is not supported by the Cairn API emulator")
    policy = request.query.get("propagationPolicy") or options.get("propagationPolicy")
    orphan = request.query.get("orphanDependents")
    orphan_flag = options.get("orphanDependents") if orphan is None else orphan in ("true", "1")
    if orphan_flag is not None and policy:
        raise Invalid("orphanDependents and propagationPolicy cannot both be set")
    if orphan_flag is not None:
        policy = res.ORPHAN if orphan_flag else res.BACKGROUND
    return policy, options.get("preconditions")


def _int_param(params: Any, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise BadRequest(f"invalid {name} {raw!r}: must be a non-negative integer") from e
    if value < 0:
        raise BadRequest(f"invalid {name} {raw!r}: must be a non-negative integer")
    return value

"""The receiver's HTTP application.

``POST /github`` turns verified GitHub deliveries into CIRuns; ``POST
/callbacks/{token}`` records a sandbox's report on its CIWorkflow; ``/healthz``,
``/readyz`` and ``/metrics`` serve operations. The receiver answers as soon as
the one API write is done: cloning and compiling happen in the operator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from cairn.k8s import callbacks as k8s_callbacks
from cairn.k8s.errors import Conflict, KubeApiError, KubeUnavailable, NotFound
from cairn.k8s.resources import LABEL_CALLBACK_KEY, LABEL_RUN
from cairn.k8s.tokens import InvalidTokenError, callback_key, split_token, verify_callback_secret
from cairn.webhook import callbacks
from cairn.webhook.body import decode_github_payload, read_bounded
from cairn.webhook.config import ReceiverConfig
from cairn.webhook.deliveries import (
    CreateRun,
    Delivery,
    Ignored,
    Pong,
    plan_delivery,
    repository_full_name,
)
from cairn.webhook.errors import (
    RequestRejected,
)
from cairn.webhook.logs import log_context, logger, set_run
from cairn.webhook.metrics import Metrics, event_label
from cairn.webhook.names import is_plausible_delivery_id, run_name_for_delivery
from cairn.webhook.secrets import SecretLoader, SecretSnapshot
from cairn.webhook.signature import SIGNATURE_HEADER, matching_secret_names, signature_digest
from cairn.webhook.store import RunStore, WorkflowAnnotator

_T = TypeVar("_T")

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
#: bodies above this are hashed off the event loop, so one large delivery does not stall others
_HASH_IN_THREAD_BYTES = 256 * 1024
#: one API call must leave room in GitHub's 10-second window
API_TIMEOUT_SECONDS = 5.0
#: how often a callback re-reads a CIWorkflow that changed under its write
_ANNOTATE_ATTEMPTS = 3


class SecretHolder:
    """The current secrets, re-read on a timer so a rotated Secret is picked up."""

    def __init__(self, loader: SecretLoader) -> None:
        self.loader = loader
        self.current: SecretSnapshot = loader.load()

    def refresh(self) -> bool:
        """Re-read; True when something changed."""
        fresh = self.loader.load()
        changed = fresh != self.current
        self.current = fresh
        return changed


@dataclass
class Receiver:
    """Everything the handlers use: configuration, secrets, cluster access, metrics."""

    config: ReceiverConfig
    secrets: SecretHolder
    runs: RunStore
    workflows: WorkflowAnnotator
    metrics: Metrics = field(default_factory=Metrics)
    #: how often the mounted secrets are re-read; None: never (tests)
    secret_refresh_seconds: float | None = 10.0


RECEIVER = web.AppKey("receiver", Receiver)
_REFRESH_TASK = web.AppKey("secret_refresh_task", asyncio.Task)


async def _api(call: Awaitable[_T]) -> _T:
    """One Kubernetes API call, bounded so the answer stays within GitHub's window."""
    try:
        async with asyncio.timeout(API_TIMEOUT_SECONDS):
            return await call
    except TimeoutError:
        raise KubeUnavailable(f"no answer within {API_TIMEOUT_SECONDS:g} s") from None


def _api_failure_status(error: KubeApiError) -> int:
    """Our answer when the Kubernetes API failed us: 503 (try again) when it could
    not be reached, 502 when it answered with an error."""
    return 503 if isinstance(error, KubeUnavailable) else 502


def _answer(status: int, state: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"status": state, "message": message, **extra}, status=status)


# --- POST /github ----------------------------------------------------------------------------


async def github_delivery(request: web.Request) -> web.Response:
    receiver = request.app[RECEIVER]
    delivery = request.headers.get(DELIVERY_HEADER)
    logged_delivery = delivery if delivery and is_plausible_delivery_id(delivery) else None
    with log_context(delivery=logged_delivery):
        event = "unverified"
        try:
            body = await read_bounded(request, receiver.config.max_body_bytes)
            matched = await _authenticate(receiver, request, body)
            event = event_label(request.headers.get(EVENT_HEADER))
            response = await _handle_verified(receiver, request, body, matched, event)
        except RequestRejected as exc:
            receiver.metrics.deliveries.labels(event, exc.outcome).inc()
            if exc.status != 401:  # a signature failure was logged once, by _authenticate
                logger.info("delivery rejected: %s", exc, extra={"fields": {"status": exc.status}})
            return _answer(exc.status, exc.outcome, str(exc))
        except KubeApiError as exc:
            receiver.metrics.deliveries.labels(event, "error").inc()
            logger.error(
                "cannot create the CIRun: %s", exc, extra={"fields": {"status": exc.api_status}}
            )
            return _answer(_api_failure_status(exc), "error", f"Kubernetes API: {exc}")
        return response


async def _authenticate(receiver: Receiver, request: web.Request, body: bytes) -> frozenset[str]:
    """The names of the webhook secrets that signed ``body``; 401 when none did."""
    header = request.headers.get(SIGNATURE_HEADER)
    digest = signature_digest(header)
    reason = None
    matched: frozenset[str] = frozenset()
    if digest is None:
        reason = "missing" if header is None else "malformed"
    else:
        secrets = receiver.secrets.current.webhook
        if len(body) > _HASH_IN_THREAD_BYTES:
            matched = await asyncio.to_thread(matching_secret_names, secrets, body, digest)
        else:
            matched = matching_secret_names(secrets, body, digest)
        if not matched:
            reason = "mismatch"
    if reason is not None:
        receiver.metrics.signature_failures.labels(reason).inc()
        logger.warning(
            "delivery rejected: %s signature", reason, extra={"fields": {"remote": request.remote}}
        )
        raise RequestRejected(401, f"{SIGNATURE_HEADER} is {reason}", "unauthorized")
    return matched


async def _handle_verified(
    receiver: Receiver, request: web.Request, body: bytes, matched: frozenset[str], event: str
) -> web.Response:
    config = receiver.config
    raw_event = request.headers.get(EVENT_HEADER)
    if raw_event is None or event == "invalid":
        raise RequestRejected(400, f"{EVENT_HEADER} is missing or malformed", "bad_request")
    delivery = request.headers.get(DELIVERY_HEADER)
    if delivery is None or not is_plausible_delivery_id(delivery):
        raise RequestRejected(
            400, f"{DELIVERY_HEADER} is missing or malformed: it names the run", "bad_request"
        )
    run_name = run_name_for_delivery(delivery)
    set_run(run_name)
    payload, payload_size = decode_github_payload(request.content_type, body)
    full_name = repository_full_name(payload)
    if full_name is None:
        if event == "ping":
            return _delivered(receiver, event, 200, "pong", "pong (no repository: an org hook)")
        return _delivered(receiver, event, 202, "ignored", "ignored: the event has no repository")
    rule = config.rule_for(full_name)
    if rule is None:
        raise RequestRejected(
            403, f"repository {full_name} is not configured to start runs", "forbidden"
        )
    if rule.webhook_secret not in matched:
        receiver.metrics.signature_failures.labels("other_secret").inc()
        logger.warning("delivery rejected: signed with another repository's secret")
        raise RequestRejected(
            401, f"{SIGNATURE_HEADER} does not match {full_name}'s secret", "unauthorized"
        )
    verified = Delivery(event, delivery, run_name, payload, payload_size)
    plan = plan_delivery(verified, rule, config.pull_request_types, config.max_event_bytes)
    if isinstance(plan, Pong):
        return _delivered(receiver, event, 200, "pong", plan.zen or "pong")
    if isinstance(plan, Ignored):
        return _delivered(receiver, event, 202, plan.outcome, plan.reason)
    return await _create_run(receiver, event, plan)


async def _create_run(receiver: Receiver, event: str, plan: CreateRun) -> web.Response:
    created = await _api(receiver.runs.create_run(plan.namespace, plan.body))
    where = {"run": plan.name, "namespace": plan.namespace}
    if created:
        return _delivered(receiver, event, 201, "created", "CIRun created", **where)
    return _delivered(receiver, event, 200, "duplicate", "already accepted", **where)


def _delivered(
    receiver: Receiver, event: str, status: int, outcome: str, message: str, **extra: Any
) -> web.Response:
    receiver.metrics.deliveries.labels(event, outcome).inc()
    logger.info("delivery %s: %s", outcome, message, extra={"fields": {"status": status, **extra}})
    return _answer(status, outcome, message, **extra)


# --- POST /callbacks/{token} -----------------------------------------------------------------


async def callback(request: web.Request) -> web.Response:
    receiver = request.app[RECEIVER]
    with log_context():
        try:
            response = await _handle_callback(receiver, request)
        except RequestRejected as exc:
            receiver.metrics.callbacks.labels(exc.outcome).inc()
            logger.info("callback rejected: %s", exc, extra={"fields": {"status": exc.status}})
            return _answer(exc.status, exc.outcome, str(exc))
        except KubeApiError as exc:
            receiver.metrics.callbacks.labels("error").inc()
            logger.error("cannot record the callback: %s", exc)
            return _answer(_api_failure_status(exc), "error", f"Kubernetes API: {exc}")
        return response


def _forbidden(message: str) -> RequestRejected:
    return RequestRejected(403, message, "forbidden")


async def _handle_callback(receiver: Receiver, request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        key, engine_token = split_token(token)
    except InvalidTokenError:
        raise _forbidden("malformed callback token") from None
    operator_key = receiver.secrets.current.operator_key
    if operator_key is None:
        raise RequestRejected(503, "the operator key is not loaded", "unavailable")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if (
        scheme.lower() != "bearer"
        or not presented.isascii()
        or not verify_callback_secret(operator_key, token, presented)
    ):
        raise _forbidden("wrong or missing callback secret for this token")
    body = await read_bounded(request, callbacks.MAX_CALLBACK_BODY_BYTES)
    payload = callbacks.parse_callback(body)
    value = k8s_callbacks.canonical_value(payload)
    completion = not isinstance(payload, k8s_callbacks.ProgressReport)
    annotation = k8s_callbacks.annotation_key(token)
    workflow = await _find_workflow(receiver, key)
    for _ in range(_ANNOTATE_ATTEMPTS):
        meta = workflow["metadata"]
        set_run(meta.get("labels", {}).get(LABEL_RUN))
        attempt = callbacks.live_attempt(workflow, engine_token)
        callbacks.check_matches_attempt(attempt, payload)
        decision = callbacks.decide_write(
            meta.get("annotations") or {}, annotation, value, completion=completion
        )
        where = {"workflow": meta["name"], "namespace": meta["namespace"]}
        if decision == "duplicate":
            return _called_back(receiver, 200, "duplicate", "already recorded", **where)
        try:
            await _api(
                receiver.workflows.annotate_workflow(
                    meta["namespace"],
                    meta["name"],
                    annotation,
                    value,
                    replaces=(meta.get("annotations") or {}).get(annotation),
                )
            )
        except NotFound:
            raise callbacks.StaleToken("the workflow is gone") from None
        except Conflict:
            workflow = await _find_workflow(receiver, key)
            continue
        kind = "completion" if completion else "progress"
        return _called_back(receiver, 202, "recorded", f"{kind} recorded", **where)
    raise RequestRejected(
        503, "the callback annotation kept changing during the write; retry", "conflict"
    )


async def _find_workflow(receiver: Receiver, key: str) -> dict[str, Any]:
    """The CIWorkflow labelled with ``key``: one label-selected list per namespace."""
    selector = f"{LABEL_CALLBACK_KEY}={key}"
    namespaces = receiver.config.namespaces
    listed = await _api(
        asyncio.gather(*(receiver.workflows.list_workflows(ns, selector) for ns in namespaces))
    )
    # the key is a hash of namespace/name: recompute it to rule out a collision
    found = [
        wf
        for ns, items in zip(namespaces, listed, strict=True)
        for wf in items
        if callback_key(ns, wf["metadata"]["name"]) == key
    ]
    if not found:
        raise callbacks.StaleToken("no workflow has it (finished and deleted?)")
    return found[0]


def _called_back(
    receiver: Receiver, status: int, outcome: str, message: str, **extra: Any
) -> web.Response:
    receiver.metrics.callbacks.labels(outcome).inc()
    logger.info("callback %s", outcome, extra={"fields": {"status": status, **extra}})
    return _answer(status, outcome, message, **extra)


# --- operations ------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return _answer(200, "ok", "alive")


async def readyz(request: web.Request) -> web.Response:
    receiver = request.app[RECEIVER]
    problems = list(receiver.secrets.current.problems)
    try:
        await _api(receiver.runs.check_ready())
    except KubeApiError as exc:
        problems.append(f"Kubernetes API: {exc}")
    if problems:
        return _answer(503, "not_ready", "; ".join(problems))
    return _answer(200, "ready", "secrets loaded, Kubernetes API reachable")


async def metrics_endpoint(request: web.Request) -> web.Response:
    body, content_type = request.app[RECEIVER].metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request by route; turn an unexpected exception into a logged 500."""
    started = time.perf_counter()
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("unexpected error on %s %s", request.method, route_name)
        return _answer(500, "error", "internal error (see the receiver's log)")
    finally:
        request.app[RECEIVER].metrics.latency.labels(route_name, request.method).observe(
            time.perf_counter() - started
        )


async def _refresh_secrets_forever(receiver: Receiver, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            if receiver.secrets.refresh():
                logger.info(
                    "secrets reloaded",
                    extra={"fields": {"problems": list(receiver.secrets.current.problems)}},
                )
        except Exception:
            logger.exception("cannot reload the secrets")


async def _start_refresh(app: web.Application) -> None:
    receiver = app[RECEIVER]
    if receiver.secret_refresh_seconds:
        app[_REFRESH_TASK] = asyncio.create_task(
            _refresh_secrets_forever(receiver, receiver.secret_refresh_seconds)
        )


async def _stop_refresh(app: web.Application) -> None:
    task = app.get(_REFRESH_TASK)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def create_app(receiver: Receiver) -> web.Application:
    app = web.Application(middlewares=[_observe], client_max_size=receiver.config.max_body_bytes)
    app[RECEIVER] = receiver
    app.router.add_post("/github", github_delivery)
    app.router.add_post("/callbacks/{token}", callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    app.on_startup.append(_start_refresh)
    app.on_cleanup.append(_stop_refresh)
    return app

"""What a verified GitHub delivery asks for: a CIRun, a pong, or nothing.

Pure: the HTTP layer authenticates and parses, this module decides. The
receiver does not clone, so it cannot evaluate branch or path filters; it
creates the CIRun and the operator, which reads the workflows, decides which
of them the event triggers (and ends the run with ``NoWorkflowsTriggered``
when none does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cairn.k8s.resources import (
    ANNOTATION_DELIVERY,
    API_VERSION,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    CIRunSpec,
    EventSpec,
    GitSource,
    SecretReference,
)
from cairn.webhook.config import RepositoryRule
from cairn.webhook.errors import BodyTooLarge, InvalidPayload

_ZERO_SHA = "0" * 40
_JSON_TYPES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    type(None): "null",
}
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
#: a label on webhook-made CIRuns, so ``kubectl get ciruns -l cairn.dev/event=push`` works
LABEL_EVENT = "cairn.dev/event"


@dataclass(frozen=True)
class CreateRun:
    namespace: str
    name: str
    #: the whole CIRun object, ready to POST
    body: dict[str, Any]


@dataclass(frozen=True)
class Ignored:
    """Accepted (GitHub must not see a failure) but nothing to run."""

    reason: str
    #: the metrics outcome: ``ignored`` or ``ref_deleted``
    outcome: str = "ignored"


@dataclass(frozen=True)
class Pong:
    zen: str | None


Plan = CreateRun | Ignored | Pong


def _field(payload: dict[str, Any], path: str, kind: type) -> Any:
    """``payload[a][b]...`` of the given type, or a 400 naming the missing field."""
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InvalidPayload(f"the payload has no {path}")
        value = value[part]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        wanted = _JSON_TYPES.get(kind, kind.__name__)
        raise InvalidPayload(f"{path} must be {wanted}, not {_JSON_TYPES.get(type(value), 'that')}")
    return value


def _commit_id(payload: dict[str, Any], path: str) -> str:
    sha = _field(payload, path, str).lower()
    if not _COMMIT_ID.match(sha):
        raise InvalidPayload(f"{path} {sha[:80]!r} is not a commit id (40 or 64 hex digits)")
    return str(sha)


def repository_full_name(payload: dict[str, Any]) -> str | None:
    """``repository.full_name``; None for events without a repository (org hooks)."""
    if "repository" not in payload or payload["repository"] is None:
        return None
    name = _field(payload, "repository.full_name", str)
    if "/" not in name:
        raise InvalidPayload(f"repository.full_name {name!r} is not of the form owner/name")
    return str(name)


@dataclass(frozen=True)
class Delivery:
    """A verified delivery: its headers and its parsed payload."""

    event: str
    delivery_id: str
    run_name: str
    payload: dict[str, Any]
    #: the size of the payload's JSON text, which the CIRun will hold
    payload_bytes: int


def plan_delivery(
    delivery: Delivery,
    rule: RepositoryRule,
    default_pull_request_types: tuple[str, ...],
    max_event_bytes: int,
) -> Plan:
    """Decide what a verified delivery from an allowed repository does."""
    payload = delivery.payload
    if delivery.event == "ping":
        zen = payload.get("zen")
        return Pong(zen if isinstance(zen, str) else None)
    if delivery.event == "push":
        push = _plan_push(payload)
        if isinstance(push, Ignored):
            return push
        sha, ref = push
    elif delivery.event == "pull_request":
        pull = _plan_pull_request(payload, rule, default_pull_request_types)
        if isinstance(pull, Ignored):
            return pull
        sha, ref = pull
    else:
        return Ignored(
            f"event {delivery.event!r} is ignored (only push and pull_request start runs)"
        )
    # checked before the payload is copied into a CIRun spec: it may be 25 MB
    if delivery.payload_bytes > max_event_bytes:
        raise BodyTooLarge(max_event_bytes, "the event payload stored in a CIRun")
    return _create(delivery, rule, sha=sha, ref=ref)


def _plan_push(payload: dict[str, Any]) -> tuple[str, str] | Ignored:
    """``(sha, ref)`` to run for a push, or why nothing runs."""
    ref = _field(payload, "ref", str)
    if not ref.startswith("refs/"):
        raise InvalidPayload(f"ref {ref!r} is not a full git ref (refs/heads/... or refs/tags/...)")
    after = _field(payload, "after", str)
    if payload.get("deleted") is True or after == _ZERO_SHA:
        return Ignored(f"{ref} was deleted: nothing to run", outcome="ref_deleted")
    # For an annotated tag, `after` is the tag object; head_commit is the commit it points to.
    head = payload.get("head_commit")
    sha_field = "head_commit.id" if isinstance(head, dict) else "after"
    return _commit_id(payload, sha_field), ref


def _plan_pull_request(
    payload: dict[str, Any], rule: RepositoryRule, default_types: tuple[str, ...]
) -> tuple[str, str] | Ignored:
    """``(sha, ref)`` to run for a pull_request event, or why nothing runs."""
    action = _field(payload, "action", str)
    if not rule.accepts_pull_request(action, default_types):
        types = rule.pull_request_types or default_types
        return Ignored(
            f"pull_request action {action!r} does not start runs for {rule.name}"
            f" (pullRequestTypes: {', '.join(types)})"
        )
    number = _field(payload, "pull_request.number", int)
    sha = _commit_id(payload, "pull_request.head.sha")
    # The head commit, not GitHub's test-merge commit: the receiver cannot make
    # the merge, and merge_commit_sha is computed asynchronously (often stale).
    return sha, f"refs/pull/{number}/head"


def _create(delivery: Delivery, rule: RepositoryRule, *, sha: str, ref: str) -> CreateRun:
    payload = delivery.payload
    full_name = _field(payload, "repository.full_name", str)
    payload_url = _field(payload, "repository.clone_url", str)
    try:
        spec = CIRunSpec(
            source=GitSource(
                repo=rule.clone_url_for(full_name, payload_url),
                sha=sha,
                ref=ref,
                path=rule.workflows_path,
            ),
            event=EventSpec(name=delivery.event, payload=payload),
            secrets=SecretReference(name=rule.run_secrets) if rule.run_secrets else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidPayload(
            f"cannot make a CIRun from this delivery: {where}: {first['msg']}"
        ) from None
    body = {
        "apiVersion": API_VERSION,
        "kind": "CIRun",
        "metadata": {
            "name": delivery.run_name,
            "namespace": rule.namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_EVENT: delivery.event},
            "annotations": {ANNOTATION_DELIVERY: delivery.delivery_id},
        },
        # a git source: no inline `workflows` (the CRD wants at least one when present)
        "spec": spec.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"workflows"}
        ),
    }
    return CreateRun(namespace=rule.namespace, name=delivery.run_name, body=body)

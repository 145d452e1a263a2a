"""The pure decision: what a verified delivery asks for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cairn.webhook.config import DEFAULT_PULL_REQUEST_TYPES, RepositoryRule
from cairn.webhook.deliveries import CreateRun, Delivery, Ignored, Pong, plan_delivery
from cairn.webhook.errors import BodyTooLarge, InvalidPayload
from tests.unit.webhook import payloads

RULE = RepositoryRule(name="octo-org/hello-world", namespace="ci", run_secrets="ci-secrets")
LIMIT = 1024 * 1024


def plan(
    event: str, payload: dict[str, Any], *, rule: RepositoryRule = RULE, limit: int = LIMIT
) -> Any:
    delivery = Delivery(event, "d-1", "gh-d-1", payload, len(json.dumps(payload)))
    return plan_delivery(delivery, rule, DEFAULT_PULL_REQUEST_TYPES, limit)


def test_a_push_plans_a_complete_cirun() -> None:
    result = plan("push", payloads.push_branch())
    assert isinstance(result, CreateRun)
    assert (result.namespace, result.name) == ("ci", "gh-d-1")
    spec = result.body["spec"]
    assert spec["secrets"] == {"name": "ci-secrets"}
    assert spec["source"]["path"] == ".github/workflows"
    assert "workflows" not in spec  # a git source, no inline files


def test_a_mirror_clone_url_is_used_when_configured() -> None:
    rule = RULE.model_copy(update={"clone_url": "file:///srv/git/{full_name}.git"})
    result = plan("push", payloads.push_branch(), rule=rule)
    assert isinstance(result, CreateRun)
    assert result.body["spec"]["source"]["repo"] == "file:///srv/git/octo-org/hello-world.git"


def test_an_oversized_payload_is_refused_before_it_is_copied_but_only_if_it_would_run() -> None:
    big = payloads.push_branch()
    big["head_commit"]["message"] = "x" * 5000
    with pytest.raises(BodyTooLarge):
        plan("push", big, limit=4096)
    deleted = payloads.push_branch_deleted()
    deleted["pusher"]["name"] = "x" * 5000
    assert isinstance(plan("push", deleted, limit=4096), Ignored)


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        ("ping", payloads.ping(), Pong("Keep it logically awesome.")),
        (
            "issues",
            payloads.issue_opened(),
            Ignored("event 'issues' is ignored (only push and pull_request start runs)"),
        ),
        (
            "push",
            payloads.push_branch_deleted("x"),
            Ignored("refs/heads/x was deleted: nothing to run", "ref_deleted"),
        ),
    ],
)
def test_what_starts_nothing(event: str, payload: dict[str, Any], expected: object) -> None:
    assert plan(event, payload) == expected


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("ref"), "the payload has no ref"),
        (lambda p: p.update(ref="main"), "is not a full git ref"),
        (lambda p: p.update(after=7), "after must be a string, not an integer"),
        (lambda p: p["head_commit"].update(id="zz"), "head_commit.id 'zz' is not a commit id"),
        (lambda p: p["repository"].pop("clone_url"), "repository.clone_url"),
    ],
)
def test_malformed_pushes_name_the_field(mutate: Any, message: str) -> None:
    payload = payloads.push_branch()
    mutate(payload)
    with pytest.raises(InvalidPayload, match=message):
        plan("push", payload)


def test_a_pull_request_number_must_be_an_integer() -> None:
    payload = payloads.pull_request()
    payload["pull_request"]["number"] = True
    with pytest.raises(
        InvalidPayload, match=r"pull_request\.number must be an integer, not a boolean"
    ):
        plan("pull_request", payload)

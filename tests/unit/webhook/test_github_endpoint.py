"""POST /github over real HTTP: GitHub-shaped deliveries become CIRuns."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cairn.k8s.resources import ANNOTATION_DELIVERY, LABEL_MANAGED_BY, CIRunSpec
from cairn.webhook.app import Receiver
from cairn.webhook.config import ReceiverConfig
from cairn.webhook.memory import InMemoryCluster
from tests.unit.webhook import payloads
from tests.unit.webhook.conftest import NAMESPACE, OTHER_SECRET, SECRET, Deliver, delivering_to

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


async def answer(response: Any) -> dict[str, Any]:
    result: dict[str, Any] = await response.json()
    return result


async def test_push_to_a_branch_creates_a_cirun(deliver: Deliver, cluster: InMemoryCluster) -> None:
    payload = payloads.push_branch("main")
    response = await deliver("push", payload, delivery=DELIVERY)
    assert response.status == 201
    body = await answer(response)
    assert body == {
        "status": "created",
        "message": "CIRun created",
        "run": f"gh-{DELIVERY}",
        "namespace": NAMESPACE,
    }
    run = cluster.runs[(NAMESPACE, f"gh-{DELIVERY}")]
    assert run["apiVersion"] == "cairn.dev/v1alpha1" and run["kind"] == "CIRun"
    assert run["metadata"]["annotations"][ANNOTATION_DELIVERY] == DELIVERY
    assert run["metadata"]["labels"][LABEL_MANAGED_BY] == "cairn"
    spec = CIRunSpec.model_validate(run["spec"])
    assert spec.source is not None
    assert spec.source.repo == "https://github.com/octo-org/hello-world.git"
    assert spec.source.sha == payloads.SHA_AFTER
    assert spec.source.ref == "refs/heads/main"
    assert spec.event.name == "push"
    assert spec.event.payload == payload
    assert spec.secrets is None


async def test_push_of_an_annotated_tag_runs_the_tagged_commit(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    response = await deliver("push", payloads.push_tag("v1.2.0"))
    assert response.status == 201
    (run,) = cluster.runs.values()
    source = run["spec"]["source"]
    assert source["ref"] == "refs/tags/v1.2.0"
    # `after` is the tag object; the commit is head_commit
    assert source["sha"] == payloads.SHA_AFTER != payloads.SHA_TAG_OBJECT


async def test_branch_deletion_creates_nothing(deliver: Deliver, cluster: InMemoryCluster) -> None:
    response = await deliver("push", payloads.push_branch_deleted("feature/old"))
    assert response.status == 202
    body = await answer(response)
    assert body["status"] == "ref_deleted"
    assert "refs/heads/feature/old was deleted" in body["message"]
    assert cluster.runs == {}


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
async def test_pull_request_default_actions_create_a_run_of_the_head_commit(
    deliver: Deliver, cluster: InMemoryCluster, action: str
) -> None:
    payload = payloads.pull_request(action, number=42)
    response = await deliver("pull_request", payload, delivery=DELIVERY)
    assert response.status == 201
    spec = CIRunSpec.model_validate(cluster.runs[(NAMESPACE, f"gh-{DELIVERY}")]["spec"])
    assert spec.source is not None
    # cloned from the base repository, which serves the fork's head under refs/pull
    assert spec.source.repo == "https://github.com/octo-org/hello-world.git"
    assert spec.source.sha == payloads.SHA_PR_HEAD
    assert spec.source.ref == "refs/pull/42/head"
    assert spec.event.name == "pull_request"
    assert spec.event.payload["action"] == action


async def test_pull_request_closed_is_ignored_by_default(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    response = await deliver("pull_request", payloads.pull_request("closed"))
    assert response.status == 202
    body = await answer(response)
    assert body["status"] == "ignored"
    assert "'closed'" in body["message"] and "opened, synchronize, reopened" in body["message"]
    assert cluster.runs == {}


async def test_pull_request_types_are_configurable_per_repository(
    receiver: Receiver, serve: Any, cluster: InMemoryCluster
) -> None:
    receiver.config = ReceiverConfig.model_validate(
        {
            "repositories": [
                {
                    "name": "octo-org/hello-world",
                    "namespace": NAMESPACE,
                    "pullRequestTypes": ["opened", "labeled"],
                },
                {"name": "octo-org/*", "namespace": "ci-octo", "pullRequestTypes": ["*"]},
            ]
        }
    )
    deliver = delivering_to(await serve(receiver))
    assert (await deliver("pull_request", payloads.pull_request("labeled"))).status == 201
    assert (await deliver("pull_request", payloads.pull_request("synchronize"))).status == 202
    closed = payloads.pull_request("closed")
    closed["repository"] = payloads.repository("octo-org/other")
    assert (await deliver("pull_request", closed)).status == 201  # "*" forwards every action
    assert {ns for ns, _ in cluster.runs} == {NAMESPACE, "ci-octo"}


async def test_ping_answers_pong_and_creates_nothing(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    response = await deliver("ping", payloads.ping())
    assert response.status == 200
    assert await answer(response) == {"status": "pong", "message": "Keep it logically awesome."}
    org_hook = await deliver("ping", payloads.ping(full_name=None))
    assert org_hook.status == 200
    assert cluster.runs == {}


async def test_ping_from_an_unknown_repository_is_forbidden(deliver: Deliver) -> None:
    # GitHub shows the hook as failing right away: the receiver is not configured for it
    response = await deliver("ping", payloads.ping("someone/else"))
    assert response.status == 403


async def test_other_events_are_ignored(deliver: Deliver, cluster: InMemoryCluster) -> None:
    response = await deliver("issues", payloads.issue_opened())
    assert response.status == 202
    body = await answer(response)
    assert body["status"] == "ignored" and "'issues'" in body["message"]
    assert cluster.runs == {}


async def test_unknown_repository_is_forbidden(deliver: Deliver, cluster: InMemoryCluster) -> None:
    response = await deliver("push", payloads.push_branch(full_name="someone/else"))
    assert response.status == 403
    assert "someone/else is not configured" in (await answer(response))["message"]
    assert cluster.runs == {}


async def test_owner_wildcard_and_case_insensitive_names(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    assert (await deliver("push", payloads.push_branch(full_name="Octo-Org/Other"))).status == 201
    assert (
        await deliver("push", payloads.push_branch(full_name="OCTO-ORG/Hello-World"))
    ).status == 201
    assert sorted(ns for ns, _ in cluster.runs) == ["ci-hello", "ci-octo"]


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "secret"),
    [
        pytest.param({}, None, id="missing"),
        pytest.param({}, b"not the secret", id="wrong-secret"),
        pytest.param({"X-Hub-Signature-256": "sha256=" + "0" * 64}, None, id="wrong-digest"),
        pytest.param(
            {"X-Hub-Signature-256": "sha1=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
            None,
            id="sha1-only",
        ),
        pytest.param({"X-Hub-Signature-256": "sha256=xyz"}, None, id="malformed"),
    ],
)
async def test_bad_signatures_are_rejected_and_create_nothing(
    deliver: Deliver, cluster: InMemoryCluster, headers: dict[str, str], secret: bytes | None
) -> None:
    response = await deliver("push", payloads.push_branch(), secret=secret, headers=headers)
    assert response.status == 401
    assert (await answer(response))["status"] == "unauthorized"
    assert cluster.runs == {} and cluster.calls == []


async def test_a_tampered_body_is_rejected(
    client: TestClient[Any, Any], cluster: InMemoryCluster
) -> None:
    from cairn.webhook.signature import sign

    body = json.dumps(payloads.push_branch()).encode()
    tampered = body.replace(b"refs/heads/main", b"refs/heads/evil")
    response = await client.post(
        "/github",
        data=tampered,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(SECRET, body),
        },
    )
    assert response.status == 401
    assert cluster.runs == {}


async def test_a_repository_must_use_its_own_secret(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    team_b = payloads.push_branch(full_name="team-b/service")
    # signed with a valid secret, but not team-b's
    assert (await deliver("push", team_b, secret=SECRET)).status == 401
    assert cluster.runs == {}
    response = await deliver("push", team_b, secret=OTHER_SECRET)
    assert response.status == 201
    assert (await answer(response))["namespace"] == "ci-b"


async def test_rotation_accepts_current_and_previous_secret_and_follows_the_mount(
    receiver: Receiver, deliver: Deliver, secrets_dir: Path
) -> None:
    new_secret = b"the new secret"
    (secrets_dir / "default").write_bytes(new_secret + b"\n")  # a trailing newline is ignored
    (secrets_dir / "default.previous").write_bytes(SECRET)
    assert receiver.secrets.refresh() is True
    assert (await deliver("push", payloads.push_branch(), secret=SECRET)).status == 201
    assert (await deliver("push", payloads.push_branch(), secret=new_secret)).status == 201
    # rotation done: the old secret is removed from the Secret
    (secrets_dir / "default.previous").unlink()
    assert receiver.secrets.refresh() is True
    assert (await deliver("push", payloads.push_branch(), secret=SECRET)).status == 401
    assert (await deliver("push", payloads.push_branch(), secret=new_secret)).status == 201


# --- idempotency ------------------------------------------------------------------------------


async def test_redelivery_is_already_accepted_and_creates_nothing_new(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    payload = payloads.push_branch()
    first = await deliver("push", payload, delivery=DELIVERY)
    again = await deliver("push", payload, delivery=DELIVERY)
    assert first.status == 201
    assert again.status == 200
    assert await answer(again) == {
        "status": "duplicate",
        "message": "already accepted",
        "run": f"gh-{DELIVERY}",
        "namespace": NAMESPACE,
    }
    assert len(cluster.runs) == 1
    other = await deliver("push", payload, delivery=str(uuid.uuid4()))
    assert other.status == 201
    assert len(cluster.runs) == 2


async def test_delivery_ids_that_are_not_guids_still_name_a_valid_run(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    response = await deliver("push", payloads.push_branch(), delivery="GHES:Delivery.12345")
    assert response.status == 201
    name = (await answer(response))["run"]
    assert name.startswith("gh-") and len(name) <= 63 and name == name.lower()


@pytest.mark.parametrize("header", ["X-GitHub-Delivery", "X-GitHub-Event"])
async def test_signed_deliveries_without_github_headers_are_bad_requests(
    deliver: Deliver, cluster: InMemoryCluster, header: str
) -> None:
    response = await deliver("push", payloads.push_branch(), headers={header: None})
    assert response.status == 400
    assert header in (await answer(response))["message"]
    assert cluster.runs == {}


# --- bodies ---------------------------------------------------------------------------------


async def test_form_encoded_deliveries_are_accepted(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    payload = payloads.push_branch()
    response = await deliver("push", payload, form=True)
    assert response.status == 201
    (run,) = cluster.runs.values()
    assert run["spec"]["event"]["payload"] == payload


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        ("application/json", b'{"ref": "refs/heads/main", ', 400, "not valid JSON"),
        ("application/json", b"[1, 2, 3]", 400, "must be a JSON object, not list"),
        ("application/json", b"\xff\xfe{}", 400, "not valid JSON"),
        ("application/x-www-form-urlencoded", b"ref=main", 400, "no 'payload' field"),
        ("application/x-www-form-urlencoded", b"payload=%7B&payload=%7B", 400, "more than one"),
        ("application/x-www-form-urlencoded", b"payload=%7Bnope", 400, "not valid JSON"),
        ("text/plain", b"{}", 415, "unsupported Content-Type"),
    ],
)
async def test_malformed_bodies_get_400_with_the_reason(
    deliver: Deliver,
    cluster: InMemoryCluster,
    content_type: str,
    body: bytes,
    status: int,
    reason: str,
) -> None:
    response = await deliver("push", body, headers={"Content-Type": content_type})
    assert response.status == status
    assert reason in (await answer(response))["message"]
    assert cluster.runs == {}


async def test_a_payload_missing_required_fields_is_a_bad_request(deliver: Deliver) -> None:
    payload = payloads.pull_request("opened")
    del payload["pull_request"]["head"]["sha"]
    response = await deliver("pull_request", payload)
    assert response.status == 400
    assert "pull_request.head.sha" in (await answer(response))["message"]
    bad_sha = payloads.push_branch(after="not-a-sha")
    bad_sha["head_commit"] = None
    response = await deliver("push", bad_sha)
    assert response.status == 400
    assert "after 'not-a-sha' is not a commit id" in (await answer(response))["message"]


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    receiver: Receiver, serve: Any, cluster: InMemoryCluster
) -> None:
    receiver.config = receiver.config.model_copy(update={"max_body_bytes": 4096})
    client = await serve(receiver)
    deliver = delivering_to(client)
    big = payloads.push_branch()
    big["head_commit"]["message"] = "x" * 5000
    response = await deliver("push", big)
    assert response.status == 413
    assert "4096 bytes" in (await answer(response))["message"]

    # a chunked body (no Content-Length) is cut off at the limit too
    async def chunks() -> Any:
        for _ in range(64):
            yield b"x" * 1024

    response = await client.post(
        "/github",
        data=chunks(),
        headers={"Content-Type": "application/json", "X-GitHub-Event": "push"},
    )
    assert response.status == 413
    assert cluster.runs == {}
    # the connection is still usable: small deliveries go through
    assert (await deliver("ping", payloads.ping())).status == 200


async def test_githubs_25_mb_limit_is_the_default(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    over = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    response = await deliver("push", over)
    assert response.status == 413
    assert cluster.runs == {}


async def test_a_payload_too_big_for_a_cirun_is_refused_clearly(
    receiver: Receiver, serve: Any, cluster: InMemoryCluster
) -> None:
    receiver.config = receiver.config.model_copy(update={"max_event_bytes": 2048})
    deliver = delivering_to(await serve(receiver))
    response = await deliver("push", payloads.push_branch())
    assert response.status == 413
    assert "event payload stored in a CIRun" in (await answer(response))["message"]
    assert cluster.runs == {}


async def test_an_unreachable_api_is_503_and_the_delivery_can_be_redelivered(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    cluster.unavailable = True
    response = await deliver("push", payloads.push_branch(), delivery=DELIVERY)
    assert response.status == 503
    assert "Kubernetes API" in (await answer(response))["message"]
    cluster.unavailable = False
    assert (await deliver("push", payloads.push_branch(), delivery=DELIVERY)).status == 201


async def test_a_push_the_workflow_filters_exclude_still_becomes_a_run(
    deliver: Deliver, cluster: InMemoryCluster
) -> None:
    # `on: push: branches: [main]` excludes this branch, but the receiver cannot
    # read the workflows: the operator ends the run with NoWorkflowsTriggered
    response = await deliver("push", payloads.push_branch("docs/typo"))
    assert response.status == 201
    (run,) = cluster.runs.values()
    assert run["spec"]["source"]["ref"] == "refs/heads/docs/typo"

"""POST /callbacks/{token} over real HTTP: sandboxes report to their CIWorkflow."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cairn.engine.jobspec import JobResult, StepResult
from cairn.k8s.errors import Conflict
from cairn.k8s.resources import CALLBACK_ANNOTATION_PREFIX, LABEL_CALLBACK_KEY
from cairn.k8s.tokens import callback_key
from cairn.webhook.app import Receiver
from cairn.webhook.memory import InMemoryCluster
from tests.unit.webhook.conftest import NAMESPACE, OPERATOR_KEY
from tests.unit.webhook.workflows import (
    bearer,
    finished_job,
    running_job,
    token_for,
    workflow_object,
)

WORKFLOW = "gh-72d3162e-ci-yml"
TOKEN = token_for(NAMESPACE, WORKFLOW, "build")
ANNOTATION = CALLBACK_ANNOTATION_PREFIX + TOKEN

Client = TestClient[Any, Any]


def result(
    conclusion: str = "success", instance_id: str = "build", attempt: int = 1
) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "attempt": attempt,
        "conclusion": conclusion,
        "outputs": {"version": "1.2.0"},
        "steps": [
            {"name": "Run make test", "id": "test", "outcome": conclusion, "conclusion": conclusion}
        ],
        "reason": None if conclusion == "success" else "step_failed",
    }


def progress(steps: int = 1) -> dict[str, Any]:
    step = {"name": "Run make", "outcome": "success", "conclusion": "success"}
    return {"kind": "progress", "instance_id": "build", "attempt": 1, "steps": [step] * steps}


@pytest.fixture
def workflow(cluster: InMemoryCluster) -> dict[str, Any]:
    other = workflow_object(NAMESPACE, "gh-other-run-ci-yml", {"build": running_job("build")})
    cluster.put_workflow(other)
    return cluster.put_workflow(
        workflow_object(
            NAMESPACE, WORKFLOW, {"build": running_job("build"), "lint": running_job("lint")}
        )
    )


def stored(cluster: InMemoryCluster, name: str = WORKFLOW) -> dict[str, str]:
    annotations: dict[str, str] = cluster.workflows[(NAMESPACE, name)]["metadata"]["annotations"]
    return annotations


async def post(client: Client, token: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    auth = bearer(OPERATOR_KEY, token) if headers is None else headers
    return await client.post(f"/callbacks/{token}", data=data, headers=auth)


async def test_a_completion_is_written_as_the_callback_annotation(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    response = await post(client, TOKEN, result())
    assert response.status == 202
    assert await response.json() == {
        "status": "recorded",
        "message": "completion recorded",
        "workflow": WORKFLOW,
        "namespace": NAMESPACE,
    }
    value = stored(cluster)[ANNOTATION]
    assert JobResult.model_validate_json(value) == JobResult.model_validate(result())
    # the workflow was found by one label-selected list per namespace, never a full listing
    lists = [call for call in cluster.calls if call[0] == "list"]
    selector = f"{LABEL_CALLBACK_KEY}={callback_key(NAMESPACE, WORKFLOW)}"
    assert sorted(lists) == [("list", ns, selector) for ns in ("ci-b", "ci-hello", "ci-octo")]


async def test_a_repeated_callback_is_harmless(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    assert (await post(client, TOKEN, result())).status == 202
    version = cluster.workflows[(NAMESPACE, WORKFLOW)]["metadata"]["resourceVersion"]
    again = await post(client, TOKEN, result())
    assert again.status == 200
    assert (await again.json())["status"] == "duplicate"
    # nothing was written the second time
    assert cluster.workflows[(NAMESPACE, WORKFLOW)]["metadata"]["resourceVersion"] == version
    assert [c[0] for c in cluster.calls].count("annotate") == 1


async def test_a_different_completion_for_the_same_attempt_is_a_conflict(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    assert (await post(client, TOKEN, result("success"))).status == 202
    response = await post(client, TOKEN, result("failure"))
    assert response.status == 409
    assert "different completion" in (await response.json())["message"]
    assert json.loads(stored(cluster)[ANNOTATION])["conclusion"] == "success"


async def test_progress_then_completion_and_a_late_progress_keeps_the_completion(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    first = await post(client, TOKEN, progress(1))
    assert first.status == 202 and (await first.json())["message"] == "progress recorded"
    assert (await post(client, TOKEN, progress(2))).status == 202
    assert len(json.loads(stored(cluster)[ANNOTATION])["steps"]) == 2
    assert (await post(client, TOKEN, result())).status == 202
    late = await post(client, TOKEN, progress(3))
    assert late.status == 200
    assert json.loads(stored(cluster)[ANNOTATION])["conclusion"] == "success"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": "Bearer " + "0" * 64}, id="wrong-secret"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="wrong-scheme"),
        pytest.param({"Authorization": "Bearer sécret"}, id="non-ascii"),
        pytest.param(
            bearer(OPERATOR_KEY, token_for(NAMESPACE, WORKFLOW, "lint")), id="other-jobs-secret"
        ),
        pytest.param(bearer(b"k" * 40, TOKEN), id="other-operator-key"),
    ],
)
async def test_a_wrong_secret_is_forbidden_and_nothing_is_read_or_written(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any], headers: dict[str, str]
) -> None:
    response = await post(client, TOKEN, result(), headers=headers)
    assert response.status == 403
    assert ANNOTATION not in stored(cluster)
    assert cluster.calls == []


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "0123456789abcdef", "0123456789ABCDEF.abc", "0123456789abcdef." + "a" * 47],
)
async def test_a_malformed_token_is_forbidden(
    client: Client, cluster: InMemoryCluster, token: str
) -> None:
    response = await post(client, token, result())
    assert response.status == 403
    assert (await response.json())["message"] == "malformed callback token"
    assert cluster.calls == []


async def test_a_finished_attempt_is_gone(client: Client, cluster: InMemoryCluster) -> None:
    cluster.put_workflow(
        workflow_object(
            NAMESPACE, WORKFLOW, {"build": finished_job("build"), "lint": running_job("lint")}
        )
    )
    response = await post(client, TOKEN, result())
    assert response.status == 410
    assert "job build attempt 1 has finished" in (await response.json())["message"]
    assert ANNOTATION not in stored(cluster)


async def test_the_token_of_a_previous_attempt_is_gone(
    client: Client, cluster: InMemoryCluster
) -> None:
    # the job was retried: attempt 2 runs with its own token
    cluster.put_workflow(workflow_object(NAMESPACE, WORKFLOW, {"build": running_job("build", 2)}))
    response = await post(client, TOKEN, result())
    assert response.status == 410
    assert "no running attempt" in (await response.json())["message"]
    retry_token = token_for(NAMESPACE, WORKFLOW, "build", 2)
    assert (await post(client, retry_token, result(attempt=2))).status == 202


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Cancelled", "Error"])
async def test_a_finished_workflow_is_gone(
    client: Client, cluster: InMemoryCluster, phase: str
) -> None:
    cluster.put_workflow(
        workflow_object(NAMESPACE, WORKFLOW, {"build": running_job("build")}, phase=phase)
    )
    response = await post(client, TOKEN, result())
    assert response.status == 410
    assert "has finished" in (await response.json())["message"]


async def test_a_deleted_workflow_is_gone(client: Client, cluster: InMemoryCluster) -> None:
    response = await post(client, TOKEN, result())
    assert response.status == 410
    assert "no workflow has it" in (await response.json())["message"]


async def test_a_workflow_deleted_during_the_write_is_gone(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    real = cluster.annotate_workflow

    async def deleted_first(*args: Any, **kwargs: Any) -> None:
        del cluster.workflows[(NAMESPACE, WORKFLOW)]
        await real(*args, **kwargs)

    cluster.annotate_workflow = deleted_first  # type: ignore[method-assign]
    assert (await post(client, TOKEN, result())).status == 410


async def test_a_payload_for_another_job_or_attempt_is_a_bad_request(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    other_job = await post(client, TOKEN, result(instance_id="lint"))
    assert other_job.status == 400
    assert "token belongs to job 'build' attempt 1" in (await other_job.json())["message"]
    other_attempt = await post(client, TOKEN, result(attempt=2))
    assert other_attempt.status == 400
    assert ANNOTATION not in stored(cluster)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps({"conclusion": "success"}).encode(), "not a valid job result"),
        (json.dumps({**result(), "conclusion": "great"}).encode(), "conclusion"),
        (json.dumps({**progress(), "attempt": 0}).encode(), "not a valid progress report"),
    ],
)
async def test_a_malformed_body_is_a_bad_request(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any], body: bytes, message: str
) -> None:
    response = await post(client, TOKEN, body)
    assert response.status == 400
    assert message in (await response.json())["message"]
    assert ANNOTATION not in stored(cluster)


async def test_a_body_over_the_annotation_limit_is_413(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    huge = result()
    huge["outputs"] = {"blob": "x" * (256 * 1024)}
    response = await post(client, TOKEN, huge)
    assert response.status == 413
    assert ANNOTATION not in stored(cluster)


async def test_a_payload_that_does_not_fit_beside_other_annotations_is_413(
    client: Client, cluster: InMemoryCluster
) -> None:
    crowded = {f"{CALLBACK_ANNOTATION_PREFIX}other-{i}": "y" * 60_000 for i in range(4)}
    cluster.put_workflow(
        workflow_object(NAMESPACE, WORKFLOW, {"build": running_job("build")}, annotations=crowded)
    )
    big = result()
    big["outputs"] = {"report": "x" * 30_000}
    response = await post(client, TOKEN, big)
    assert response.status == 413
    message = (await response.json())["message"]
    assert "exceed Kubernetes' limit of 262144 bytes" in message
    assert ANNOTATION not in stored(cluster)
    assert (await post(client, TOKEN, result())).status == 202  # a small one still fits


async def test_other_writes_to_the_workflow_do_not_conflict(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    real = cluster.annotate_workflow

    async def others_write_first(*args: Any, **kwargs: Any) -> None:
        # the operator and another sandbox write between our read and our write
        current = cluster.workflows[(NAMESPACE, WORKFLOW)]
        current["metadata"]["annotations"]["kopf.zalando.org/last-handled"] = "{}"
        current["metadata"]["annotations"][CALLBACK_ANNOTATION_PREFIX + "lint-token"] = "{}"
        cluster.put_workflow(current)
        await real(*args, **kwargs)

    cluster.annotate_workflow = others_write_first  # type: ignore[method-assign]
    assert (await post(client, TOKEN, result())).status == 202
    assert {ANNOTATION, "kopf.zalando.org/last-handled"} <= set(stored(cluster))
    assert [c[0] for c in cluster.calls].count("annotate") == 1


async def test_a_concurrent_change_of_the_same_annotation_is_decided_again(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    assert (await post(client, TOKEN, progress(1))).status == 202
    real = cluster.annotate_workflow
    raced = False

    async def completion_lands_first(*args: Any, **kwargs: Any) -> None:
        nonlocal raced
        if not raced:
            raced = True
            await real(NAMESPACE, WORKFLOW, ANNOTATION, json.dumps(result()), replaces=None)
        await real(*args, **kwargs)

    cluster.annotate_workflow = completion_lands_first  # type: ignore[method-assign]
    # a late progress report must not replace the completion that landed meanwhile
    response = await post(client, TOKEN, progress(2))
    assert response.status == 200
    assert json.loads(stored(cluster)[ANNOTATION])["conclusion"] == "success"


async def test_a_callback_annotation_that_never_stops_changing_is_503(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    async def always_stale(*args: Any, **kwargs: Any) -> None:
        raise Conflict("changed", api_status=422, reason="Invalid")

    cluster.annotate_workflow = always_stale  # type: ignore[method-assign]
    response = await post(client, TOKEN, result())
    assert response.status == 503
    assert "retry" in (await response.json())["message"]


async def test_an_unreachable_api_is_503(
    client: Client, cluster: InMemoryCluster, workflow: dict[str, Any]
) -> None:
    cluster.unavailable = True
    response = await post(client, TOKEN, result())
    assert response.status == 503


async def test_without_the_operator_key_callbacks_are_503(
    receiver: Receiver, client: Client, workflow: dict[str, Any], operator_key_file: Any
) -> None:
    operator_key_file.unlink()
    receiver.secrets.refresh()
    response = await post(client, TOKEN, result())
    assert response.status == 503
    assert "operator key" in (await response.json())["message"]


def test_step_results_round_trip_through_the_annotation() -> None:
    # the operator parses the annotation back into a JobResult: nothing may be lost
    original = JobResult(
        instance_id="build",
        attempt=1,
        conclusion="failure",
        steps=(StepResult(name="Run make", outcome="failure", conclusion="success"),),
        reason="step_failed",
    )
    from cairn.k8s.callbacks import canonical_value

    assert JobResult.model_validate_json(canonical_value(original)) == original


async def test_a_workflow_that_has_not_started_is_gone(
    client: Client, cluster: InMemoryCluster
) -> None:
    obj = workflow_object(NAMESPACE, WORKFLOW, {"build": running_job("build")})
    del obj["status"]["state"]
    cluster.put_workflow(obj)
    response = await post(client, TOKEN, result())
    assert response.status == 410
    assert "has not started any job" in (await response.json())["message"]


@pytest.mark.parametrize("damage", ["version", "jobs", "job-entry"])
async def test_an_unreadable_checkpoint_is_503_so_the_sandbox_retries(
    client: Client, cluster: InMemoryCluster, damage: str
) -> None:
    obj = workflow_object(NAMESPACE, WORKFLOW, {"build": running_job("build")})
    state = obj["status"]["state"]
    if damage == "version":
        state["v"] = 99
    elif damage == "jobs":
        state["j"] = ["not", "a", "mapping"]
    else:
        state["j"]["build"]["a"] = "first"
    cluster.put_workflow(obj)
    response = await post(client, TOKEN, result())
    assert response.status == 503
    assert "checkpoint" in (await response.json())["message"]
    assert ANNOTATION not in stored(cluster)

"""/healthz, /readyz, /metrics, structured logs and secret reloading."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cairn.webhook.app import Receiver
from cairn.webhook.logs import LOGGER_NAME, JsonLineFormatter
from cairn.webhook.memory import InMemoryCluster
from tests.unit.webhook import payloads
from tests.unit.webhook.conftest import SECRET, Deliver, Serve, delivering_to

Client = TestClient[Any, Any]


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait until ``condition`` holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.01)


LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The receiver's log as parsed JSON lines, read whenever the test asks."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


async def test_healthz_answers_while_the_process_lives(
    client: Client, cluster: InMemoryCluster
) -> None:
    cluster.unavailable = True
    response = await client.get("/healthz")
    assert response.status == 200


async def test_readyz_needs_the_api_and_the_secrets(
    receiver: Receiver, client: Client, cluster: InMemoryCluster, secrets_dir: Path
) -> None:
    assert (await client.get("/readyz")).status == 200
    cluster.unavailable = True
    response = await client.get("/readyz")
    assert response.status == 503
    assert "Kubernetes API" in (await response.json())["message"]
    cluster.unavailable = False
    (secrets_dir / "team-b").unlink()
    receiver.secrets.refresh()
    response = await client.get("/readyz")
    assert response.status == 503
    assert "webhook secret 'team-b' has no value" in (await response.json())["message"]


async def test_metrics_count_deliveries_signature_failures_callbacks_and_latency(
    client: Client, deliver: Deliver
) -> None:
    await deliver("push", payloads.push_branch())
    await deliver("push", payloads.push_branch_deleted())
    await deliver("issues", payloads.issue_opened())
    await deliver("push", payloads.push_branch(), secret=b"wrong")
    await deliver("push", payloads.push_branch(), secret=None)
    await client.post("/callbacks/nonsense", data=b"{}")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    for sample in (
        'cairn_webhook_deliveries_total{event="push",outcome="created"} 1.0',
        'cairn_webhook_deliveries_total{event="push",outcome="ref_deleted"} 1.0',
        'cairn_webhook_deliveries_total{event="issues",outcome="ignored"} 1.0',
        'cairn_webhook_deliveries_total{event="unverified",outcome="unauthorized"} 2.0',
        'cairn_webhook_signature_failures_total{reason="mismatch"} 1.0',
        'cairn_webhook_signature_failures_total{reason="missing"} 1.0',
        'cairn_webhook_callbacks_total{outcome="forbidden"} 1.0',
        'cairn_webhook_request_duration_seconds_count{method="POST",route="/github"} 5.0',
        "cairn_webhook_request_duration_seconds_count"
        '{method="POST",route="/callbacks/{token}"} 1.0',
    ):
        assert sample in text, sample


async def test_every_log_line_of_a_delivery_names_it_and_its_run(
    deliver: Deliver, log_lines: LogLines
) -> None:
    delivery = "d1b0a7f0-5f3e-11ef-8d5c-2b1f9c6a7e10"
    assert (await deliver("push", payloads.push_branch(), delivery=delivery)).status == 201
    assert (await deliver("push", payloads.push_branch(), delivery=delivery)).status == 200
    lines = log_lines()
    assert [line["msg"] for line in lines] == [
        "delivery created: CIRun created",
        "delivery duplicate: already accepted",
    ]
    for line in lines:
        assert line["delivery"] == delivery
        assert line["run"] == f"gh-{delivery}"
        assert line["namespace"] == "ci-hello"
        assert {"ts", "level", "logger"} <= set(line)


async def test_a_signature_failure_logs_one_line_and_nothing_of_the_payload(
    deliver: Deliver, log_lines: LogLines
) -> None:
    payload = payloads.push_branch("secret-feature-branch")
    assert (await deliver("push", payload, secret=b"wrong")).status == 401
    (line,) = log_lines()
    assert line["msg"] == "delivery rejected: mismatch signature"
    assert line["run"] is None
    assert "secret-feature-branch" not in json.dumps(line)


async def test_callback_log_lines_name_the_run(
    client: Client, cluster: InMemoryCluster, log_lines: LogLines
) -> None:
    from tests.unit.webhook.conftest import NAMESPACE, OPERATOR_KEY
    from tests.unit.webhook.workflows import bearer, running_job, token_for, workflow_object

    cluster.put_workflow(
        workflow_object(NAMESPACE, "wf", {"build": running_job("build")}, run="gh-run-1")
    )
    token = token_for(NAMESPACE, "wf", "build")
    body = {"instance_id": "build", "attempt": 1, "conclusion": "success"}
    response = await client.post(
        f"/callbacks/{token}", json=body, headers=bearer(OPERATOR_KEY, token)
    )
    assert response.status == 202
    (line,) = log_lines()
    assert line["run"] == "gh-run-1" and line["workflow"] == "wf"


async def test_a_rotated_secret_is_picked_up_without_a_restart(
    receiver: Receiver, serve: Serve, secrets_dir: Path
) -> None:
    receiver.secret_refresh_seconds = 0.02
    deliver = delivering_to(await serve(receiver))
    rotated = b"rotated while running"
    (secrets_dir / "default").write_bytes(rotated)

    async def accepted() -> bool:
        return bool((await deliver("ping", payloads.ping(), secret=rotated)).status == 200)

    await eventually(accepted)
    assert (await deliver("ping", payloads.ping(), secret=SECRET)).status == 401


async def test_an_unexpected_error_is_a_logged_500_and_the_server_keeps_serving(
    receiver: Receiver, serve: Serve
) -> None:
    class BrokenStore(InMemoryCluster):
        async def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
            raise RuntimeError("a bug in the store")

    receiver.runs = BrokenStore()
    client = await serve(receiver)
    deliver = delivering_to(client)
    response = await deliver("push", payloads.push_branch())
    assert response.status == 500
    assert (await response.json())["message"] == "internal error (see the receiver's log)"
    assert (await client.get("/healthz")).status == 200

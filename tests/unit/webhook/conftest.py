"""A receiver over real HTTP on loopback, backed by the in-memory cluster."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from cairn.webhook.app import Receiver, SecretHolder, create_app
from cairn.webhook.config import ReceiverConfig
from cairn.webhook.memory import InMemoryCluster
from cairn.webhook.secrets import SecretLoader
from cairn.webhook.signature import sign

# GitHub's documented example secret
SECRET = b"It's a Secret to Everybody"
OTHER_SECRET = b"another team's secret"
OPERATOR_KEY = b"0123456789abcdef-operator-key-for-tests-0123456789"
NAMESPACE = "ci-hello"


def write_secrets(directory: Path, values: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        (directory / name).write_bytes(value)
    return directory


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    return write_secrets(tmp_path / "webhook-secrets", {"default": SECRET, "team-b": OTHER_SECRET})


@pytest.fixture
def operator_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "operator-key"
    path.write_bytes(OPERATOR_KEY)
    return path


@pytest.fixture
def config() -> ReceiverConfig:
    return ReceiverConfig.model_validate(
        {
            "repositories": [
                {"name": "octo-org/hello-world", "namespace": NAMESPACE},
                {"name": "octo-org/*", "namespace": "ci-octo"},
                {"name": "team-b/service", "namespace": "ci-b", "webhookSecret": "team-b"},
            ]
        }
    )


@pytest.fixture
def cluster() -> InMemoryCluster:
    return InMemoryCluster()


@pytest.fixture
def receiver(
    config: ReceiverConfig, secrets_dir: Path, operator_key_file: Path, cluster: InMemoryCluster
) -> Receiver:
    loader = SecretLoader(
        config.secret_names, webhook_dir=secrets_dir, operator_key_file=operator_key_file, env={}
    )
    return Receiver(
        config=config,
        secrets=SecretHolder(loader),
        runs=cluster,
        workflows=cluster,
        secret_refresh_seconds=None,
    )


Serve = Callable[[Receiver], Any]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a receiver on a loopback port; stopped at the end of the test."""
    started: list[TestClient[Any, Any]] = []

    async def start(receiver: Receiver) -> TestClient[Any, Any]:
        test_client: TestClient[Any, Any] = TestClient(
            TestServer(create_app(receiver), host="127.0.0.1")
        )
        await test_client.start_server()
        started.append(test_client)
        return test_client

    yield start
    for test_client in started:
        await test_client.close()


@pytest.fixture
async def client(receiver: Receiver, serve: Serve) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await serve(receiver)
    return result


Deliver = Callable[..., Any]


def delivering_to(client: TestClient[Any, Any]) -> Deliver:
    """POST a delivery the way GitHub does; every header can be overridden."""

    async def post(
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        secret: bytes | None = SECRET,
        delivery: str | None = None,
        form: bool = False,
        headers: dict[str, str | None] | None = None,
    ) -> ClientResponse:
        if isinstance(payload, bytes):
            body = payload
        elif form:
            body = urlencode({"payload": json.dumps(payload)}).encode()
        else:
            body = json.dumps(payload).encode()
        sent = {
            "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "292430182",
        }
        if secret is not None:
            sent["X-Hub-Signature-256"] = sign(secret, body)
        for key, value in (headers or {}).items():
            if value is None:
                sent.pop(key, None)
            else:
                sent[key] = value
        return await client.post("/github", data=body, headers=sent)

    return post


@pytest.fixture
def deliver(client: TestClient[Any, Any]) -> Deliver:
    return delivering_to(client)

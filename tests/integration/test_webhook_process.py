"""``cairn webhook`` as a process: flags, secrets from the environment, JSON logs,
a delivery through a real port into the API emulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cairn import cli
from cairn.webhook.signature import sign
from tests.integration.conftest import KUBECONFIG_PATH, REPO_ROOT
from tests.kubeapi import KubeApiEmulator
from tests.unit.webhook import payloads

SECRET = "process test secret"
OPERATOR_KEY = "process-test-operator-key-0123456789abcdef"
DELIVERY = "0f6b1e1a-8c11-4b6e-9a3e-5d2c7f7e9b10"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_ready(url: str, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"cairn webhook exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            status, _ = request(url + "/readyz")
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(0.05)
    raise AssertionError("cairn webhook never became ready")


@pytest.fixture
def receiver_process(kubeapi: KubeApiEmulator) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    for crd in ("cirun.yaml", "ciworkflow.yaml"):
        kubeapi.register_crd(REPO_ROOT / "crds" / crd)
    port = free_port()
    env = {
        **os.environ,
        "CAIRN_WEBHOOK_SECRET": SECRET,
        "CAIRN_OPERATOR_KEY": OPERATOR_KEY,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cairn.cli",
            "webhook",
            "--repository",
            f"{payloads.FULL_NAME}=default",
            "--kubeconfig",
            str(KUBECONFIG_PATH),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_delivery_through_the_process_creates_a_cirun_and_logs_json(
    kubeapi: KubeApiEmulator, receiver_process: tuple[str, subprocess.Popen[str]]
) -> None:
    url, process = receiver_process
    body = json.dumps(payloads.push_branch()).encode()
    status, answer = request(
        url + "/github",
        body,
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": DELIVERY,
            "X-Hub-Signature-256": sign(SECRET.encode(), body),
        },
    )
    assert (status, answer["status"]) == (201, "created")
    assert kubeapi.get("ciruns.cairn.dev", f"gh-{DELIVERY}", "default")
    process.terminate()
    stdout, _ = process.communicate(timeout=10)
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert lines[0]["msg"] == "listening"
    created = [line for line in lines if line["msg"].startswith("delivery created")]
    assert created and created[0]["delivery"] == DELIVERY and created[0]["run"] == f"gh-{DELIVERY}"


def test_missing_secrets_stop_the_receiver_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CAIRN_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("CAIRN_OPERATOR_KEY", raising=False)
    code = cli.main(["webhook", "--repository", "a/b=ci", "--kubeconfig", str(KUBECONFIG_PATH)])
    assert code == 2
    err = capsys.readouterr().err
    assert "webhook secret 'default' has no value" in err
    assert "no operator key" in err


def test_a_bad_configuration_stops_the_receiver_at_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["webhook", "--repository", "not-a-repo=ci"]) == 2
    assert "not a repository name" in capsys.readouterr().err

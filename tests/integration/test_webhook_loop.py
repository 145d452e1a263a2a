"""The whole loop: a git repository on disk, a signed push delivery, the real
``cairn webhook`` process, the real operator, sandbox Jobs run by the test
kubelet with the real ``cairn runner``, ``Succeeded``.

The first job's output is larger than a termination message holds, so its
runner writes the cut-down result there and POSTs the whole one to the
receiver (URL, token and secret from the sandbox's env and callback Secret
volume, as the operator rendered them); the dependent job sees the whole
output only if it travelled receiver → ``callback.cairn.dev/<token>`` →
operator.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn import cli
from cairn.k8s.resources import ANNOTATION_INSTANCE_ID, CALLBACK_ANNOTATION_PREFIX, LABEL_RUN
from cairn.k8s.sandbox import CALLBACK_SECRET_KEY, ENV_CALLBACK_TOKEN, ENV_CALLBACK_URL
from cairn.k8s.settings import OperatorSettings
from cairn.runner.termination import decode_termination_message
from cairn.webhook.signature import sign
from tests.integration.conftest import KUBECONFIG_PATH
from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    CIRUNS,
    CIWORKFLOWS,
    NAMESPACE,
    OperatorHarness,
    cirun,
    conclusions,
    install_crds,
    jobs_state,
    wait_run,
    wait_workflow,
    workflows_of,
)
from tests.integration.test_webhook_process import free_port, request, wait_until_ready
from tests.kubeapi import KubeApiEmulator
from tests.unit.webhook import payloads

SECRET = "loop webhook secret"
OPERATOR_KEY = "loop-test-operator-key-0123456789abcdef"
PUSH = "6c0f5b0e-2f5a-4c1e-9b7d-0e6f9d3f1a01"
FILTERED_PUSH = "6c0f5b0e-2f5a-4c1e-9b7d-0e6f9d3f1a02"

CI = """
name: CI
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
      notes: ${{ steps.v.outputs.notes }}
    steps:
      - id: v
        run: |
          echo "version=2.0.1" >> "$GITHUB_OUTPUT"
          # release notes longer than a termination message (4096 bytes)
          echo "notes=$(printf 'fixed #%04d;' $(seq 1 600))" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ needs.build.outputs.version }}" = 2.0.1
      - env:
          NOTES: ${{ needs.build.outputs.notes }}
        run: |
          test "${#NOTES}" -eq 7200
          case "$NOTES" in "fixed #0001;fixed #0002;"*"fixed #0600;") ;; *) exit 1 ;; esac
"""

DOCS = """
name: Docs
on:
  push:
    branches: [docs]
jobs:
  docs:
    runs-on: ubuntu-latest
    steps:
      - run: echo docs
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Mona Octocat",
        "GIT_AUTHOR_EMAIL": "mona@example.com",
        "GIT_COMMITTER_NAME": "Mona Octocat",
        "GIT_COMMITTER_EMAIL": "mona@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "hello-world"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(CI)
    (repo / ".github" / "workflows" / "docs.yml").write_text(DOCS)
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "CI and docs workflows")
    return repo, git(repo, "rev-parse", "HEAD")


@pytest.fixture
def receiver_url(
    kubeapi: KubeApiEmulator, tmp_path: Path, repository: tuple[Path, str]
) -> Iterator[str]:
    install_crds(kubeapi)  # the receiver is ready once the API serves CIRuns
    repo, _ = repository
    config = tmp_path / "webhook.yaml"
    config.write_text(
        json.dumps(
            {
                "repositories": [
                    {
                        "name": payloads.FULL_NAME,
                        "namespace": NAMESPACE,
                        "cloneUrl": repo.as_uri(),
                    }
                ]
            }
        )
    )
    port = free_port()
    env = {**os.environ, "CAIRN_WEBHOOK_SECRET": SECRET, "CAIRN_OPERATOR_KEY": OPERATOR_KEY}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cairn.cli",
            "webhook",
            "--config",
            str(config),
            "--kubeconfig",
            str(KUBECONFIG_PATH),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def deliver(url: str, delivery: str, payload: dict[str, Any]) -> tuple[int, Any]:
    body = json.dumps(payload).encode()
    return request(
        url + "/github",
        body,
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(SECRET.encode(), body),
        },
    )


def push_of(sha: str, branch: str) -> dict[str, Any]:
    payload = payloads.push_branch(branch, after=sha)
    payload["head_commit"]["id"] = sha
    payload["commits"][0]["id"] = sha
    return payload


def sandbox_callback(api: KubeApiEmulator, job_name: str) -> tuple[str, str, str]:
    """(URL, token, secret) as the sandbox of ``job_name`` would find them."""
    job = api.get("jobs.batch", job_name, NAMESPACE)
    (container,) = [
        c
        for c in job["spec"]["template"]["spec"]["containers"]
        if any(e["name"] == ENV_CALLBACK_URL for e in c.get("env", []))
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    secret = api.get("secrets", job_name, NAMESPACE)
    value = base64.b64decode(secret["data"][CALLBACK_SECRET_KEY]).decode()
    return env[ENV_CALLBACK_URL], env[ENV_CALLBACK_TOKEN], value


def test_a_signed_push_runs_the_repositorys_workflows_to_success(
    kubeapi: KubeApiEmulator, tmp_path: Path, repository: tuple[Path, str], receiver_url: str
) -> None:
    _, sha = repository
    key_file = tmp_path / "operator-key"
    key_file.write_text(OPERATOR_KEY)
    settings = OperatorSettings(
        namespaces=(NAMESPACE,),
        callback_base_url=receiver_url,
        operator_key_file=str(key_file),
        git_allowed_protocols=("file",),
    )
    with TestKubelet(kubeapi) as kubelet, OperatorHarness(kubeapi, settings=settings):
        status, answer = deliver(receiver_url, PUSH, push_of(sha, "main"))
        assert (status, answer["status"]) == (201, "created")
        run_name = answer["run"]

        # only ci.yml is triggered by a push to main; docs.yml wants the docs branch
        workflow = wait_workflow_of(kubeapi, run_name)
        run = wait_run(kubeapi, run_name, timeout=60)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert run["status"]["sha"] == sha
        (only,) = workflows_of(kubeapi, run_name)
        assert only["spec"]["file"] == "ci.yml"
        assert conclusions(only) == {"build": "success", "test": "success"}
        assert not kubelet.errors
        # build's termination message was cut down: the callback carried its result
        (build_job,) = [
            j["metadata"]["name"]
            for j in kubeapi.list("jobs.batch", NAMESPACE)
            if j["metadata"]["annotations"].get(ANNOTATION_INSTANCE_ID) == "build"
        ]
        assert decode_termination_message(kubelet.results[build_job]).truncated
        assert not [
            a
            for a in kubeapi.get(CIWORKFLOWS, workflow, NAMESPACE)["metadata"].get(
                "annotations", {}
            )
            if a.startswith(CALLBACK_ANNOTATION_PREFIX)
        ]  # consumed, then removed
        # (the Event recorder aggregates a wake's notes: look at the messages)
        assert not [
            e
            for e in kubeapi.list("events", NAMESPACE)
            if "build: the result did not fit" in e.get("message", "")
        ]

        # the attempt is over: its token no longer opens anything
        url, token, secret = sandbox_callback(kubeapi, build_job)
        assert url == f"{receiver_url}/callbacks/{token}"
        result = {"instance_id": "build", "attempt": 1, "conclusion": "success"}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
        status, answer = request(url, json.dumps(result).encode(), headers)
        assert status == 410, answer
        # GitHub redelivering the push changes nothing
        status, answer = deliver(receiver_url, PUSH, push_of(sha, "main"))
        assert (status, answer["status"]) == (200, "duplicate")
        assert len(kubeapi.list(CIRUNS, NAMESPACE)) == 1

        # a push no workflow's filters accept ends at once, with a clear reason
        status, answer = deliver(receiver_url, FILTERED_PUSH, push_of(sha, "feature/x"))
        assert status == 201
        filtered = wait_run(kubeapi, answer["run"], timeout=60)
        assert filtered["status"]["phase"] == "Succeeded"
        reasons = {c["type"]: c["reason"] for c in filtered["status"]["conditions"]}
        assert reasons["Succeeded"] == "NoWorkflowsTriggered"
        assert workflows_of(kubeapi, answer["run"]) == []


def wait_workflow_of(api: KubeApiEmulator, run: str, timeout: float = 60.0) -> str:
    found = api.wait_until(
        "ciworkflows.cairn.dev",
        lambda items: any(w["metadata"]["labels"].get(LABEL_RUN) == run for w in items),
        NAMESPACE,
        timeout=timeout,
    )
    assert found
    (workflow,) = workflows_of(api, run)
    return str(workflow["metadata"]["name"])


def test_the_cli_drives_the_operator(kubeapi: KubeApiEmulator, tmp_path: Path) -> None:
    """``cairn retry``, ``cairn cancel`` and ``cairn rerun-failed`` with the user's
    kubeconfig, and the real operator acting on what they wrote."""
    marker = tmp_path / "flaky-ran"
    workflow_yaml = f"""
name: Requests
on: push
jobs:
  flaky:
    runs-on: ubuntu-latest
    steps:
      - run: |
          if [ -e "{marker}" ]; then exit 0; fi
          touch "{marker}"; exit 1
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: echo done
"""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubelet.hang.add("slow")  # keeps the run going while flaky is retried
        kubeapi.create(CIRUNS, cirun("cli-run", {"requests.yml": workflow_yaml}), NAMESPACE)
        workflow = wait_workflow_of(kubeapi, "cli-run")
        wait_workflow(
            kubeapi, workflow, lambda wf: jobs_state(wf).get("flaky", {}).get("c") == "failure"
        )

        assert cli.main(["retry", "cli-run", "flaky", "--kubeconfig", str(KUBECONFIG_PATH)]) == 0
        wait_workflow(
            kubeapi,
            workflow,
            lambda wf: (
                jobs_state(wf)["flaky"].get("a") == 2
                and jobs_state(wf)["flaky"].get("c") == "success"
            ),
        )

        assert (
            cli.main(
                [
                    "cancel",
                    "cli-run",
                    "--reason",
                    "not needed",
                    "--kubeconfig",
                    str(KUBECONFIG_PATH),
                ]
            )
            == 0
        )
        run = wait_run(kubeapi, "cli-run", timeout=60)
        assert run["status"]["phase"] == "Cancelled"
        assert conclusions(workflows_of(kubeapi, "cli-run")[0])["slow"] != "success"

        kubelet.hang.discard("slow")
        assert cli.main(["rerun-failed", "cli-run", "--kubeconfig", str(KUBECONFIG_PATH)]) == 0
        run = wait_run(kubeapi, "cli-run", "Succeeded", timeout=60)
        final = jobs_state(workflows_of(kubeapi, "cli-run")[0])
        assert final["flaky"]["a"] == 2  # a success is not re-run
        assert final["slow"]["a"] == 2 and final["slow"]["c"] == "success"

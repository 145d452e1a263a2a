"""The webhook receiver and the annotation CLI against the Kubernetes API emulator.

The receiver's real cluster access (``KubeCluster`` over aiohttp, credentials
from the kubeconfig) creates CIRuns the CRD schema accepts, finds CIWorkflows
by label and writes callback annotations; ``cairn cancel|retry|approve|
rerun-failed`` write their annotations with the user's kubeconfig.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cairn import cli
from cairn.engine.run import WorkflowRun
from cairn.engine.state import WorkflowState
from cairn.k8s.errors import Conflict
from cairn.k8s.kubeclient import KubeClient, KubeConnection
from cairn.k8s.resources import (
    ANNOTATION_APPROVE,
    ANNOTATION_CANCEL,
    ANNOTATION_DELIVERY,
    ANNOTATION_RERUN_FAILED,
    ANNOTATION_RETRY,
    CALLBACK_ANNOTATION_PREFIX,
    LABEL_CALLBACK_KEY,
    LABEL_RUN,
    CIRunSpec,
    CIWorkflowSpec,
    InlineWorkflow,
)
from cairn.k8s.tokens import callback_key
from cairn.webhook.app import Receiver, SecretHolder, create_app
from cairn.webhook.config import ReceiverConfig
from cairn.webhook.kubeapi import KubeCluster
from cairn.webhook.secrets import SecretLoader
from cairn.webhook.signature import sign
from cairn.workflow import compile_plan, parse_workflow
from tests.integration.conftest import KUBECONFIG_PATH, REPO_ROOT
from tests.kubeapi import KubeApiEmulator
from tests.unit.webhook import payloads
from tests.unit.webhook.workflows import CREATED, SEED, bearer, running_job, token_for

NS = "default"
SECRET = b"integration webhook secret"
OPERATOR_KEY = b"integration-operator-key-0123456789abcdef"
RUN = "gh-72d3162e-cc78-11e3-81ab-4c9367dc0958"
CIRUNS = "ciruns.cairn.dev"
CIWORKFLOWS = "ciworkflows.cairn.dev"

WORKFLOW_YAML = """
name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: make
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: make test
"""

Client = TestClient[Any, Any]


@pytest.fixture
def api(kubeapi: KubeApiEmulator) -> KubeApiEmulator:
    for crd in ("cirun.yaml", "ciworkflow.yaml"):
        kubeapi.register_crd(REPO_ROOT / "crds" / crd)
    return kubeapi


def make_receiver() -> tuple[Receiver, KubeClient]:
    config = ReceiverConfig.model_validate(
        {"repositories": [{"name": payloads.FULL_NAME, "namespace": NS}]}
    )
    env = {"CAIRN_WEBHOOK_SECRET": SECRET.decode(), "CAIRN_OPERATOR_KEY": OPERATOR_KEY.decode()}
    client = KubeClient(KubeConnection.load(str(KUBECONFIG_PATH)))
    cluster = KubeCluster(client)
    receiver = Receiver(
        config=config,
        secrets=SecretHolder(SecretLoader(config.secret_names, env=env)),
        runs=cluster,
        workflows=cluster,
        secret_refresh_seconds=None,
    )
    return receiver, client


@pytest.fixture
async def http(kubeapi: KubeApiEmulator) -> AsyncIterator[Client]:
    receiver, kube = make_receiver()
    client: Client = TestClient(TestServer(create_app(receiver), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await kube.close()


async def deliver(client: Client, event: str, payload: dict[str, Any], delivery: str) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    return await client.post("/github", data=body, headers=headers)


def create_workflow(
    api: KubeApiEmulator, name: str, run: str = RUN, file: str = "ci.yml"
) -> dict[str, Any]:
    plan = compile_plan(parse_workflow(WORKFLOW_YAML, f".github/workflows/{file}"))
    spec = CIWorkflowSpec(
        run=run,
        file=file,
        workflow_run=WorkflowRun(name=f"{NS}/{name}", plan=plan, token_seed=SEED),
    )
    body = {
        "apiVersion": "cairn.dev/v1alpha1",
        "kind": "CIWorkflow",
        "metadata": {
            "name": name,
            "labels": {LABEL_RUN: run, LABEL_CALLBACK_KEY: callback_key(NS, name)},
        },
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    return api.create(CIWORKFLOWS, body, NS)


def checkpoint(api: KubeApiEmulator, name: str, **jobs: Any) -> None:
    state = WorkflowState(
        phase="running", created_at=CREATED, deadline=CREATED + timedelta(days=1), jobs=jobs
    )
    api.patch_status(CIWORKFLOWS, name, {"phase": "Running", "state": state.to_dict()}, NS)


# --- the receiver -----------------------------------------------------------------------


async def test_readyz_needs_the_crds(kubeapi: KubeApiEmulator, http: Client) -> None:
    response = await http.get("/readyz")
    assert response.status == 503
    assert "are the CRDs installed?" in (await response.json())["message"]
    kubeapi.register_crd(REPO_ROOT / "crds" / "cirun.yaml")
    kubeapi.register_crd(REPO_ROOT / "crds" / "ciworkflow.yaml")
    assert (await http.get("/readyz")).status == 200


async def test_a_push_becomes_a_cirun_the_crd_accepts_and_a_redelivery_creates_nothing(
    api: KubeApiEmulator, http: Client
) -> None:
    delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    payload = payloads.push_branch("main")
    first = await deliver(http, "push", payload, delivery)
    assert first.status == 201, await first.text()
    stored = api.get(CIRUNS, RUN, NS)
    assert stored["metadata"]["annotations"][ANNOTATION_DELIVERY] == delivery
    spec = CIRunSpec.model_validate(stored["spec"])
    assert spec.source is not None and spec.source.sha == payloads.SHA_AFTER
    # the CRD keeps the whole payload: it is the github.event context
    assert spec.event.payload == payload
    again = await deliver(http, "push", payload, delivery)
    assert again.status == 200
    assert (await again.json())["status"] == "duplicate"
    assert api.request_count("create", "ciruns") == 2
    assert len(api.list(CIRUNS, NS)) == 1


async def test_a_pull_request_becomes_a_cirun(api: KubeApiEmulator, http: Client) -> None:
    response = await deliver(
        http, "pull_request", payloads.pull_request("synchronize"), str(uuid.uuid4())
    )
    assert response.status == 201
    (run,) = api.list(CIRUNS, NS)
    assert run["spec"]["source"]["ref"] == "refs/pull/42/head"


async def test_callbacks_find_the_workflow_by_label_and_annotate_it(
    api: KubeApiEmulator, http: Client
) -> None:
    create_workflow(api, "other-workflow", run="gh-other")
    create_workflow(api, "ci-workflow")
    checkpoint(api, "ci-workflow", build=running_job("build"))
    token = token_for(NS, "ci-workflow", "build")
    result = {"instance_id": "build", "attempt": 1, "conclusion": "success"}
    response = await http.post(
        f"/callbacks/{token}", json=result, headers=bearer(OPERATOR_KEY, token)
    )
    assert response.status == 202, await response.text()
    annotations = api.get(CIWORKFLOWS, "ci-workflow", NS)["metadata"]["annotations"]
    assert json.loads(annotations[CALLBACK_ANNOTATION_PREFIX + token])["conclusion"] == "success"
    # one label-selected list, never an unselective one
    lists = [r for r in api.recent_requests() if r.verb == "list" and r.resource == "ciworkflows"]
    assert [parse_qs(r.query)["labelSelector"] for r in lists] == [
        [f"{LABEL_CALLBACK_KEY}={callback_key(NS, 'ci-workflow')}"]
    ]
    # a repeated callback writes nothing
    patches = api.request_count("patch", "ciworkflows")
    again = await http.post(f"/callbacks/{token}", json=result, headers=bearer(OPERATOR_KEY, token))
    assert again.status == 200
    assert api.request_count("patch", "ciworkflows") == patches
    # once the operator has recorded the completion, the token is stale
    checkpoint(
        api,
        "ci-workflow",
        build=running_job("build").model_copy(
            update={"phase": "completed", "conclusion": "success"}
        ),
    )
    late = await http.post(f"/callbacks/{token}", json=result, headers=bearer(OPERATOR_KEY, token))
    assert late.status == 410


async def test_progress_is_replaced_under_a_precondition_on_its_own_annotation(
    api: KubeApiEmulator,
) -> None:
    create_workflow(api, "ci-workflow")
    key = CALLBACK_ANNOTATION_PREFIX + "0123456789abcdef.token"
    client = KubeClient(KubeConnection.load(str(KUBECONFIG_PATH)))
    cluster = KubeCluster(client)
    try:
        await cluster.annotate_workflow(
            NS, "ci-workflow", key, '{"kind":"progress"}', replaces=None
        )
        await cluster.annotate_workflow(
            NS, "ci-workflow", key, '{"conclusion":"success"}', replaces='{"kind":"progress"}'
        )
        with pytest.raises(Conflict):
            await cluster.annotate_workflow(
                NS, "ci-workflow", key, '{"kind":"progress"}', replaces='{"kind":"progress"}'
            )
        listed = await cluster.list_workflows(NS, f"{LABEL_RUN}={RUN}")
    finally:
        await client.close()
    assert [w["metadata"]["name"] for w in listed] == ["ci-workflow"]
    assert listed[0]["metadata"]["annotations"][key] == '{"conclusion":"success"}'


# --- the CLI ----------------------------------------------------------------------------


def cairn(*argv: str) -> int:
    return cli.main([*argv, "--kubeconfig", str(KUBECONFIG_PATH)])


def create_run(api: KubeApiEmulator, name: str = RUN) -> None:
    spec = CIRunSpec(workflows=(InlineWorkflow(name="ci.yml", content=WORKFLOW_YAML),))
    api.create(
        CIRUNS,
        {
            "apiVersion": "cairn.dev/v1alpha1",
            "kind": "CIRun",
            "metadata": {"name": name},
            "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        },
        NS,
    )


def test_cancel_and_rerun_failed_annotate_the_run(
    api: KubeApiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    create_run(api)
    assert cairn("cancel", RUN, "--reason", "superseded by a newer push") == 0
    assert capsys.readouterr().out == (
        f"cirun.cairn.dev/{RUN} annotated {ANNOTATION_CANCEL}=superseded by a newer push\n"
    )
    assert cairn("rerun-failed", RUN) == 0
    assert cairn("rerun-failed", RUN, "-n", NS) == 0
    annotations = api.get(CIRUNS, RUN, NS)["metadata"]["annotations"]
    assert annotations[ANNOTATION_CANCEL] == "superseded by a newer push"
    assert ANNOTATION_RERUN_FAILED in annotations
    # each re-run request is a new value, so the operator sees a change
    patches = [r for r in api.recent_requests() if r.verb == "patch" and r.resource == "ciruns"]
    assert len(patches) == 3


def test_retry_and_approve_annotate_the_runs_workflow(
    api: KubeApiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    create_run(api)
    create_workflow(api, "ci-workflow")
    assert cairn("retry", RUN, "build") == 0
    assert cairn("approve", RUN, "ci/test") == 0
    annotations = api.get(CIWORKFLOWS, "ci-workflow", NS)["metadata"]["annotations"]
    assert annotations[ANNOTATION_RETRY] == "build"
    assert annotations[ANNOTATION_APPROVE] == "test"
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"ciworkflow.cairn.dev/ci-workflow annotated {ANNOTATION_RETRY}=build",
        f"ciworkflow.cairn.dev/ci-workflow annotated {ANNOTATION_APPROVE}=test",
    ]


def test_the_cli_explains_what_it_cannot_do(
    api: KubeApiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cairn("cancel", "gh-nope") == 1
    assert "cirun.cairn.dev/gh-nope not found in namespace default" in capsys.readouterr().err
    assert cairn("retry", "gh-nope", "build") == 1
    assert "not found" in capsys.readouterr().err
    create_run(api)
    assert cairn("retry", RUN, "build") == 1
    assert f"run {RUN} has no workflows yet" in capsys.readouterr().err
    create_workflow(api, "ci-workflow")
    create_workflow(api, "release-workflow", file="release.yml")
    assert cairn("retry", RUN, "build") == 1
    assert "several workflows (ci.yml, release.yml): name the job as WORKFLOW/JOB" in (
        capsys.readouterr().err
    )
    assert cairn("retry", RUN, "release.yml/deploy") == 1
    assert "workflow release.yml of run" in capsys.readouterr().err
    assert cairn("retry", RUN, "lint/build") == 1
    assert "has no workflow 'lint'" in capsys.readouterr().err
    assert cairn("retry", RUN, "release/build") == 0
    assert cairn("cancel", RUN, "--context", "no-such-context") == 1
    assert "cannot load the kubeconfig" in capsys.readouterr().err


def test_the_cli_reports_an_unreachable_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    assert cli.main(["cancel", RUN, "--kubeconfig", str(config)]) == 1
    assert "cannot reach the Kubernetes API" in capsys.readouterr().err

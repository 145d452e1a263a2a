"""A result too large for the termination message: the operator takes the whole
result from the callback annotation, and the cut-down one only when no
callback came.

The test plays the sandbox of ``build`` (its pod hangs in the kubelet): it
writes what the runner and the webhook receiver would — the callback
annotation with the whole result, then the pod's termination message cut
down to fit (``truncated: true``) and the Job's ``Complete`` condition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cairn.engine import JobResult, callback_token
from cairn.k8s import tokens
from cairn.k8s.callbacks import canonical_value
from cairn.k8s.resources import CALLBACK_ANNOTATION_PREFIX, LABEL_MANAGED_BY, MANAGED_BY
from cairn.k8s.sandbox import RUNNER_CONTAINER
from cairn.runner import encode_termination_message
from cairn.runner.termination import decode_termination_message
from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    CIRUNS,
    CIWORKFLOWS,
    NAMESPACE,
    OperatorHarness,
    cirun,
    events_about,
    install_crds,
    jobs_state,
    wait_run,
    wait_workflow,
    workflow_of,
)
from tests.kubeapi import KubeApiEmulator

NOTES = "".join(f"fixed #{n:04d};" for n in range(1, 601))  # 7,200 bytes

RELEASE = f"""
name: Release
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      notes: ${{{{ steps.notes.outputs.notes }}}}
    steps:
      - id: notes
        run: echo "this pod never reports by itself"
  publish:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - env:
          NOTES: ${{{{ needs.build.outputs.notes }}}}
        run: |
          test "$NOTES" = "{NOTES}"
"""

WHOLE = JobResult(
    instance_id="build",
    attempt=1,
    conclusion="success",
    outputs={"notes": NOTES},
    reason=None,
)


def _running(instance_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda wf: jobs_state(wf).get(instance_id, {}).get("p") == "running"


def _start(kubeapi: KubeApiEmulator, kubelet: TestKubelet, run: str) -> str:
    kubelet.hang.add("build")
    kubeapi.create(CIRUNS, cirun(run, {"release.yml": RELEASE}), NAMESPACE)
    found = kubeapi.wait_until(CIWORKFLOWS, lambda items: bool(items), NAMESPACE, timeout=30)
    assert found
    name = str(workflow_of(kubeapi, run)["metadata"]["name"])
    wait_workflow(kubeapi, name, _running("build"))
    return name


def _post_callback(kubeapi: KubeApiEmulator, workflow: str) -> None:
    """What the receiver writes for build's runner."""
    seed = kubeapi.get(CIWORKFLOWS, workflow, NAMESPACE)["spec"]["workflowRun"]["token_seed"]
    token = tokens.public_token(
        tokens.callback_key(NAMESPACE, workflow), callback_token(seed, "build", 1)
    )
    annotations = {CALLBACK_ANNOTATION_PREFIX + token: canonical_value(WHOLE)}
    kubeapi.patch(CIWORKFLOWS, workflow, {"metadata": {"annotations": annotations}}, NAMESPACE)


def _exit_cut_down(kubeapi: KubeApiEmulator) -> None:
    """build's container exits with the cut-down result; its Job completes."""
    message = encode_termination_message(WHOLE)
    assert decode_termination_message(message).truncated  # the premise of these tests
    selector = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
    (pod,) = kubeapi.list("pods", NAMESPACE, label_selector=selector)
    terminated: dict[str, Any] = {
        "exitCode": 0,
        "reason": "Completed",
        "message": message,
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:00:05Z",
    }
    status = {
        "phase": "Succeeded",
        "containerStatuses": [
            {
                "name": RUNNER_CONTAINER,
                "ready": False,
                "restartCount": 0,
                "image": "cairn:dev",
                "imageID": "",
                "state": {"terminated": terminated},
            }
        ],
    }
    kubeapi.patch_status("pods", pod["metadata"]["name"], status, NAMESPACE)
    job = pod["metadata"]["labels"]["job-name"]
    condition = {"type": "Complete", "status": "True", "reason": "Completed", "message": ""}
    kubeapi.patch_status(
        "jobs.batch", job, {"succeeded": 1, "active": 0, "conditions": [condition]}, NAMESPACE
    )


def _says_cut_down(event: dict[str, Any]) -> bool:
    """An Event (maybe aggregated with others) says build's result was cut down."""
    return "build: the result did not fit in the termination message and no callback" in str(
        event.get("message")
    )


def _callbacks_left(kubeapi: KubeApiEmulator, workflow: str) -> list[str]:
    annotations = kubeapi.get(CIWORKFLOWS, workflow, NAMESPACE)["metadata"].get("annotations")
    return [a for a in annotations or {} if a.startswith(CALLBACK_ANNOTATION_PREFIX)]


def test_the_callback_wins_over_a_cut_down_result_seen_in_the_same_wake(
    kubeapi: KubeApiEmulator,
) -> None:
    """Both arrive while the operator is down: its first wake sees the cut-down
    termination message and the callback annotation together."""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        operator = OperatorHarness(kubeapi).start()
        try:
            workflow = _start(kubeapi, kubelet, "down-release")
            operator.stop()
            _post_callback(kubeapi, workflow)
            _exit_cut_down(kubeapi)
            operator.start()
            run = wait_run(kubeapi, "down-release", timeout=30)
        finally:
            operator.stop()
    assert run["status"]["phase"] == "Succeeded", run["status"]
    build = jobs_state(workflow_of(kubeapi, "down-release"))["build"]
    assert build["o"] == {"notes": NOTES}
    assert _callbacks_left(kubeapi, workflow) == []
    assert not [e for e in events_about(kubeapi, workflow) if _says_cut_down(e)]


def test_the_callback_written_just_before_the_pod_exits_is_used(
    kubeapi: KubeApiEmulator,
) -> None:
    """The runner's POST completes before its container exits; whichever the
    operator's watches deliver first, the whole result is the one used."""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        workflow = _start(kubeapi, kubelet, "live-release")
        _post_callback(kubeapi, workflow)
        _exit_cut_down(kubeapi)
        run = wait_run(kubeapi, "live-release", timeout=30)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert jobs_state(workflow_of(kubeapi, "live-release"))["build"]["o"] == {"notes": NOTES}
    assert _callbacks_left(kubeapi, workflow) == []


def test_without_a_callback_the_cut_down_result_is_used_and_said(
    kubeapi: KubeApiEmulator,
) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        _start(kubeapi, kubelet, "cut-release")
        _exit_cut_down(kubeapi)
        run = wait_run(kubeapi, "cut-release", timeout=30)
        events = kubeapi.wait_until(
            "events", lambda evs: any(_says_cut_down(e) for e in evs), NAMESPACE, timeout=10
        )
    build = jobs_state(workflow_of(kubeapi, "cut-release"))["build"]
    assert build["c"] == "success" and not build.get("o")
    # publish ran with what there was, and its check of the notes failed
    assert run["status"]["phase"] == "Failed", run["status"]
    (warning,) = [e for e in events if _says_cut_down(e)]
    assert warning["type"] == "Warning"
    assert build["r"].startswith("result_truncated")

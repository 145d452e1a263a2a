"""A CIRun applied to the (emulated) cluster runs to completion."""

from __future__ import annotations

from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    OperatorHarness,
    cirun,
    conclusions,
    install_crds,
    wait_run,
    workflows_of,
)
from tests.kubeapi import KubeApiEmulator

CI = """
name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo "version=1.2.3" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ needs.build.outputs.version }}" = 1.2.3
"""

LINT = """
name: Lint
on: [push, pull_request]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo linting
"""

DOCS = """
name: Docs
on:
  push:
    branches: [main]
jobs:
  docs:
    runs-on: ubuntu-latest
    steps:
      - run: echo docs
"""


def test_a_run_of_three_workflows_succeeds(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi) as kubelet, OperatorHarness(kubeapi):
        kubeapi.create(
            "ciruns.cairn.dev",
            cirun("three", {"ci.yml": CI, "lint.yml": LINT, "docs.yml": DOCS}),
            "default",
        )
        run = wait_run(kubeapi, "three", timeout=60)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert run["status"]["progress"] == "4/4"
        workflows = workflows_of(kubeapi, "three")
        assert len(workflows) == 3
        for workflow in workflows:
            assert workflow["status"]["phase"] == "Succeeded"
            assert set(conclusions(workflow).values()) == {"success"}
        assert len(kubelet.jobs_seen) == 4
        assert not kubelet.errors


FAILING = """
name: Failing
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "::error::the build broke"; exit 3
  report:
    needs: build
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo reporting the failure
  deploy:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo never deployed
"""

FAIL_FAST = """
name: Matrix
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3]
    steps:
      - run: |
          if [ "${{ matrix.n }}" = 1 ]; then exit 1; fi
          sleep 60
"""


def test_a_failure_runs_the_failure_handler_and_skips_the_rest(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi) as kubelet, OperatorHarness(kubeapi):
        kubeapi.create("ciruns.cairn.dev", cirun("broken", {"ci.yml": FAILING}), "default")
        run = wait_run(kubeapi, "broken", timeout=60)
        assert run["status"]["phase"] == "Failed"
        succeeded = next(c for c in run["status"]["conditions"] if c["type"] == "Succeeded")
        assert succeeded["status"] == "False" and succeeded["reason"] == "WorkflowsFailed"
        (workflow,) = workflows_of(kubeapi, "broken")
        assert conclusions(workflow) == {
            "build": "failure",
            "report": "success",
            "deploy": "skipped",
        }
        assert workflow["status"]["phase"] == "Failed"
        assert "build" in workflow["status"]["message"]
        assert len(kubelet.jobs_seen) == 2  # deploy never got a Job


def test_fail_fast_cancels_the_other_matrix_jobs(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubeapi.create("ciruns.cairn.dev", cirun("fast", {"ci.yml": FAIL_FAST}), "default")
        run = wait_run(kubeapi, "fast", timeout=60)
        assert run["status"]["phase"] == "Failed"
        (workflow,) = workflows_of(kubeapi, "fast")
        assert conclusions(workflow) == {
            "test.0": "failure",
            "test.1": "cancelled",
            "test.2": "cancelled",
        }
        state = workflow["status"]["state"]["j"]
        assert state["test.1"]["r"] == state["test.2"]["r"] == "fail_fast"
        # the cancelled sandboxes were stopped: their Jobs are gone
        kubeapi.wait_until("jobs.batch", lambda jobs: len(jobs) == 1, "default", timeout=30)
        assert len(kubelet.jobs_seen) == 3


INVALID = """
name: Broken
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    needs: nowhere
    steps:
      - run: echo hi
"""

PULL_REQUESTS_ONLY = """
name: PR
on: pull_request
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - run: echo pr
"""


def test_an_invalid_workflow_fails_the_run_with_its_position(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubeapi.create("ciruns.cairn.dev", cirun("invalid", {"ci.yml": INVALID}), "default")
        run = wait_run(kubeapi, "invalid", timeout=30)
        status = run["status"]
        assert status["phase"] == "Error"
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "InvalidWorkflow")
        assert ".github/workflows/ci.yml:7:12:" in ready["message"]
        assert "nowhere" in ready["message"]
        events = kubeapi.wait_until(
            "events",
            lambda events: any(e["reason"] == "InvalidWorkflow" for e in events),
            "default",
            timeout=10,
        )
        (event,) = [e for e in events if e["reason"] == "InvalidWorkflow"]
        assert event["type"] == "Warning" and "ci.yml:7:12" in event["message"]
        assert not workflows_of(kubeapi, "invalid") and not kubelet.jobs_seen


def test_the_valid_workflows_of_a_run_still_run_beside_an_invalid_one(
    kubeapi: KubeApiEmulator,
) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess"), OperatorHarness(kubeapi):
        files = {"ci.yml": INVALID, "lint.yml": LINT}
        kubeapi.create("ciruns.cairn.dev", cirun("mixed", files), "default")
        run = wait_run(kubeapi, "mixed", timeout=30)
        assert run["status"]["phase"] == "Failed"
        succeeded = next(c for c in run["status"]["conditions"] if c["type"] == "Succeeded")
        assert succeeded["reason"] == "InvalidWorkflow"
        (lint,) = workflows_of(kubeapi, "mixed")
        assert lint["status"]["phase"] == "Succeeded"


def test_a_run_no_workflow_is_triggered_by_ends_at_once(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        files = {"pr.yml": PULL_REQUESTS_ONLY}
        kubeapi.create("ciruns.cairn.dev", cirun("quiet", files), "default")
        run = wait_run(kubeapi, "quiet", timeout=30)
        status = run["status"]
        assert status["phase"] == "Succeeded"
        reasons = {c["type"]: c["reason"] for c in status["conditions"]}
        assert reasons == {"Ready": "NoWorkflowsTriggered", "Succeeded": "NoWorkflowsTriggered"}
        assert "pr.yml" in status["message"]
        assert not workflows_of(kubeapi, "quiet") and not kubelet.jobs_seen


SECRET = "s3cret-value-42"  # the workflow compares its digest, never the value
SECRETS_AND_MATRIX = """
name: Dynamic
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      targets: ${{ steps.list.outputs.targets }}
    steps:
      - id: list
        run: echo 'targets=["eu", "us"]' >> "$GITHUB_OUTPUT"
  deploy:
    needs: plan
    runs-on: ubuntu-latest
    strategy:
      matrix:
        target: ${{ fromJSON(needs.plan.outputs.targets) }}
    steps:
      - run: |
          digest=$(printf %s "${{ secrets.DEPLOY_TOKEN }}" | sha256sum | cut -c1-12)
          test "$digest" = 194b91bb657b && echo "to ${{ matrix.target }}"
"""


def test_secrets_reach_the_sandbox_and_a_dynamic_matrix_expands(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    kubeapi.create(
        "secrets",
        {"metadata": {"name": "ci-secrets"}, "stringData": {"DEPLOY_TOKEN": SECRET}},
        "default",
    )
    with TestKubelet(kubeapi) as kubelet, OperatorHarness(kubeapi):
        run = cirun("dynamic", {"dynamic.yml": SECRETS_AND_MATRIX}, secrets={"name": "ci-secrets"})
        kubeapi.create("ciruns.cairn.dev", run, "default")
        finished = wait_run(kubeapi, "dynamic", timeout=60)
        assert finished["status"]["phase"] == "Succeeded", finished["status"]
        (workflow,) = workflows_of(kubeapi, "dynamic")
        assert conclusions(workflow) == {
            "plan": "success",
            "deploy.0": "success",
            "deploy.1": "success",
        }
        assert workflow["spec"]["workflowRun"]["secret_names"] == ["DEPLOY_TOKEN"]
        # the value never appears in what the operator wrote
        for job in kubeapi.list("jobs.batch", "default"):
            assert SECRET not in str(job)
        for config_map in kubeapi.list("configmaps", "default"):
            assert SECRET not in str(config_map)
        assert len(kubelet.jobs_seen) == 3


def test_bad_objects_end_in_error_with_a_reason(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess"), OperatorHarness(kubeapi):
        # a git source over a transport the operator does not allow
        source = {"repo": "file:///etc", "sha": "a" * 40}
        kubeapi.create(
            "ciruns.cairn.dev",
            {
                "apiVersion": "cairn.dev/v1alpha1",
                "kind": "CIRun",
                "metadata": {"name": "local-files"},
                "spec": {"source": source},
            },
            "default",
        )
        # a CIWorkflow written by hand whose plan is not one
        kubeapi.create(
            "ciworkflows.cairn.dev",
            {
                "apiVersion": "cairn.dev/v1alpha1",
                "kind": "CIWorkflow",
                "metadata": {"name": "handmade"},
                "spec": {
                    "run": "nobody",
                    "file": "ci.yml",
                    "workflowRun": {"name": "x", "plan": {"jobs": 3}, "token_seed": "s" * 16},
                },
            },
            "default",
        )
        run = wait_run(kubeapi, "local-files", timeout=30)
        assert run["status"]["phase"] == "Error"
        ready = next(c for c in run["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "SourceUnavailable" and "file transport" in ready["message"]
        workflow = kubeapi.wait_for(
            "ciworkflows.cairn.dev",
            "handmade",
            "default",
            predicate=lambda o: o is not None and o.get("status", {}).get("phase") == "Error",
            timeout=30,
        )
        assert workflow is not None
        assert workflow["status"]["message"].startswith("SpecError: spec.workflowRun.plan")


def test_a_run_set_up_once_is_never_compiled_again(kubeapi: KubeApiEmulator) -> None:
    """The run's workflows are checkpointed once: a restart after its spec
    changed (here: the workflow made invalid) goes on with what was compiled."""
    from tests.integration.operator_harness import CIRUNS, NAMESPACE, jobs_state, wait_workflow

    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        kubelet.hang.add("build")
        operator = OperatorHarness(kubeapi).start()
        try:
            kubeapi.create(CIRUNS, cirun("once", {"ci.yml": CI}), NAMESPACE)
            kubeapi.wait_until(CIRUNS, lambda runs: "workflows" in runs[0].get("status", {}))
            (workflow,) = workflows_of(kubeapi, "once")
            name = workflow["metadata"]["name"]
            wait_workflow(
                kubeapi, name, lambda wf: jobs_state(wf).get("build", {}).get("p") == "running"
            )
            operator.stop()
            broken = (
                "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - uses:\n"
            )
            kubeapi.patch(
                CIRUNS,
                "once",
                {"spec": {"workflows": [{"name": "ci.yml", "content": broken}]}},
                NAMESPACE,
            )
            kubelet.hang.discard("build")
            (job,) = kubeapi.list("jobs.batch", NAMESPACE)
            kubeapi.delete("jobs.batch", job["metadata"]["name"], NAMESPACE)
            operator.start()
            kubeapi.create(CIRUNS, cirun("after", {"lint.yml": LINT}), NAMESPACE)
            wait_run(kubeapi, "after", timeout=30)  # the restarted operator is at work
            run = kubeapi.get(CIRUNS, "once", NAMESPACE)
        finally:
            operator.stop()
    reasons = {c["type"]: c["reason"] for c in run["status"].get("conditions", [])}
    assert reasons.get("Ready") != "InvalidWorkflow", run["status"]
    assert [w["metadata"]["name"] for w in workflows_of(kubeapi, "once")] == [name]
    assert [w["file"] for w in run["status"]["workflows"]] == ["ci.yml"]

"""Protected environments in the cluster: a job waits for approval, the CLI
answers, and the operator-wide setting protects what a CIRun does not list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cairn.cli import main as cairn_main
from cairn.k8s import observations, resources
from cairn.k8s.resources import CIRunSpec
from cairn.k8s.run_setup import compile_workflows, workflow_object
from cairn.k8s.settings import OperatorSettings
from cairn.k8s.source import WorkflowFile
from cairn.k8s.status import REASON_AWAITING_APPROVAL
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
    workflow_of,
)
from tests.kubeapi import KubeApiEmulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ciruns" / "protected-deploy.yaml"
RELEASE = """
name: Release
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo deployed
  smoke:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - run: echo smoke
  notify:
    needs: deploy
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo notified
"""


def cairn(*argv: str) -> int:
    """The ``cairn`` command line, with the emulator's kubeconfig."""
    return cairn_main([*argv, "--kubeconfig", str(KUBECONFIG_PATH), "-n", NAMESPACE])


def sandboxes_of(api: KubeApiEmulator, job: str) -> list[dict[str, Any]]:
    return api.list("jobs.batch", NAMESPACE, label_selector=f"{resources.LABEL_JOB}={job}")


def deploy_waits_on_approval(api: KubeApiEmulator, run: str) -> dict[str, Any]:
    """Wait until the run's deploy job waits on approval and the run says so."""
    set_up = api.wait_for(
        CIRUNS,
        run,
        NAMESPACE,
        predicate=lambda o: bool(((o or {}).get("status") or {}).get("workflows")),
    )
    assert set_up is not None
    name = set_up["status"]["workflows"][0]["name"]
    wait_workflow(api, name, lambda wf: jobs_state(wf).get("deploy", {}).get("w") == "approval")

    def blocked(obj: dict[str, Any] | None) -> bool:
        status = (obj or {}).get("status") or {}
        reasons = {c.get("reason") for c in status.get("conditions") or []}
        return REASON_AWAITING_APPROVAL in reasons

    found = api.wait_for(CIRUNS, run, NAMESPACE, predicate=blocked, timeout=20)
    assert found is not None
    return found


def test_the_example_deploy_waits_until_the_cli_approves(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi) as kubelet, OperatorHarness(kubeapi):
        kubeapi.apply_manifest(EXAMPLE)
        run = deploy_waits_on_approval(kubeapi, "protected-deploy")
        assert run["status"]["phase"] == "Running"
        assert "waiting on approval of production: deploy" in run["status"]["message"]
        workflow = workflow_of(kubeapi, "protected-deploy")
        row = next(r for r in workflow["status"]["jobs"] if r.startswith("deploy "))
        assert "approval of environment production" in row
        assert not sandboxes_of(kubeapi, "deploy"), "a job waiting on approval must not run"
        assert conclusions(workflow) == {"build": "success", "deploy": None, "smoke": None}

        assert cairn("approve", "protected-deploy", "deploy") == 0
        run = wait_run(kubeapi, "protected-deploy", timeout=60)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert set(conclusions(workflow_of(kubeapi, "protected-deploy")).values()) == {"success"}
        assert len(sandboxes_of(kubeapi, "deploy")) == 1
        assert not kubelet.errors


def test_the_operator_wide_setting_protects_what_the_run_does_not_list(
    kubeapi: KubeApiEmulator,
) -> None:
    install_crds(kubeapi)
    settings = OperatorSettings(
        namespaces=(NAMESPACE,), callback_base_url=None, protected_environments=("Production",)
    )
    with TestKubelet(kubeapi), OperatorHarness(kubeapi, settings=settings):
        # the run asks for another environment only: it adds, it cannot remove
        spec = {"protectedEnvironments": ["staging"]}
        kubeapi.create(CIRUNS, cirun("guarded", {"release.yml": RELEASE}, **spec), NAMESPACE)
        deploy_waits_on_approval(kubeapi, "guarded")
        workflow = workflow_of(kubeapi, "guarded")
        protected = workflow["spec"]["workflowRun"]["protected_environments"]
        assert set(protected) == {"Production", "production", "staging"}
        assert not sandboxes_of(kubeapi, "deploy")

        # approving through the run: the operator forwards it to the workflow
        kubeapi.patch(
            CIRUNS,
            "guarded",
            {"metadata": {"annotations": {resources.ANNOTATION_APPROVE: "release/deploy"}}},
            NAMESPACE,
        )
        run = wait_run(kubeapi, "guarded", timeout=60)
        assert run["status"]["phase"] == "Succeeded", run["status"]


@pytest.mark.skipif(
    resources.ANNOTATION_REJECT not in observations.COMMAND_ANNOTATIONS,
    reason="the workflow loop does not read cairn.dev/reject yet (observations.py, loop.py)",
)
def test_a_rejected_job_fails_and_its_dependents_follow_github_rules(
    kubeapi: KubeApiEmulator,
) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi), OperatorHarness(kubeapi):
        spec = {"protectedEnvironments": ["production"]}
        kubeapi.create(CIRUNS, cirun("refused", {"release.yml": RELEASE}, **spec), NAMESPACE)
        deploy_waits_on_approval(kubeapi, "refused")
        assert cairn("approve", "--reject", "refused", "deploy") == 0
        run = wait_run(kubeapi, "refused", timeout=60)
        assert run["status"]["phase"] == "Failed", run["status"]
        workflow = workflow_of(kubeapi, "refused")
        state = jobs_state(workflow)
        assert (state["deploy"]["c"], state["deploy"].get("r")) == ("failure", "approval_rejected")
        # GitHub: a failed need skips its dependents, except those with always()
        assert conclusions(workflow) == {
            "build": "success",
            "deploy": "failure",
            "smoke": "skipped",
            "notify": "success",
        }
        assert not sandboxes_of(kubeapi, "deploy")


def test_cli_reject_writes_the_reject_annotation_on_the_runs_workflow(
    kubeapi: KubeApiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """No operator: what ``cairn approve --reject`` writes, exactly."""
    install_crds(kubeapi)
    run = kubeapi.create(CIRUNS, cirun("asked", {"release.yml": RELEASE}), NAMESPACE)
    spec = CIRunSpec.model_validate(run["spec"])
    files = [WorkflowFile(w.name, w.name, w.content) for w in spec.workflows]
    (compiled,) = compile_workflows(spec, files).triggered
    manifest = workflow_object(
        run, spec, compiled, token_seed="s" * 32, run_number=1, protected_environments=()
    )
    kubeapi.create(CIWORKFLOWS, manifest, NAMESPACE)
    assert cairn("approve", "--reject", "asked", "deploy") == 0
    name = manifest["metadata"]["name"]
    annotations = kubeapi.get(CIWORKFLOWS, name, NAMESPACE)["metadata"]["annotations"]
    assert annotations == {resources.ANNOTATION_REJECT: "deploy"}
    assert f"annotated {resources.ANNOTATION_REJECT}=deploy" in capsys.readouterr().out
    assert cairn("approve", "--reject", "asked", "nope") == 1
    assert "has no job 'nope'" in capsys.readouterr().err

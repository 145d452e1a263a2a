"""A real cluster runs CIRuns to their end: success, failure, cancellation."""

from __future__ import annotations

from typing import Any, cast

import yaml

from cairn.k8s import names, resources
from tests.e2e.conftest import ROOT, RUN_TIMEOUT, Cluster

TERMINAL = {"Succeeded", "Failed", "Cancelled", "Error"}


def load_example(name: str) -> dict[str, Any]:
    run: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "ciruns" / name).read_text())
    return run


def create_run(cluster: Cluster, namespace: str, run: dict[str, Any]) -> str:
    created = cast(
        dict[str, Any],
        cluster.custom.create_namespaced_custom_object(
            resources.GROUP, resources.VERSION, namespace, resources.CIRUN_PLURAL, run
        ),
    )
    name: str = created["metadata"]["name"]
    return name


def describe(cluster: Cluster, namespace: str) -> str:
    """What `kubectl describe` would tell: workflows, jobs and recent events."""
    lines = []
    workflows = cast(
        dict[str, Any],
        cluster.custom.list_namespaced_custom_object(
            resources.GROUP, resources.VERSION, namespace, resources.CIWORKFLOW_PLURAL
        ),
    )
    for wf in workflows["items"]:
        status = wf.get("status") or {}
        lines.append(
            f"CIWorkflow {wf['metadata']['name']}: {status.get('phase')} {status.get('message')}"
        )
        for job_id, job in ((status.get("state") or {}).get("j") or {}).items():
            lines.append(f"  {job_id}: {job}")
    for job in cluster.batch.list_namespaced_job(namespace).items:
        assert job.metadata is not None and job.status is not None
        lines.append(f"Job {job.metadata.name}: {job.status.conditions}")
    events = cluster.core.list_namespaced_event(namespace).items
    for event in sorted(events, key=lambda e: str(e.last_timestamp or e.event_time))[-20:]:
        target = f"{event.involved_object.kind}/{event.involved_object.name}"
        lines.append(f"Event {target}: {event.reason}: {event.message}")
    return "\n".join(lines)


def wait_for_run(
    cluster: Cluster, namespace: str, name: str, phases: set[str], timeout: float = RUN_TIMEOUT
) -> dict[str, Any]:
    return cluster.wait_for(
        cluster.custom.list_namespaced_custom_object,
        group=resources.GROUP,
        version=resources.VERSION,
        namespace=namespace,
        plural=resources.CIRUN_PLURAL,
        name=name,
        predicate=lambda o: (o.get("status") or {}).get("phase") in phases,
        timeout=timeout,
        what=f"CIRun {namespace}/{name} to reach {sorted(phases)}",
        describe=lambda: describe(cluster, namespace),
    )


def workflow_states(cluster: Cluster, namespace: str, run: str) -> dict[str, dict[str, Any]]:
    """Job instance id -> engine state, over the run's CIWorkflows."""
    workflows = cast(
        dict[str, Any],
        cluster.custom.list_namespaced_custom_object(
            resources.GROUP,
            resources.VERSION,
            namespace,
            resources.CIWORKFLOW_PLURAL,
            label_selector=f"{resources.LABEL_RUN}={run}",
        ),
    )
    jobs: dict[str, dict[str, Any]] = {}
    for wf in workflows["items"]:
        owners = wf["metadata"].get("ownerReferences") or []
        assert any(o["kind"] == "CIRun" and o["name"] == run for o in owners)
        jobs.update(((wf.get("status") or {}).get("state") or {}).get("j") or {})
    return jobs


def test_hello_runs_to_success_in_hardened_pods(deployed: Cluster, namespace: str) -> None:
    name = create_run(deployed, namespace, load_example("hello.yaml"))
    run = wait_for_run(deployed, namespace, name, TERMINAL)
    assert run["status"]["phase"] == "Succeeded", describe(deployed, namespace)
    assert run["status"]["progress"] == "4/4"
    succeeded = [c for c in run["status"]["conditions"] if c["type"] == "Succeeded"]
    assert succeeded and succeeded[0]["status"] == "True"
    jobs = workflow_states(deployed, namespace, name)
    assert sorted(jobs) == ["build.1", "build.2", "greet", "report"]
    assert all(job.get("c") == "success" for job in jobs.values()), jobs
    assert jobs["greet"].get("o", {}).get("greeting", "").startswith("hello from")
    sandboxes = deployed.batch.list_namespaced_job(
        namespace, label_selector=f"{resources.LABEL_RUN}={name}"
    ).items
    assert len(sandboxes) == 4  # one Job per attempt, never a second one
    for job in sandboxes:
        assert job.spec is not None and job.spec.template.spec is not None
        pod = job.spec.template.spec
        assert job.spec.backoff_limit == 0
        assert pod.automount_service_account_token is False
        assert pod.security_context is not None and pod.security_context.run_as_non_root is True


def test_a_failing_run_ends_failed_with_failure_jobs_run(deployed: Cluster, namespace: str) -> None:
    name = create_run(deployed, namespace, load_example("failing.yaml"))
    run = wait_for_run(deployed, namespace, name, TERMINAL)
    assert run["status"]["phase"] == "Failed", describe(deployed, namespace)
    succeeded = [c for c in run["status"]["conditions"] if c["type"] == "Succeeded"]
    assert succeeded and succeeded[0]["status"] == "False"
    jobs = workflow_states(deployed, namespace, name)
    assert jobs["test"]["c"] == "failure"
    assert jobs["deploy"]["c"] == "skipped"
    assert jobs["cleanup"]["c"] == "success"


SLOW = """
name: slow
on: push
jobs:
  wait:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 900
  cleanup:
    needs: wait
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "cleanup after ${{ needs.wait.result }}"
"""


def test_cancelling_a_run_stops_its_jobs(deployed: Cluster, namespace: str) -> None:
    run = {
        "apiVersion": resources.API_VERSION,
        "kind": "CIRun",
        "metadata": {"name": "slow"},
        "spec": {"workflows": [{"name": "slow.yml", "content": SLOW}]},
    }
    name = create_run(deployed, namespace, run)
    deployed.wait_for(
        deployed.batch.list_namespaced_job,
        namespace=namespace,
        name=_first_attempt_job(name, "slow.yml", "wait"),
        predicate=lambda o: (o.get("status") or {}).get("active", 0) >= 1,
        timeout=RUN_TIMEOUT,
        what="the sandbox of job 'wait' to be running",
        describe=lambda: describe(deployed, namespace),
    )
    deployed.custom.patch_namespaced_custom_object(
        resources.GROUP,
        resources.VERSION,
        namespace,
        resources.CIRUN_PLURAL,
        name,
        {"spec": {"cancel": True}},
    )
    finished = wait_for_run(deployed, namespace, name, TERMINAL)
    assert finished["status"]["phase"] == "Cancelled", describe(deployed, namespace)
    jobs = workflow_states(deployed, namespace, name)
    assert jobs["wait"]["c"] == "cancelled"
    # GitHub runs always() jobs of a cancelled run.
    assert jobs["cleanup"]["c"] == "success"
    still_running = [
        j.metadata.name if j.metadata is not None else "?"
        for j in deployed.batch.list_namespaced_job(
            namespace, label_selector=f"{resources.LABEL_RUN}={name},{resources.LABEL_JOB}=wait"
        ).items
        if j.status is not None and (j.status.active or 0) > 0
    ]
    assert still_running == []


def _first_attempt_job(run: str, workflow_file: str, job_id: str) -> str:
    """The Job of a job's first attempt, by the operator's deterministic naming."""
    return names.job_name(names.workflow_name(run, workflow_file), job_id, 1)

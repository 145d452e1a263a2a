"""Requests during and after a run: cancel, retry, re-run, deadlines, lost Jobs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    CIRUNS,
    CIWORKFLOWS,
    NAMESPACE,
    OperatorHarness,
    cirun,
    conclusions,
    events_about,
    install_crds,
    jobs_state,
    wait_run,
    wait_workflow,
    workflow_of,
)
from tests.kubeapi import KubeApiEmulator


def _running(instance_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda wf: jobs_state(wf).get(instance_id, {}).get("p") == "running"


def _annotate(api: KubeApiEmulator, resource: str, name: str, key: str, value: str) -> None:
    api.patch(resource, name, {"metadata": {"annotations": {key: value}}}, NAMESPACE)


def _wait_for_file(path: Path) -> str:
    return f'while [ ! -e "{path}" ]; do sleep 0.05; done'


CANCELLABLE = """
name: Long
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 120
  after:
    needs: slow
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  cleanup:
    needs: slow
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo cleaning up
"""


def test_cancelling_a_run_mid_way_stops_its_jobs_and_runs_always_jobs(
    kubeapi: KubeApiEmulator,
) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess"), OperatorHarness(kubeapi):
        kubeapi.create(CIRUNS, cirun("stop-me", {"long.yml": CANCELLABLE}), NAMESPACE)
        workflow = workflow_of_when_ready(kubeapi, "stop-me")
        wait_workflow(kubeapi, workflow, _running("slow"))
        _annotate(kubeapi, CIRUNS, "stop-me", "cairn.dev/cancel", "superseded by a newer push")
        run = wait_run(kubeapi, "stop-me", timeout=30)
        assert run["status"]["phase"] == "Cancelled"
        final = workflow_of(kubeapi, "stop-me")
        assert conclusions(final) == {
            "slow": "cancelled",
            "after": "cancelled",
            "cleanup": "success",
        }
        assert final["status"]["state"]["x"] == "superseded by a newer push"
        # the request annotations were consumed, on the run and on the workflow
        assert "cairn.dev/cancel" not in (run["metadata"].get("annotations") or {})
        assert "cairn.dev/cancel" not in (final["metadata"].get("annotations") or {})
        messages = " ".join(e["message"] for e in events_about(kubeapi, workflow))
        assert "cancel requested: superseded by a newer push" in messages


def workflow_of_when_ready(api: KubeApiEmulator, run: str) -> str:
    found = api.wait_until(
        CIWORKFLOWS,
        lambda items: len(items) == 1,
        NAMESPACE,
        label_selector=f"cairn.dev/run={run}",
        timeout=30,
    )
    return str(found[0]["metadata"]["name"])


def test_spec_cancel_cancels_the_run(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess"), OperatorHarness(kubeapi):
        kubeapi.create(CIRUNS, cirun("spec-cancel", {"long.yml": CANCELLABLE}), NAMESPACE)
        workflow = workflow_of_when_ready(kubeapi, "spec-cancel")
        wait_workflow(kubeapi, workflow, _running("slow"))
        kubeapi.patch(CIRUNS, "spec-cancel", {"spec": {"cancel": True}}, NAMESPACE)
        run = wait_run(kubeapi, "spec-cancel", timeout=30)
        assert run["status"]["phase"] == "Cancelled"
        assert workflow_of(kubeapi, "spec-cancel")["status"]["state"]["x"] == "spec.cancel"


def test_retrying_a_finished_job_while_the_run_goes_on(
    kubeapi: KubeApiEmulator, tmp_path: Path
) -> None:
    marker, release = tmp_path / "flaky-ran", tmp_path / "release"
    workflow_yaml = f"""
name: Retry
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
      - run: {_wait_for_file(release)}
"""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubeapi.create(CIRUNS, cirun("retry", {"retry.yml": workflow_yaml}), NAMESPACE)
        workflow = workflow_of_when_ready(kubeapi, "retry")
        wait_workflow(
            kubeapi, workflow, lambda wf: jobs_state(wf).get("flaky", {}).get("c") == "failure"
        )
        _annotate(kubeapi, CIWORKFLOWS, workflow, "cairn.dev/retry", "flaky")
        retried = wait_workflow(
            kubeapi,
            workflow,
            lambda wf: (
                jobs_state(wf).get("flaky", {}).get("a") == 2
                and jobs_state(wf)["flaky"].get("c") == "success"
            ),
        )
        assert jobs_state(retried)["slow"]["p"] in ("queued", "running")
        release.touch()
        run = wait_run(kubeapi, "retry", timeout=30)
        assert run["status"]["phase"] == "Succeeded"
        assert sorted(kubelet.jobs_seen) == sorted(set(kubelet.jobs_seen))
        assert len(kubelet.jobs_seen) == 3  # flaky twice, slow once
        final = workflow_of(kubeapi, "retry")
        assert "consumedRequests" not in final["status"]
        assert "cairn.dev/retry" not in (final["metadata"].get("annotations") or {})


def test_rerunning_the_failed_jobs_of_a_finished_run(
    kubeapi: KubeApiEmulator, tmp_path: Path
) -> None:
    marker = tmp_path / "failed-once"
    workflow_yaml = f"""
name: Rerun
on: push
jobs:
  ok:
    runs-on: ubuntu-latest
    steps:
      - run: echo fine
  flaky:
    runs-on: ubuntu-latest
    steps:
      - run: |
          if [ -e "{marker}" ]; then exit 0; fi
          touch "{marker}"; exit 1
  after:
    needs: flaky
    runs-on: ubuntu-latest
    steps:
      - run: echo after
"""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubeapi.create(CIRUNS, cirun("rerun", {"rerun.yml": workflow_yaml}), NAMESPACE)
        run = wait_run(kubeapi, "rerun", timeout=30)
        assert run["status"]["phase"] == "Failed"
        stamp = datetime.now(UTC).isoformat()
        _annotate(kubeapi, CIRUNS, "rerun", "cairn.dev/rerun-failed", stamp)
        run = wait_run(kubeapi, "rerun", "Succeeded", timeout=30)
        final = workflow_of(kubeapi, "rerun")
        jobs = jobs_state(final)
        assert jobs["ok"].get("a", 1) == 1
        assert jobs["flaky"]["a"] == 2 and jobs["after"]["a"] == 2
        assert final["status"]["state"]["ra"] == 2
        assert len(kubelet.jobs_seen) == 4  # ok once, flaky twice, after once


def test_a_job_that_never_reports_times_out_at_its_deadline(kubeapi: KubeApiEmulator) -> None:
    workflow_yaml = """
name: Stuck
on: push
jobs:
  stuck:
    runs-on: ubuntu-latest
    timeout-minutes: 0.04
    steps:
      - run: echo this pod will hang
"""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubelet.hang.add("stuck")
        kubeapi.create(CIRUNS, cirun("stuck", {"stuck.yml": workflow_yaml}), NAMESPACE)
        run = wait_run(kubeapi, "stuck", timeout=30)
        assert run["status"]["phase"] == "Failed"
        job = jobs_state(workflow_of(kubeapi, "stuck"))["stuck"]
        assert (job["c"], job["r"]) == ("failure", "timed_out")
        # the engine gave up at its deadline: 2.4 s after the pod started
        took = datetime.fromisoformat(job["e"]) - datetime.fromisoformat(job["s"])
        assert 2.0 <= took.total_seconds() < 6.0
        # and the hung sandbox was stopped
        kubeapi.wait_until("jobs.batch", lambda jobs: not jobs, NAMESPACE, timeout=30)


def test_a_job_deleted_from_under_the_operator_fails_with_a_reason(
    kubeapi: KubeApiEmulator,
) -> None:
    workflow_yaml = """
name: Victim
on: push
jobs:
  victim:
    runs-on: ubuntu-latest
    steps:
      - run: echo hanging until deleted
"""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubelet.hang.add("victim")
        kubelet.delete_job.add("victim")
        kubeapi.create(CIRUNS, cirun("victim", {"v.yml": workflow_yaml}), NAMESPACE)
        run = wait_run(kubeapi, "victim", timeout=30)
        assert run["status"]["phase"] == "Failed"
        job = jobs_state(workflow_of(kubeapi, "victim"))["victim"]
        assert job["c"] == "failure" and job["r"].startswith("job_deleted:")


def test_a_job_deleted_while_the_operator_is_down_is_noticed_on_resume(
    kubeapi: KubeApiEmulator,
) -> None:
    workflow_yaml = """
name: Victim
on: push
jobs:
  victim:
    runs-on: ubuntu-latest
    steps:
      - run: echo hanging
"""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        kubelet.hang.add("victim")
        operator = OperatorHarness(kubeapi).start()
        try:
            kubeapi.create(CIRUNS, cirun("down", {"v.yml": workflow_yaml}), NAMESPACE)
            workflow = workflow_of_when_ready(kubeapi, "down")
            wait_workflow(kubeapi, workflow, _running("victim"))
            operator.stop()
            (job,) = kubeapi.list("jobs.batch", NAMESPACE)
            kubeapi.delete("jobs.batch", job["metadata"]["name"], NAMESPACE)
            kubeapi.wait_until("jobs.batch", lambda jobs: not jobs, NAMESPACE, timeout=30)
            operator.start()
            run = wait_run(kubeapi, "down", timeout=30)
        finally:
            operator.stop()
        assert run["status"]["phase"] == "Failed"
        state = jobs_state(workflow_of(kubeapi, "down"))["victim"]
        assert state["c"] == "failure" and "deleted while the operator" in state["r"]


STUCK = """
name: Stuck
on: push
jobs:
  stuck:
    runs-on: ubuntu-latest
    steps:
      - run: echo this pod never reports by itself
"""


def test_a_callback_annotation_completes_a_job_and_is_consumed(kubeapi: KubeApiEmulator) -> None:
    """What the webhook receiver writes for a sandbox's callback reaches the engine."""
    from cairn.engine import JobResult, callback_token
    from cairn.k8s import tokens

    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubelet.hang.add("stuck")
        kubeapi.create(CIRUNS, cirun("called-back", {"stuck.yml": STUCK}), NAMESPACE)
        name = workflow_of_when_ready(kubeapi, "called-back")
        workflow = wait_workflow(kubeapi, name, _running("stuck"))
        seed = workflow["spec"]["workflowRun"]["token_seed"]
        key = tokens.callback_key(NAMESPACE, name)
        stale = tokens.public_token(key, callback_token(seed, "stuck", 7))
        result = JobResult(
            instance_id="stuck", attempt=1, conclusion="success", outputs={"answer": "42"}
        )
        live = tokens.public_token(key, callback_token(seed, "stuck", 1))
        kubeapi.patch(
            CIWORKFLOWS,
            name,
            {
                "metadata": {
                    "annotations": {
                        f"callback.cairn.dev/{stale}": result.model_copy(
                            update={"attempt": 7}
                        ).model_dump_json(),
                        f"callback.cairn.dev/{live}": result.model_dump_json(),
                    }
                }
            },
            NAMESPACE,
        )
        run = wait_run(kubeapi, "called-back", timeout=30)
        assert run["status"]["phase"] == "Succeeded"
        final = workflow_of(kubeapi, "called-back")
        assert jobs_state(final)["stuck"]["o"] == {"answer": "42"}
        annotations = final["metadata"].get("annotations") or {}
        assert not [a for a in annotations if a.startswith("callback.cairn.dev/")]
        events = kubeapi.wait_until(
            "events",
            lambda evs: any("ignored a callback for stuck attempt 7" in e["message"] for e in evs),
            NAMESPACE,
            timeout=10,
        )
        assert any(e["type"] == "Warning" for e in events)


DEPLOY = """
name: Deploy
on: push
concurrency:
  group: deploy-production
  cancel-in-progress: true
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: |
          if [ "${{ github.event.slow }}" = "true" ]; then sleep 60; fi
          echo deployed
"""


def test_a_newer_run_cancels_the_one_in_progress_in_its_concurrency_group(
    kubeapi: KubeApiEmulator,
) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess"), OperatorHarness(kubeapi):
        first = cirun("deploy-1", {"deploy.yml": DEPLOY})
        first["spec"]["event"]["payload"]["slow"] = True
        kubeapi.create(CIRUNS, first, NAMESPACE)
        name = workflow_of_when_ready(kubeapi, "deploy-1")
        wait_workflow(kubeapi, name, _running("deploy"))
        kubeapi.create(CIRUNS, cirun("deploy-2", {"deploy.yml": DEPLOY}), NAMESPACE)
        second = wait_run(kubeapi, "deploy-2", timeout=30)
        first_run = wait_run(kubeapi, "deploy-1", timeout=30)
        assert first_run["status"]["phase"] == "Cancelled"
        assert workflow_of(kubeapi, "deploy-1")["status"]["state"]["x"] == (
            "concurrency_cancel_in_progress"
        )
        assert second["status"]["phase"] == "Succeeded"


def test_a_deadline_that_passed_while_the_operator_was_down(kubeapi: KubeApiEmulator) -> None:
    """The one timer is rebuilt from the checkpoint: a restart after the deadline acts at once."""
    workflow_yaml = """
name: Stuck
on: push
jobs:
  stuck:
    runs-on: ubuntu-latest
    timeout-minutes: 0.02
    steps:
      - run: echo hanging
"""
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        kubelet.hang.add("stuck")
        operator = OperatorHarness(kubeapi).start()
        try:
            kubeapi.create(CIRUNS, cirun("late", {"stuck.yml": workflow_yaml}), NAMESPACE)
            name = workflow_of_when_ready(kubeapi, "late")
            running = wait_workflow(kubeapi, name, _running("stuck"))
            operator.stop()
            deadline = datetime.fromisoformat(jobs_state(running)["stuck"]["d"])
            # The condition here is the clock itself: no operator runs until the
            # deadline is behind us (an exact instant, not a guessed delay).
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if remaining > 0:
                threading.Event().wait(remaining + 0.05)
            assert datetime.now(UTC) > deadline
            operator.start()
            run = wait_run(kubeapi, "late", timeout=30)
        finally:
            operator.stop()
        job = jobs_state(workflow_of(kubeapi, "late"))["stuck"]
        assert (job["c"], job["r"]) == ("failure", "timed_out")
        assert run["status"]["phase"] == "Failed"

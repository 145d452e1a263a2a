"""The operator killed at many points and restarted: same conclusions, no duplicate Jobs.

A crash hook makes the N-th wake reaching a point hang there; the test then
stops the operator (Kopf cancels the hung wake mid-way, as a dying process
would lose it) and starts a fresh one, which resumes from what the cluster
holds: the checkpoints, the Jobs, their pods.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    CIRUNS,
    CIWORKFLOWS,
    NAMESPACE,
    TERMINAL,
    CrashAt,
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

CHAIN = """
name: Chain
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      artifact: ${{ steps.make.outputs.artifact }}
    steps:
      - id: make
        run: echo "artifact=app-1.tar" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        shard: [1, 2]
    steps:
      - run: test "${{ needs.build.outputs.artifact }}" = app-1.tar
  deploy:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: echo deploying
"""
POINTS = ("before-effects", "after-job-create", "before-checkpoint", "after-checkpoint")
EXPECTED = {"build": "success", "test.0": "success", "test.1": "success", "deploy": "success"}


def _check_no_duplicates(api: KubeApiEmulator, kubelet: TestKubelet) -> None:
    jobs = api.list("jobs.batch", NAMESPACE)
    assert len(jobs) == len(EXPECTED), [j["metadata"]["name"] for j in jobs]
    assert {j["metadata"]["labels"]["cairn.dev/attempt"] for j in jobs} == {"1"}
    assert api.request_count("create", "jobs", status=201) == len(EXPECTED)
    assert len(kubelet.jobs_seen) == len(set(kubelet.jobs_seen)) == len(EXPECTED)


@pytest.mark.parametrize(
    ("point", "count"),
    [
        ("before-effects", 1),
        ("before-effects", 2),
        ("after-job-create", 1),
        ("after-job-create", 3),
        ("before-checkpoint", 1),
        ("before-checkpoint", 3),
        ("after-checkpoint", 2),
        ("after-checkpoint", 4),
        ("run-before-checkpoint", 1),
    ],
)
def test_a_crash_changes_nothing(kubeapi: KubeApiEmulator, point: str, count: int) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        crash = CrashAt(point, count)
        operator = OperatorHarness(kubeapi).start(crash=crash)
        try:
            kubeapi.create(CIRUNS, cirun("crashy", {"chain.yml": CHAIN}), NAMESPACE)
            assert crash.reached.wait(30), f"no wake reached {point} {count} time(s)"
            operator.stop()
            operator.start()
            run = wait_run(kubeapi, "crashy", timeout=30)
        finally:
            operator.stop()
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert conclusions(workflow_of(kubeapi, "crashy")) == EXPECTED
        _check_no_duplicates(kubeapi, kubelet)


def test_crash_after_crash_until_done(kubeapi: KubeApiEmulator) -> None:
    """Crash after crash, at each point in turn: every operator lets one wake
    through the point (the replay of the crashed one) and dies at the next."""
    install_crds(kubeapi)
    something = threading.Event()
    finished = threading.Event()

    def watch_the_run() -> None:
        kubeapi.wait_for(
            CIRUNS,
            "stubborn",
            NAMESPACE,
            predicate=lambda o: o is not None and o.get("status", {}).get("phase") in TERMINAL,
            timeout=60,
        )
        finished.set()
        something.set()

    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        operator = OperatorHarness(kubeapi)
        kubeapi.create(CIRUNS, cirun("stubborn", {"chain.yml": CHAIN}), NAMESPACE)
        watcher = threading.Thread(target=watch_the_run, daemon=True)
        watcher.start()
        restarts = 0
        try:
            while not finished.is_set():
                assert restarts < 20, "the run does not get anywhere"
                something.clear()
                point = POINTS[restarts % len(POINTS)]
                operator.start(crash=CrashAt(point, count=2, signal=something))
                assert something.wait(30), "neither a crash nor the end of the run"
                operator.stop()
                restarts += 1
            operator.start()
            run = wait_run(kubeapi, "stubborn", timeout=30)
        finally:
            operator.stop()
        watcher.join(timeout=5)
        assert restarts >= 3
        assert run["status"]["phase"] == "Succeeded"
        assert conclusions(workflow_of(kubeapi, "stubborn")) == EXPECTED
        _check_no_duplicates(kubeapi, kubelet)


def test_cut_watches_and_repeated_deliveries_change_nothing(
    kubeapi: KubeApiEmulator, tmp_path: Path
) -> None:
    """Mid-run, every watch is cut after the history was compacted (Kopf relists:
    every object arrives again) and each finished pod is written again (its
    result delivered twice): the same conclusions, one Job per attempt."""
    go = tmp_path / "go"
    chain = CHAIN.replace(
        "      - run: echo deploying",
        f'      - run: while [ ! -e "{go}" ]; do sleep 0.05; done',
    )
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess") as kubelet, OperatorHarness(kubeapi):
        kubeapi.create(CIRUNS, cirun("replayed", {"chain.yml": chain}), NAMESPACE)
        kubeapi.wait_until(CIWORKFLOWS, lambda items: bool(items), NAMESPACE, timeout=30)
        name = workflow_of(kubeapi, "replayed")["metadata"]["name"]
        wait_workflow(
            kubeapi, name, lambda wf: jobs_state(wf).get("deploy", {}).get("p") == "running"
        )
        kubeapi.compact()
        assert kubeapi.drop_watches() > 0
        finished = [p for p in kubeapi.list("pods", NAMESPACE) if p["status"]["phase"] != "Running"]
        assert len(finished) == 3
        for pod in finished:
            kubeapi.patch(
                "pods",
                pod["metadata"]["name"],
                {"metadata": {"annotations": {"test.cairn.dev/redelivered": "1"}}},
                NAMESPACE,
            )
        for resource in (CIRUNS, CIWORKFLOWS, "jobs.batch", "pods"):
            kubeapi.wait_for_watches(resource, timeout=20)
        go.touch()
        run = wait_run(kubeapi, "replayed", timeout=30)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    final = workflow_of(kubeapi, "replayed")
    assert conclusions(final) == EXPECTED
    assert jobs_state(final)["build"]["o"] == {"artifact": "app-1.tar"}
    _check_no_duplicates(kubeapi, kubelet)

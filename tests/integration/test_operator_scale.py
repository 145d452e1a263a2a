"""Many runs at once, and one big workflow."""

from __future__ import annotations

from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    CIRUNS,
    NAMESPACE,
    TERMINAL,
    OperatorHarness,
    cirun,
    conclusions,
    install_crds,
    wait_run,
    workflow_of,
)
from tests.kubeapi import KubeApiEmulator

SMALL = """
name: Small
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo build
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo test
"""


def _fan(width: int, name: str) -> str:
    values = ", ".join(str(n) for n in range(width))
    return f"""
  {name}:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [{values}]
    steps:
      - run: "true"
"""


def test_fifty_runs_at_once(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    with (
        TestKubelet(kubeapi, mode="inprocess", max_parallel=8) as kubelet,
        OperatorHarness(kubeapi),
    ):
        for n in range(50):
            kubeapi.create(CIRUNS, cirun(f"run-{n:02d}", {"ci.yml": SMALL}), NAMESPACE)
        kubeapi.wait_until(
            CIRUNS,
            lambda runs: (
                len(runs) == 50
                and all((r.get("status") or {}).get("phase") in TERMINAL for r in runs)
            ),
            NAMESPACE,
            timeout=120,
        )
        for n in range(50):
            run = wait_run(kubeapi, f"run-{n:02d}", timeout=5)
            assert run["status"]["phase"] == "Succeeded", run["status"]
            assert run["status"]["progress"] == "2/2"
        assert len(kubelet.jobs_seen) == len(set(kubelet.jobs_seen)) == 100


def test_a_workflow_of_three_hundred_jobs(kubeapi: KubeApiEmulator) -> None:
    yaml = (
        "name: Wide\non: push\njobs:"
        + _fan(150, "shard")
        + _fan(149, "check").replace("runs-on", "needs: shard\n    runs-on", 1)
        + """
  report:
    needs: check
    runs-on: ubuntu-latest
    steps:
      - run: echo all checked
"""
    )
    install_crds(kubeapi)
    with (
        TestKubelet(kubeapi, mode="inprocess", max_parallel=16) as kubelet,
        OperatorHarness(kubeapi),
    ):
        kubeapi.create(CIRUNS, cirun("wide", {"wide.yml": yaml}), NAMESPACE)
        run = wait_run(kubeapi, "wide", timeout=180)
        assert run["status"]["phase"] == "Succeeded", run["status"].get("message")
        assert run["status"]["progress"] == "300/300"
        workflow = workflow_of(kubeapi, "wide")
        assert set(conclusions(workflow).values()) == {"success"}
        assert len(kubelet.jobs_seen) == len(set(kubelet.jobs_seen)) == 300
        # the table for kubectl describe stays small
        assert len(workflow["status"]["jobs"]) <= 62

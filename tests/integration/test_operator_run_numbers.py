"""``github.run_number`` in the cluster: 1, 2, 3 per workflow of a repository,
allocated once per CIRun, even across a crash, and distinct under concurrency."""

from __future__ import annotations

from typing import Any

import pytest

from cairn.k8s.run_numbers import CONFIGMAP_NAME, counter_key
from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    CIRUNS,
    NAMESPACE,
    CrashAt,
    OperatorHarness,
    cirun,
    install_crds,
    jobs_state,
    wait_run,
    workflow_of,
)
from tests.kubeapi import KubeApiEmulator

NUMBERED = """
name: Numbered
on: push
jobs:
  show:
    runs-on: ubuntu-latest
    outputs:
      number: ${{ steps.n.outputs.number }}
    steps:
      - id: n
        run: echo "number=${{ github.run_number }}" >> "$GITHUB_OUTPUT"
"""
#: the harness's runs are pushes to acme/app
KEY = counter_key("acme/app", ".github/workflows/numbered.yml")


def start(api: KubeApiEmulator, name: str, file: str = "numbered.yml", **spec: Any) -> None:
    api.create(CIRUNS, cirun(name, {file: NUMBERED}, **spec), NAMESPACE)


def number_seen_by_the_step(api: KubeApiEmulator, run: str) -> int:
    """The run ended well, and its step printed this ``github.run_number``."""
    status = wait_run(api, run, timeout=60)["status"]
    assert status["phase"] == "Succeeded", status
    outputs = jobs_state(workflow_of(api, run))["show"]["o"]
    number = int(outputs["number"])
    assert set(status["runNumbers"].values()) == {number}
    return number


def counters(api: KubeApiEmulator) -> dict[str, str]:
    return dict(api.get("configmaps", CONFIGMAP_NAME, NAMESPACE).get("data") or {})


def test_runs_of_a_workflow_are_numbered_one_two_and_a_pin_skips_the_counter(
    kubeapi: KubeApiEmulator,
) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess"), OperatorHarness(kubeapi):
        start(kubeapi, "first")
        assert number_seen_by_the_step(kubeapi, "first") == 1
        start(kubeapi, "second")
        assert number_seen_by_the_step(kubeapi, "second") == 2
        start(kubeapi, "imported", runNumber=41)
        assert number_seen_by_the_step(kubeapi, "imported") == 41
        start(kubeapi, "other-file", file="release.yml")
        assert number_seen_by_the_step(kubeapi, "other-file") == 1
    assert counters(kubeapi) == {
        KEY: "2",
        counter_key("acme/app", ".github/workflows/release.yml"): "1",
    }


def test_concurrent_runs_get_distinct_numbers(kubeapi: KubeApiEmulator) -> None:
    install_crds(kubeapi)
    runs = [f"burst-{n}" for n in range(5)]
    with TestKubelet(kubeapi, mode="inprocess"), OperatorHarness(kubeapi):
        for run in runs:
            start(kubeapi, run)
        numbers = sorted(number_seen_by_the_step(kubeapi, run) for run in runs)
    assert numbers == [1, 2, 3, 4, 5]
    assert counters(kubeapi) == {KEY: "5"}


@pytest.mark.parametrize(
    ("point", "number"),
    [
        # checkpointed, then the crash: the replay reads the number back
        ("run-numbers-checkpointed", 1),
        # taken but not checkpointed: the replay takes the next one, leaving a gap
        ("run-numbers-allocated", 2),
    ],
)
def test_a_crash_at_the_allocation(kubeapi: KubeApiEmulator, point: str, number: int) -> None:
    install_crds(kubeapi)
    with TestKubelet(kubeapi, mode="inprocess"):
        crash = CrashAt(point)
        operator = OperatorHarness(kubeapi).start(crash=crash)
        try:
            start(kubeapi, "crashy")
            assert crash.reached.wait(30), f"no setup reached {point}"
            operator.stop()
            assert not kubeapi.list(CIRUNS.replace("ciruns", "ciworkflows"), NAMESPACE)
            operator.start()
            assert number_seen_by_the_step(kubeapi, "crashy") == number
            assert counters(kubeapi) == {KEY: str(number)}
            start(kubeapi, "after")
            assert number_seen_by_the_step(kubeapi, "after") == number + 1
        finally:
            operator.stop()

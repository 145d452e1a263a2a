"""Which jobs ``cairn run`` takes: ``runs-on`` labels against this machine."""

from __future__ import annotations

import pytest

from cairn.local.runs_on import platform_problem
from tests.unit.local.conftest import Repo, RunCairn


@pytest.mark.parametrize(
    "labels",
    [
        ("ubuntu-latest",),
        ("ubuntu-22.04",),
        ("self-hosted", "linux", "x64", "gpu"),
        ("my-runner-group-label",),
        (),
    ],
)
def test_linux_and_plain_labels_run_here(labels: tuple[str, ...]) -> None:
    assert platform_problem(labels, host_os="Linux", host_arch="X64") is None


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (("windows-latest",), "runs-on 'windows-latest' needs a Windows runner"),
        (("macos-14",), "runs-on 'macos-14' needs a macOS runner"),
        (("self-hosted", "macOS", "ARM64"), "runs-on 'macOS' needs a macOS runner"),
        (("ubuntu-24.04-arm",), "runs-on 'ubuntu-24.04-arm' needs an ARM64 runner"),
        (("self-hosted", "arm64"), "runs-on 'arm64' needs an ARM64 runner"),
    ],
)
def test_other_platforms_are_refused_with_the_reason(labels: tuple[str, ...], message: str) -> None:
    problem = platform_problem(labels, host_os="Linux", host_arch="X64")
    assert problem is not None and problem.startswith(message)
    assert "not supported yet" in problem


def test_ubuntu_jobs_run_on_a_mac_as_act_runs_them() -> None:
    assert platform_problem(("ubuntu-latest",), host_os="macOS", host_arch="ARM64") is None
    assert platform_problem(("macos-latest",), host_os="macOS", host_arch="ARM64") is None
    problem = platform_problem(("windows-2022",), host_os="macOS", host_arch="ARM64")
    assert problem is not None and "needs a Windows runner" in problem


def test_a_matrix_over_operating_systems_fails_the_instances_it_cannot_run(
    repo: Repo, cairn: RunCairn
) -> None:
    repo.workflow(
        """
on: push
jobs:
  test:
    runs-on: ${{ matrix.os }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, windows-latest]
    steps:
      - run: echo "ran on $RUNNER_OS"
"""
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 1
    assert outcome.conclusions() == {"test.0": "success", "test.1": "failure"}
    windows = outcome.job("test.1")
    assert windows["reason"].startswith("runs-on 'windows-latest' needs a Windows runner")
    assert windows["steps"] == []
    assert "[test (ubuntu-latest)] ran on" in outcome.stdout
    assert "[test (windows-latest)] ran on" not in outcome.stdout

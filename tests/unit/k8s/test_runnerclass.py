"""Choosing a RunnerClass by runs-on, as GitHub chooses runners by labels."""

from __future__ import annotations

from typing import Any

import pytest

from cairn.k8s.runnerclass import (
    BUILTIN_CLASS_NAME,
    InvalidRunnerClassError,
    NoMatchingRunnerClassError,
    RunnerClass,
    from_object,
    select,
)
from cairn.k8s.settings import OperatorSettings

SETTINGS = OperatorSettings()
STRICT = OperatorSettings(builtin_runner_class=False)


def runner_class(name: str, labels: list[str], **spec: Any) -> RunnerClass:
    return from_object(
        {
            "apiVersion": "cairn.dev/v1alpha1",
            "kind": "RunnerClass",
            "metadata": {"name": name},
            "spec": {"labels": labels, **spec},
        }
    )


GPU = runner_class(
    "gpu",
    ["self-hosted", "linux", "gpu"],
    image="ghcr.io/acme/cuda-runner:12",
    injectRunner=True,
    resources={"requests": {"cpu": 4, "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": 1}},
    nodeSelector={"accelerator": "a100"},
    tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    serviceAccountName="ci-gpu",
)
DEFAULT = runner_class("default", ["ubuntu-latest", "ubuntu-24.04", "linux", "self-hosted"])
BIG = runner_class("big", ["ubuntu-latest", "linux"], priority=10)
TEAM = runner_class("team-a", ["linux"], group="team-a")


def test_a_class_parses_from_its_api_object() -> None:
    assert GPU.name == "gpu"
    # The API server keeps numeric quantities as numbers; they are quantities to us.
    assert GPU.spec.resources.requests == {"cpu": "4", "nvidia.com/gpu": "1"}
    assert GPU.spec.tolerations[0].effect == "NoSchedule"
    assert GPU.image(SETTINGS) == "ghcr.io/acme/cuda-runner:12"
    assert DEFAULT.image(SETTINGS) == SETTINGS.runner_image


@pytest.mark.parametrize(
    ("runs_on", "expected"),
    [
        (["ubuntu-latest"], "big"),  # the higher priority wins among matches
        (["Ubuntu-Latest"], "big"),  # labels compare without regard to case
        (["ubuntu-24.04"], "default"),
        (["self-hosted", "linux", "gpu"], "gpu"),  # every label must match
        (["self-hosted", "linux"], "default"),
    ],
)
def test_runs_on_selects_the_class_with_all_labels(runs_on: list[str], expected: str) -> None:
    chosen = select(runs_on, [GPU, DEFAULT, BIG, TEAM], settings=SETTINGS)
    assert chosen.name == expected


def test_ties_break_by_name_whatever_the_listing_order() -> None:
    a = runner_class("a", ["linux"])
    b = runner_class("b", ["linux"])
    assert select(["linux"], [b, a], settings=STRICT).name == "a"
    assert select(["linux"], [a, b], settings=STRICT).name == "a"


def test_groups_restrict_the_choice() -> None:
    assert select(["linux"], [TEAM, DEFAULT], group="team-a", settings=SETTINGS).name == "team-a"
    with pytest.raises(NoMatchingRunnerClassError, match="group team-b"):
        select(["linux"], [TEAM, DEFAULT], group="team-b", settings=SETTINGS)


def test_builtin_class_serves_hosted_labels_when_the_cluster_has_none() -> None:
    chosen = select(["ubuntu-22.04"], [], settings=SETTINGS)
    assert chosen.name == BUILTIN_CLASS_NAME
    # ...but never wins over a class the cluster defines.
    assert select(["ubuntu-latest"], [DEFAULT], settings=SETTINGS).name == "default"


def test_no_matching_class_is_a_clear_error_listing_what_exists() -> None:
    with pytest.raises(NoMatchingRunnerClassError) as caught:
        select(["windows-latest"], [GPU, DEFAULT], settings=STRICT)
    message = str(caught.value)
    assert "runs-on [windows-latest]" in message
    assert "default: ubuntu-latest" in message and "gpu: self-hosted, linux, gpu" in message
    assert caught.value.reason == "NoMatchingRunnerClass"
    with pytest.raises(NoMatchingRunnerClassError, match="has no RunnerClass"):
        select(["ubuntu-latest"], [], settings=STRICT)
    with pytest.raises(NoMatchingRunnerClassError, match="no runs-on"):
        select([], [DEFAULT], settings=SETTINGS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec.labels"),
        ({"labels": []}, "spec.labels"),
        ({"labels": ["  "]}, "must not be blank"),
        ({"labels": ["x"], "runAsUser": 0}, "spec.runAsUser"),
        ({"labels": ["x"], "tolerations": [{"operator": "Maybe"}]}, "spec.tolerations.0.operator"),
        ({"labels": ["x"], "privileged": True}, "spec.privileged"),
    ],
)
def test_invalid_classes_name_the_field_at_fault(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRunnerClassError) as caught:
        from_object({"metadata": {"name": "broken"}, "spec": spec})
    assert "RunnerClass broken" in str(caught.value)
    assert message in str(caught.value)


def test_a_class_without_a_name_is_refused() -> None:
    with pytest.raises(InvalidRunnerClassError, match=r"metadata\.name"):
        from_object({"spec": {"labels": ["x"]}})


def test_a_job_spec_selects_by_its_evaluated_labels_and_literal_group() -> None:
    from datetime import UTC, datetime

    from cairn.engine.jobspec import JobSpec
    from cairn.k8s.runnerclass import select_for_job
    from cairn.workflow import parse_workflow

    text = """
on: push
jobs:
  grouped:
    runs-on: {group: team-a, labels: [linux]}
    steps: [{run: make}]
  dynamic:
    runs-on: {group: "${{ vars.GROUP }}", labels: [linux]}
    steps: [{run: make}]
"""
    jobs = parse_workflow(text, "g.yml").jobs

    def spec(job_id: str) -> JobSpec:
        return JobSpec(
            workflow_file="g.yml",
            workflow_name="g",
            instance_id=job_id,
            name=job_id,
            attempt=1,
            callback_token="t" * 22,
            deadline=datetime(2026, 1, 1, tzinfo=UTC),
            job=jobs[job_id],
            runs_on=("linux",),
        )

    assert select_for_job(spec("grouped"), [TEAM, DEFAULT], settings=SETTINGS).name == "team-a"
    with pytest.raises(NoMatchingRunnerClassError, match="literal group name"):
        select_for_job(spec("dynamic"), [TEAM, DEFAULT], settings=SETTINGS)

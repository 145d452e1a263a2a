"""Deterministic, collision-safe DNS-1123 names for everything the operator creates."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.k8s import names

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Realistic identities, plus the awkward ones: unicode, dots, long, case, empty-after-folding.
run_names = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,60}[a-z0-9])?", fullmatch=True),
    st.text(min_size=1, max_size=300),
)
files = st.one_of(
    st.sampled_from(["ci.yml", "CI.yaml", "release.yml", "Deploy Prod.yml", "日本.yml", ".yml"]),
    st.text(min_size=1, max_size=120),
)
instances = st.one_of(
    st.from_regex(r"[A-Za-z_][-A-Za-z0-9_]{0,40}(\.[0-9]{1,3})?", fullmatch=True),
    st.text(min_size=1, max_size=120),
)
attempts = st.integers(min_value=1, max_value=10_000)
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(run_names, files)
def test_workflow_names_are_dns_labels_and_deterministic(run: str, file: str) -> None:
    name = names.workflow_name(run, file)
    assert DNS_LABEL.match(name) and len(name) <= 63
    assert names.workflow_name(run, file) == name


@FAST
@given(run_names, files, instances, attempts)
def test_job_names_are_dns_labels_and_deterministic(
    run: str, file: str, instance: str, attempt: int
) -> None:
    workflow = names.workflow_name(run, file)
    name = names.job_name(workflow, instance, attempt)
    assert DNS_LABEL.match(name) and len(name) <= 63
    assert names.job_name(workflow, instance, attempt) == name


@FAST
@given(st.tuples(run_names, files), st.tuples(run_names, files))
def test_different_workflows_get_different_names(a: tuple[str, str], b: tuple[str, str]) -> None:
    if a != b:
        assert names.workflow_name(*a) != names.workflow_name(*b)


@FAST
@given(st.tuples(instances, attempts), st.tuples(instances, attempts))
def test_different_attempts_get_different_job_names(a: tuple[str, int], b: tuple[str, int]) -> None:
    if a != b:
        assert names.job_name("w-abcdefgh", *a) != names.job_name("w-abcdefgh", *b)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # "-" joins parts, so naive joining would merge these identities:
        (("a-b", "c.yml"), ("a", "b-c.yml")),
        # lower-casing and extension stripping would merge these:
        (("run", "CI.yml"), ("run", "ci.yml")),
        (("run", "ci.yml"), ("run", "ci.yaml")),
        # folding non-DNS characters would merge these:
        (("run", "deploy prod.yml"), ("run", "deploy_prod.yml")),
    ],
)
def test_folding_never_merges_distinct_identities(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    assert names.workflow_name(*first) != names.workflow_name(*second)


def test_names_stay_readable() -> None:
    workflow = names.workflow_name("hello", "ci.yml")
    assert re.fullmatch(r"hello-ci-[a-z2-7]{8}", workflow)
    job = names.job_name(workflow, "build.3", 2)
    # The workflow's own hash is left out of the readable part of the Job's name.
    assert re.fullmatch(r"hello-ci-build-3-2-[a-z2-7]{8}", job)


def test_long_names_are_truncated_but_keep_every_part() -> None:
    run = "push-" + "my-very-long-repository-name-" * 4 + "0123456789abcdef"
    workflow = names.workflow_name(run, "integration-tests.yml")
    assert len(workflow) == 63
    assert "integration-tests" in workflow
    job = names.job_name(workflow, "matrix-build.12", 3)
    assert len(job) <= 63
    assert "-3-" in job and "matrix-build" in job


def test_companions_share_the_job_name() -> None:
    job = names.job_name(names.workflow_name("r", "ci.yml"), "build", 1)
    assert names.spec_configmap_name(job) == job
    assert names.callback_secret_name(job) == job


@pytest.mark.parametrize(
    ("value", "kept"),
    [("build", True), ("build.3", True), ("Build_1", True), ("_build", False), ("a" * 64, False)],
)
def test_label_values_are_kept_when_valid_and_hashed_otherwise(value: str, kept: bool) -> None:
    result = names.label_value(value)
    assert names.is_label_value(result)
    assert (result == value) is kept


def test_bad_identities_are_refused() -> None:
    with pytest.raises(names.InvalidNameError):
        names.workflow_name("", "ci.yml")
    with pytest.raises(names.InvalidNameError):
        names.job_name("w", "build", 0)
    with pytest.raises(names.InvalidNameError):
        names.job_name("w", "", 1)

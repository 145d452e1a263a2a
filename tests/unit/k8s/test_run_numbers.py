"""``github.run_number`` counters: keys, the repository identity, allocation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from cairn.k8s.cluster import AlreadyExists, Conflict
from cairn.k8s.resources import CIRunSpec
from cairn.k8s.run_numbers import (
    CONFIGMAP_NAME,
    INLINE_REPOSITORY,
    RunNumberError,
    allocate,
    counter_key,
    next_numbers,
    repository_identity,
)

CI = "on: push\njobs: {a: {runs-on: x, steps: [{run: 'true'}]}}"


def inline(payload: dict[str, Any] | None = None) -> CIRunSpec:
    return CIRunSpec.model_validate(
        {"workflows": [{"name": "ci.yml", "content": CI}], "event": {"payload": payload or {}}}
    )


def git(url: str) -> CIRunSpec:
    return CIRunSpec.model_validate({"source": {"repo": url, "sha": "a" * 40}})


def test_the_repository_is_the_payloads_full_name_case_insensitively() -> None:
    spec = inline({"repository": {"full_name": "Acme/App"}})
    assert repository_identity(spec) == "acme/app"


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/Acme/App.git", "acme/app"),
        ("https://token@github.com/acme/app/", "acme/app"),
        ("git@github.com:acme/app.git", "acme/app"),
        ("ssh://git@git.example.com/team/app.git", "git.example.com/team/app"),
        ("https://gitlab.example.com/group/sub/app", "gitlab.example.com/group/sub/app"),
    ],
)
def test_a_git_source_without_a_payload_counts_under_its_url(url: str, repository: str) -> None:
    assert repository_identity(git(url)) == repository


def test_inline_workflows_without_a_repository_share_the_documented_key() -> None:
    assert repository_identity(inline()) == INLINE_REPOSITORY


def test_keys_are_valid_configmap_keys_and_distinct_per_exact_identity() -> None:
    key = counter_key("acme/app", ".github/workflows/ci.yml")
    assert key == counter_key("acme/app", ".github/workflows/ci.yml")
    assert key.startswith("acme_app--.github_workflows_ci.yml.")
    # folding alone would merge these; the hash keeps them apart
    assert counter_key("acme/app", "a/b.yml") != counter_key("acme_app", "a/b.yml")
    assert counter_key("acme/app", "ci.yml") != counter_key("acme/app", "release.yml")
    long = counter_key("x" * 300, "y" * 300)
    for candidate in (key, long, counter_key(INLINE_REPOSITORY, ".github/workflows/ci.yml")):
        assert re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", candidate), candidate


def test_the_next_number_follows_the_last_one_given_out() -> None:
    assert next_numbers({"a": "4", "b": "0"}, ["a", "b", "c"], "ns/cm") == {"a": 5, "b": 1, "c": 1}
    with pytest.raises(RunNumberError, match="ns/cm key a holds 'four'"):
        next_numbers({"a": "four"}, ["a"], "ns/cm")
    with pytest.raises(RunNumberError):
        next_numbers({"a": "-3"}, ["a"], "ns/cm")


def test_a_pinned_run_number_must_be_positive() -> None:
    assert inline().run_number is None
    pinned = CIRunSpec.model_validate(
        {"workflows": [{"name": "ci.yml", "content": CI}], "runNumber": 42}
    )
    assert pinned.run_number == 42
    with pytest.raises(ValidationError):
        CIRunSpec.model_validate({"workflows": [{"name": "ci.yml", "content": CI}], "runNumber": 0})


class FakeConfigMaps:
    """The three calls ``allocate`` makes, with a JSON-patch ``test`` of the
    resourceVersion and a rival write injected before chosen patches."""

    def __init__(self) -> None:
        self.object: dict[str, Any] | None = None
        self.version = 0
        self.rival_writes = 0
        self.patches = 0

    async def find(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert (plural, name) == ("configmaps", CONFIGMAP_NAME)
        return None if self.object is None else {**self.object, "data": dict(self.object["data"])}

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.object is not None:
            raise AlreadyExists("exists", api_status=409)
        self.version += 1
        self.object = {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": str(self.version)},
        }
        return self.object

    async def json_patch(
        self, plural: str, namespace: str, name: str, operations: list[dict[str, Any]]
    ) -> dict[str, Any]:
        assert self.object is not None
        self.patches += 1
        if self.rival_writes:
            self.rival_writes -= 1
            for key in self.object["data"]:
                self.object["data"][key] = str(int(self.object["data"][key]) + 1)
            self.version += 1
            self.object["metadata"]["resourceVersion"] = str(self.version)
        for op in operations:
            if op["op"] == "test":
                if self.object["metadata"]["resourceVersion"] != op["value"]:
                    raise Conflict("test failed", api_status=422)
            elif op["path"] == "/data":
                self.object["data"] = {}
            else:
                self.object["data"][op["path"].removeprefix("/data/")] = op["value"]
        self.version += 1
        self.object["metadata"]["resourceVersion"] = str(self.version)
        return self.object


async def test_allocation_creates_the_counters_then_increments_them() -> None:
    cluster = FakeConfigMaps()
    assert await allocate(cluster, "ci", ["a", "b"]) == {"a": 1, "b": 1}  # type: ignore[arg-type]
    assert await allocate(cluster, "ci", ["a"]) == {"a": 2}  # type: ignore[arg-type]
    assert await allocate(cluster, "ci", ["a", "c"]) == {"a": 3, "c": 1}  # type: ignore[arg-type]
    assert cluster.object is not None
    assert cluster.object["data"] == {"a": "3", "b": "1", "c": "1"}


async def test_a_rival_write_makes_the_allocation_read_again_never_reuse_a_number() -> None:
    cluster = FakeConfigMaps()
    await allocate(cluster, "ci", ["a"])  # type: ignore[arg-type]
    cluster.rival_writes = 2  # two other runs take 2 and 3 under our feet
    assert await allocate(cluster, "ci", ["a"]) == {"a": 4}  # type: ignore[arg-type]
    assert cluster.patches == 3

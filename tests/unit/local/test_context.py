"""The run's inputs as GitHub presents them: remotes, payloads, the github
context per event, typed inputs, ``K=V`` flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.local.context import (
    default_payload,
    event_inputs,
    github_context,
    parse_assignments,
    resolve_inputs,
)
from cairn.local.errors import InvalidInputError
from cairn.local.repository import Repository, discover_repository, parse_remote
from cairn.workflow import parse_workflow
from tests.unit.local.conftest import Repo, git

SHA = "a" * 40
REPO = Repository(
    root=Path("/src/hello-world"),
    sha=SHA,
    ref="refs/heads/feature/login",
    default_branch="main",
    full_name="octo-org/hello-world",
    server_url="https://github.com",
    remote_url="git@github.com:octo-org/hello-world.git",
    actor="mona",
    head_message="Add login\n\nWith a body.",
    head_author=("Mona Lisa", "mona@example.com"),
    head_timestamp="2026-01-01T12:00:00+00:00",
)
WORKFLOW = parse_workflow(
    """
name: CI
on:
  push:
  pull_request:
  workflow_dispatch:
    inputs:
      level:
        type: choice
        options: [low, high]
        default: low
      verbose:
        type: boolean
      retries:
        type: number
        default: 3
      note:
        required: false
jobs:
  a:
    runs-on: ubuntu-latest
    steps: [{run: "true"}]
""",
    ".github/workflows/ci.yml",
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:octo-org/hello-world.git", ("https://github.com", "octo-org/hello-world")),
        ("https://github.com/octo-org/hello-world", ("https://github.com", "octo-org/hello-world")),
        (
            "https://user:token@ghe.example.com/octo-org/hello-world.git",
            ("https://ghe.example.com", "octo-org/hello-world"),
        ),
        (
            "ssh://git@github.com:22/octo-org/hello-world.git",
            ("https://github.com", "octo-org/hello-world"),
        ),
        ("/srv/git/hello-world.git", None),
        ("file:///srv/git/hello-world.git", None),
        ("https://github.com/just-one", None),
    ],
)
def test_owner_and_name_come_from_the_remote(url: str, expected: tuple[str, str] | None) -> None:
    assert parse_remote(url) == expected


def test_the_repository_is_read_from_git(repo: Repo) -> None:
    git(repo.path, "checkout", "-q", "-b", "feature/login")
    repo.write("dirty.txt", "uncommitted")
    found = discover_repository(repo.path)
    assert found.root == repo.path
    assert found.sha == repo.head
    assert found.ref == "refs/heads/feature/login"
    assert found.branch == "feature/login"
    assert found.full_name == "octo-org/hello-world"
    assert found.actor == "Mona Lisa"
    assert found.changed_files == 1
    assert found.head_message == "initial commit"
    git(repo.path, "checkout", "-q", "--detach")
    assert discover_repository(repo.path).ref == ""


def test_a_push_payload_is_made_up_from_head() -> None:
    payload = default_payload("push", REPO)
    assert payload["ref"] == "refs/heads/feature/login"
    assert payload["after"] == SHA
    assert payload["head_commit"]["message"] == "Add login\n\nWith a body."
    assert payload["head_commit"]["author"] == {"name": "Mona Lisa", "email": "mona@example.com"}
    assert payload["repository"]["full_name"] == "octo-org/hello-world"
    assert payload["sender"] == {"login": "mona", "type": "User"}


def test_the_github_context_follows_the_event() -> None:
    push = github_context(
        event_name="push",
        payload=default_payload("push", REPO),
        repo=REPO,
        workflow=WORKFLOW,
        workflow_path=".github/workflows/ci.yml",
        run_id="17",
        run_number=4,
    )
    assert push["ref"] == "refs/heads/feature/login"
    assert push["ref_name"] == "feature/login"
    assert push["ref_type"] == "branch"
    assert push["sha"] == SHA
    assert push["run_id"] == "17" and push["run_number"] == "4"
    assert push["workflow"] == "CI"
    assert push["workflow_ref"] == (
        "octo-org/hello-world/.github/workflows/ci.yml@refs/heads/feature/login"
    )
    assert push["api_url"] == "https://api.github.com"
    assert "token" not in push

    pull = github_context(
        event_name="pull_request",
        payload=default_payload("pull_request", REPO),
        repo=REPO,
        workflow=WORKFLOW,
        workflow_path=".github/workflows/ci.yml",
        run_id="17",
        run_number=4,
    )
    assert pull["ref"] == "refs/pull/1/merge"
    assert pull["ref_name"] == "1/merge"
    assert (pull["head_ref"], pull["base_ref"]) == ("feature/login", "main")
    # the context is stored in the run's manifest: the token never is (the
    # runner fills github.token from secrets.GITHUB_TOKEN)
    assert "token" not in pull

    tag = github_context(
        event_name="push",
        payload={"ref": "refs/tags/v1.2.0", "after": "b" * 40},
        repo=REPO,
        workflow=WORKFLOW,
        workflow_path="ci.yml",
        run_id="1",
        run_number=1,
    )
    assert (tag["ref_type"], tag["ref_name"], tag["sha"]) == ("tag", "v1.2.0", "b" * 40)


def test_dispatch_inputs_are_typed_and_defaulted() -> None:
    resolved = resolve_inputs(WORKFLOW, "workflow_dispatch", {"verbose": "TRUE", "level": "high"})
    assert resolved == {"level": "high", "verbose": True, "retries": 3, "note": ""}
    assert event_inputs(resolved) == {
        "level": "high",
        "verbose": "true",
        "retries": "3",
        "note": "",
    }
    assert resolve_inputs(WORKFLOW, "push", {"level": "high"}) == {}
    with pytest.raises(InvalidInputError, match="input 'retries' is a number, got 'inf'"):
        resolve_inputs(WORKFLOW, "workflow_dispatch", {"retries": "inf"})


def test_assignments() -> None:
    assert parse_assignments(["A=1", "B=x=y", "C="], "--var") == {"A": "1", "B": "x=y", "C": ""}
    assert parse_assignments(["TOKEN"], "--secret", environ={"TOKEN": "t"}) == {"TOKEN": "t"}
    assert parse_assignments(["dry-run=true"], "--input", inputs=True) == {"dry-run": "true"}
    with pytest.raises(InvalidInputError, match="a name is made of letters, digits and '_'"):
        parse_assignments(["dry-run=true"], "--var")
    # GITHUB_TOKEN is the one GITHUB_ secret (GitHub provides it; locally --secret does)
    assert parse_assignments(["GITHUB_TOKEN=ghs_x"], "--secret") == {"GITHUB_TOKEN": "ghs_x"}
    for flag, name in (("--secret", "GITHUB_SHA"), ("--var", "GITHUB_TOKEN")):
        with pytest.raises(InvalidInputError, match="names starting with GITHUB_ are reserved"):
            parse_assignments([f"{name}=x"], flag)

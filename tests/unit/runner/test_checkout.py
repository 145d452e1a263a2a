"""actions/checkout: real git checkouts of a real (temporary) repository."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cairn.engine.jobspec import JobSpec
from cairn.runner.checkout import CheckoutSource

Spec = Callable[..., JobSpec]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Repo:
    """A source repository: main with two commits (the run is for the first),
    a tag on the first, and a feature branch."""

    def __init__(self, root: Path) -> None:
        self.path = root
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        (root / "README.md").write_text("first\n")
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", "first")
        self.first = git(root, "rev-parse", "HEAD")
        git(root, "tag", "v1")
        git(root, "checkout", "-q", "-b", "feature")
        (root / "feature.txt").write_text("feature\n")
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", "feature")
        self.feature = git(root, "rev-parse", "HEAD")
        git(root, "checkout", "-q", "main")
        (root / "README.md").write_text("second\n")
        git(root, "commit", "-q", "-am", "second")
        self.second = git(root, "rev-parse", "HEAD")

    def source(self, sha: str | None = None, ref: str = "refs/heads/main") -> CheckoutSource:
        return CheckoutSource(url=str(self.path), sha=sha or self.first, ref=ref)


@pytest.fixture
def repo(tmp_path: Path, git_identity: None) -> Repo:
    return Repo(tmp_path / "origin")


async def test_checks_out_the_run_sha_shallow(
    spec: Spec, run: Any, repo: Repo, workspace: Path
) -> None:
    s = spec([{"uses": "actions/checkout@v4"}, {"run": "cat README.md; git rev-parse HEAD"}])
    result, sink = await run(s, checkout=repo.source())
    assert result.conclusion == "success", result.annotations
    assert sink.output(step=1) == ["first", repo.first]
    assert git(workspace, "rev-parse", "--is-shallow-repository") == "true"
    assert git(workspace, "rev-list", "--count", "HEAD") == "1"
    assert git(workspace, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(workspace, "tag") == ""


async def test_fetch_depth_zero_fetches_history_and_tags(
    spec: Spec, run: Any, repo: Repo, workspace: Path
) -> None:
    s = spec([{"uses": "actions/checkout@v3", "with": {"fetch-depth": "0"}}])
    result, _ = await run(s, checkout=repo.source(sha=repo.second))
    assert result.conclusion == "success", result.annotations
    assert git(workspace, "rev-parse", "--is-shallow-repository") == "false"
    assert git(workspace, "rev-list", "--count", "HEAD") == "2"
    assert git(workspace, "tag") == "v1"
    assert "origin/feature" in git(workspace, "branch", "-r")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("feature", "feature"), ("v1", "first"), ("refs/heads/feature", "feature")],
)
async def test_ref_input_checks_out_a_branch_or_tag(
    spec: Spec, run: Any, repo: Repo, workspace: Path, ref: str, expected: str
) -> None:
    s = spec(
        [
            {"uses": "actions/checkout@v4", "with": {"ref": ref, "path": "src"}},
            {
                "run": "test -f feature.txt && echo feature || cat README.md",
                "working-directory": "src",
            },
        ]
    )
    result, sink = await run(s, checkout=repo.source())
    assert result.conclusion == "success", result.annotations
    assert sink.output(step=1) == [expected]


async def test_ref_input_by_sha(spec: Spec, run: Any, repo: Repo, workspace: Path) -> None:
    s = spec([{"uses": "actions/checkout@v4", "with": {"ref": repo.feature}}])
    result, _ = await run(s, checkout=repo.source())
    assert result.conclusion == "success", result.annotations
    assert git(workspace, "rev-parse", "HEAD") == repo.feature


async def test_unknown_ref_fails_clearly(spec: Spec, run: Any, repo: Repo) -> None:
    s = spec([{"uses": "actions/checkout@v4", "with": {"ref": "no-such-branch"}}])
    result, _ = await run(s, checkout=repo.source())
    assert result.steps[0].outcome == "failure"
    assert "'no-such-branch' could not be found" in result.annotations[-1].message


async def test_clean_removes_untracked_files_unless_disabled(
    spec: Spec, run: Any, repo: Repo, workspace: Path
) -> None:
    s = spec(
        [
            {"uses": "actions/checkout@v4"},
            {"run": "echo junk > untracked.txt; echo changed > README.md"},
            {"uses": "actions/checkout@v4", "with": {"clean": "false"}},
            {"run": "cat untracked.txt"},
            {"uses": "actions/checkout@v4"},
            {"run": "test ! -e untracked.txt && cat README.md"},
        ]
    )
    result, sink = await run(s, checkout=repo.source())
    assert result.conclusion == "success", result.annotations
    assert sink.output(step=3) == ["junk"]
    assert sink.output(step=5) == ["first"]


async def test_non_repository_contents_are_replaced(
    spec: Spec, run: Any, repo: Repo, workspace: Path
) -> None:
    (workspace / "stale.txt").write_text("old")
    result, sink = await run(spec([{"uses": "actions/checkout@v4"}]), checkout=repo.source())
    assert result.conclusion == "success", result.annotations
    assert not (workspace / "stale.txt").exists()
    assert any(line.startswith("Deleting the contents of") for line in sink.lines)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"repository": "someone/else"}, "another repository (someone/else) is not supported yet"),
        ({"lfs": "true"}, "'lfs: true' is not supported yet"),
        ({"submodules": "recursive"}, "'submodules: recursive' is not supported yet"),
        ({"sparse-checkout": "src"}, "'sparse-checkout' is not supported yet"),
        ({"path": "../outside"}, "is not under"),
    ],
)
async def test_unsupported_inputs_fail_the_step(
    spec: Spec, run: Any, repo: Repo, inputs: dict[str, str], message: str
) -> None:
    result, _ = await run(
        spec([{"uses": "actions/checkout@v4", "with": inputs}]), checkout=repo.source()
    )
    assert result.steps[0].outcome == "failure"
    assert message in result.annotations[-1].message


async def test_same_repository_input_and_unknown_inputs(spec: Spec, run: Any, repo: Repo) -> None:
    s = spec(
        [
            {
                "uses": "actions/checkout@v4",
                "with": {"repository": "${{ github.repository }}", "bogus": "1"},
            }
        ]
    )
    result, _ = await run(s, checkout=repo.source())
    assert result.conclusion == "success", result.annotations
    assert result.annotations[0].level == "warning"
    assert "Unexpected input(s) 'bogus'" in result.annotations[0].message


async def test_checkout_without_a_source_fails(spec: Spec, run: Any) -> None:
    result, _ = await run(spec([{"uses": "actions/checkout@v4"}]))
    assert result.steps[0].outcome == "failure"
    assert "the runner was given none" in result.annotations[0].message

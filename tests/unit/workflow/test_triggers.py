"""is_triggered: GitHub's `on` filters against realistic webhook payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cairn.workflow import explain_trigger, is_triggered, load_workflow, parse_workflow
from cairn.workflow.model import Workflow
from cairn.workflow.triggers import changed_files

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "workflows" / "valid"
JOBS = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: make\n"


def wf(on: str) -> Workflow:
    return parse_workflow(f"on:\n{on}\n{JOBS}", "wf.yml")


def push(ref: str, *files: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"ref": ref, "before": "a" * 40, "after": "b" * 40}
    if files:
        payload["commits"] = [{"id": "b" * 40, "added": [], "modified": list(files), "removed": []}]
    return payload


def pull_request(action: str, base: str, *files: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "action": action,
        "number": 7,
        "pull_request": {"base": {"ref": base}, "head": {"ref": "feature"}},
    }
    if files:
        payload["commits"] = [{"modified": list(files)}]
    return payload


def test_an_event_not_in_on_does_not_trigger() -> None:
    workflow = wf("  push:")
    assert is_triggered(workflow, "push", {})
    decision = explain_trigger(workflow, "pull_request", pull_request("opened", "main"))
    assert not decision.triggered and "does not run on 'pull_request'" in decision.reason


def test_branch_filters_with_negation_order() -> None:
    workflow = wf("  push:\n    branches: ['releases/**', '!releases/**-alpha', main]")
    assert is_triggered(workflow, "push", push("refs/heads/main"))
    assert is_triggered(workflow, "push", push("refs/heads/releases/10"))
    assert not is_triggered(workflow, "push", push("refs/heads/releases/10-alpha"))
    assert not is_triggered(workflow, "push", push("refs/heads/feature/x"))


def test_branches_ignore() -> None:
    workflow = wf("  push:\n    branches-ignore: ['mona/octocat', 'releases/**-alpha']")
    assert is_triggered(workflow, "push", push("refs/heads/main"))
    assert not is_triggered(workflow, "push", push("refs/heads/releases/beta/3-alpha"))


def test_branch_only_filters_skip_tags_and_tag_only_filters_skip_branches() -> None:
    branches = wf("  push:\n    branches: [main]")
    assert not is_triggered(branches, "push", push("refs/tags/v1.0.0"))
    tags = wf("  push:\n    tags: ['v*']")
    assert is_triggered(tags, "push", push("refs/tags/v1.0.0"))
    assert not is_triggered(tags, "push", push("refs/heads/main"))
    both = wf("  push:\n    branches: [main]\n    tags-ignore: ['v*-rc*']")
    assert is_triggered(both, "push", push("refs/heads/main"))
    assert is_triggered(both, "push", push("refs/tags/v2.0.0"))
    assert not is_triggered(both, "push", push("refs/tags/v2.0.0-rc1"))


def test_release_tags_from_the_corpus() -> None:
    release = load_workflow(CORPUS / "release-pipeline.yml")
    assert is_triggered(release, "push", push("refs/tags/v1.2.3"))
    assert is_triggered(release, "push", push("refs/tags/v1.2.3-rc2"))
    assert not is_triggered(release, "push", push("refs/tags/v1.2"))
    assert not is_triggered(release, "push", push("refs/heads/main"))
    assert is_triggered(release, "workflow_dispatch", {"inputs": {"channel": "beta"}})


def test_path_filters_on_a_monorepo() -> None:
    mono = load_workflow(CORPUS / "monorepo-paths.yml")
    assert is_triggered(mono, "push", push("refs/heads/main", "services/api/main.go"))
    assert not is_triggered(mono, "push", push("refs/heads/main", "docs/index.md"))
    # a negated pattern excludes what the earlier ones selected
    assert not is_triggered(mono, "push", push("refs/heads/main", "libs/auth/README.md"))
    assert is_triggered(
        mono, "push", push("refs/heads/main", "libs/auth/README.md", "libs/auth/token.go")
    )
    # the branch must pass too
    assert not is_triggered(mono, "push", push("refs/heads/dev", "services/api/main.go"))


def test_paths_ignore_skips_only_when_every_file_is_ignored() -> None:
    ci = load_workflow(CORPUS / "python-matrix-ci.yml")
    assert not is_triggered(ci, "push", push("refs/heads/main", "docs/a.md", "README.md"))
    assert is_triggered(ci, "push", push("refs/heads/main", "docs/a.md", "src/pkg/core.py"))


def test_without_file_lists_path_filters_pass_as_when_github_has_no_diff() -> None:
    mono = load_workflow(CORPUS / "monorepo-paths.yml")
    decision = explain_trigger(mono, "push", push("refs/heads/main"))
    assert decision.triggered
    assert "lists no changed files" in decision.reason


def test_commits_that_change_no_files_do_not_pass_path_filters() -> None:
    # GitHub: "If there are no files changed, the workflow will not run."
    mono = load_workflow(CORPUS / "monorepo-paths.yml")
    empty_commit = {
        **push("refs/heads/main"),
        "commits": [{"id": "c" * 40, "added": [], "modified": [], "removed": []}],
    }
    decision = explain_trigger(mono, "push", empty_commit)
    assert not decision.triggered
    assert decision.reason == "the pushed commits change no files, so no path filter can match"
    ci = load_workflow(CORPUS / "python-matrix-ci.yml")  # paths-ignore
    assert not is_triggered(ci, "push", empty_commit)
    # commits without file lists (or no commits at all) say nothing about the diff
    assert is_triggered(mono, "push", {**push("refs/heads/main"), "commits": [{"id": "d"}]})
    assert is_triggered(mono, "push", {**push("refs/heads/main"), "commits": []})
    # a workflow without path filters is not concerned
    assert is_triggered(wf("  push:\n    branches: [main]"), "push", empty_commit)


def test_path_filters_are_not_evaluated_for_tag_pushes() -> None:
    workflow = wf("  push:\n    tags: ['v*']\n    paths: ['src/**']")
    assert is_triggered(workflow, "push", push("refs/tags/v1", "docs/readme.md"))


def test_changed_files_come_from_every_commit_once() -> None:
    payload = {
        "commits": [
            {"added": ["a.py"], "modified": ["b.py"], "removed": []},
            {"added": [], "modified": ["a.py"], "removed": ["c.py"]},
            "junk",
        ]
    }
    assert changed_files(payload) == ["a.py", "b.py", "c.py"]
    assert changed_files({"commits": 3}) == []


def test_pull_request_default_types_and_base_branch() -> None:
    workflow = wf("  pull_request:\n    branches: [main, 'releases/**']")
    assert is_triggered(workflow, "pull_request", pull_request("opened", "main"))
    assert is_triggered(workflow, "pull_request", pull_request("synchronize", "releases/v2"))
    assert is_triggered(workflow, "pull_request", pull_request("reopened", "main"))
    decision = explain_trigger(workflow, "pull_request", pull_request("closed", "main"))
    assert not decision.triggered
    assert decision.reason == "activity type 'closed' is not one of opened, synchronize, reopened"
    assert not is_triggered(workflow, "pull_request", pull_request("opened", "develop"))


def test_explicit_types() -> None:
    triage = load_workflow(CORPUS / "pr-triage.yml")
    assert is_triggered(triage, "pull_request_target", pull_request("labeled", "main"))
    assert not is_triggered(triage, "pull_request_target", pull_request("closed", "main"))
    assert is_triggered(triage, "issue_comment", {"action": "created", "comment": {}})
    assert not is_triggered(triage, "issue_comment", {"action": "deleted"})
    # an event whose types are not filtered takes every activity type
    releases = wf("  release:")
    assert is_triggered(releases, "release", {"action": "prereleased"})


def test_missing_payload_data_does_not_pass_and_says_why() -> None:
    workflow = wf("  push:\n    branches: [main]\n  pull_request:\n    types: [opened]")
    decision = explain_trigger(workflow, "push", {})
    assert not decision.triggered and "no 'ref'" in decision.reason
    decision = explain_trigger(workflow, "pull_request", {})
    assert not decision.triggered and "no 'action'" in decision.reason


def test_workflow_run_filters() -> None:
    docs = load_workflow(CORPUS / "workflow-run.yml")
    payload = {
        "action": "completed",
        "workflow": {"name": "CI"},
        "workflow_run": {"name": "CI", "head_branch": "main", "conclusion": "success"},
    }
    assert is_triggered(docs, "workflow_run", payload)
    assert not is_triggered(docs, "workflow_run", {**payload, "action": "requested"})
    other = {**payload, "workflow": {"name": "Lint"}, "workflow_run": {"name": "Lint"}}
    assert not is_triggered(docs, "workflow_run", other)
    branch = {**payload, "workflow_run": {"name": "CI", "head_branch": "dev"}}
    assert not is_triggered(docs, "workflow_run", branch)


def test_schedules() -> None:
    nightly = load_workflow(CORPUS / "scheduled-nightly.yml")
    assert is_triggered(nightly, "schedule", {"schedule": "30 2 * * 1-5"})
    assert not is_triggered(nightly, "schedule", {"schedule": "0 0 * * *"})
    assert is_triggered(nightly, "schedule", {})


@pytest.mark.parametrize(
    ("event", "payload"),
    [("workflow_dispatch", {}), ("repository_dispatch", {"action": "deploy"})],
)
def test_events_without_filters(event: str, payload: dict[str, Any]) -> None:
    assert is_triggered(wf(f"  {event}:"), event, payload)


def test_repository_dispatch_types_are_free_form() -> None:
    workflow = wf("  repository_dispatch:\n    types: [deploy, rollback]")
    assert is_triggered(workflow, "repository_dispatch", {"action": "rollback"})
    assert not is_triggered(workflow, "repository_dispatch", {"action": "build"})

"""A CIRun's setup: compile, filter by event, describe each CIWorkflow."""

from __future__ import annotations

from typing import Any

from cairn.engine import WorkflowRun
from cairn.k8s import names, tokens
from cairn.k8s.resources import CIRunSpec, CIWorkflowSpec
from cairn.k8s.run_setup import compile_workflows, github_context, secret_names, workflow_object
from cairn.k8s.source import WorkflowFile

CI = """name: CI
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    env:
      TOKEN: ${{ secrets.DEPLOY_TOKEN }}
    steps:
      - run: echo ${{ secrets['NPM_TOKEN'] }} ${{ github.sha }}
"""
PR = "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n"
BROKEN = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - uses:\n"

PAYLOAD = {
    "ref": "refs/heads/main",
    "after": "a" * 40,
    "repository": {
        "full_name": "acme/app",
        "id": 7,
        "html_url": "https://github.com/acme/app",
        "owner": {"login": "acme", "id": 1},
    },
    "sender": {"login": "octocat", "id": 2},
}


def spec(**fields: Any) -> CIRunSpec:
    values: dict[str, Any] = {
        "workflows": [
            {"name": "ci.yml", "content": CI},
            {"name": "pr.yml", "content": PR},
            {"name": "broken.yml", "content": BROKEN},
        ],
        "event": {"name": "push", "payload": PAYLOAD},
    }
    values.update(fields)
    return CIRunSpec.model_validate(values)


def files(run: CIRunSpec) -> list[WorkflowFile]:
    return [WorkflowFile(w.name, f"inline:{w.name}", w.content) for w in run.workflows]


def test_triggered_untriggered_and_invalid_files_are_told_apart() -> None:
    run = spec()
    setup = compile_workflows(run, files(run))
    assert [c.file.name for c in setup.triggered] == ["ci.yml"]
    assert [name for name, _ in setup.not_triggered] == ["pr.yml"]
    (invalid,) = setup.invalid
    assert invalid.message.startswith(".github/workflows/broken.yml:6:")


def test_secrets_named_by_a_workflow_are_found() -> None:
    run = spec()
    (ci,) = compile_workflows(run, files(run)).triggered
    assert secret_names(ci.plan.workflow) == ("DEPLOY_TOKEN", "NPM_TOKEN")


def test_the_github_context_comes_from_the_event() -> None:
    run = spec()
    (ci,) = compile_workflows(run, files(run)).triggered
    context = github_context(run, ci, run_uid="uid-1", run_number=7)
    assert context["sha"] == "a" * 40
    assert (context["ref"], context["ref_name"], context["ref_type"]) == (
        "refs/heads/main",
        "main",
        "branch",
    )
    assert context["repository"] == "acme/app" and context["repository_owner"] == "acme"
    assert context["actor"] == "octocat" and context["event"] == PAYLOAD
    assert context["workflow"] == "CI"
    assert context["workflow_ref"] == "acme/app/.github/workflows/ci.yml@refs/heads/main"
    assert context["run_number"] == "7"
    assert context["run_id"] == github_context(run, ci, run_uid="uid-1", run_number=7)["run_id"]
    assert context["run_id"] != github_context(run, ci, run_uid="uid-2", run_number=7)["run_id"]


def test_the_ciworkflow_object_is_named_owned_labelled_and_valid() -> None:
    run = spec(secrets={"name": "ci-secrets"})
    (ci,) = compile_workflows(run, files(run)).triggered
    owner = {"metadata": {"name": "push-1", "namespace": "ci", "uid": "uid-1"}}
    body = workflow_object(
        owner, run, ci, token_seed="s" * 32, run_number=3, protected_environments=()
    )
    meta = body["metadata"]
    assert meta["name"] == names.workflow_name("push-1", "ci.yml")
    assert meta["labels"]["cairn.dev/run"] == "push-1"
    assert meta["labels"]["cairn.dev/callback-key"] == tokens.callback_key("ci", meta["name"])
    assert meta["ownerReferences"][0]["uid"] == "uid-1"
    parsed = CIWorkflowSpec.model_validate(body["spec"])
    assert parsed.secret_name == "ci-secrets"
    assert parsed.workflow_run.name == f"ci/{meta['name']}"
    assert parsed.workflow_run.secret_names == ("DEPLOY_TOKEN", "NPM_TOKEN")
    # the compact form (defaults left out) is the same run
    assert parsed.workflow_run.plan == ci.plan
    assert isinstance(parsed.workflow_run, WorkflowRun)


def _densest_workflow(limit: int) -> str:
    """The workflow file that compiles to the largest IR per byte (measured:
    chained one-step jobs, about 2.8x; many one-line steps, 2.0 to 2.5x)."""
    parts = ["name: Many\non: push\njobs:\n"]
    size, index = len(parts[0]), 0
    while True:
        needs = f"    needs: j{index - 1}\n" if index else ""
        block = f"  j{index}:\n{needs}    runs-on: x\n    steps:\n      - run: a\n"
        if size + len(block) > limit:
            return "".join(parts)
        parts.append(block)
        size += len(block)
        index += 1


def test_a_largest_workflow_file_makes_a_ciworkflow_well_inside_the_object_limit() -> None:
    """The IR is stored without its defaults; a 256 KiB file (the compiler's
    limit) stays under 1 MiB of spec, leaving room under etcd's 1.5 MiB."""
    import json

    from cairn.workflow.yamltree import MAX_FILE_BYTES

    text = _densest_workflow(MAX_FILE_BYTES)
    run = CIRunSpec.model_validate(
        {"workflows": [{"name": "many.yml", "content": text}], "event": spec().event.model_dump()}
    )
    (ci,) = compile_workflows(run, files(run)).triggered
    owner = {"metadata": {"name": "push-1", "namespace": "ci", "uid": "uid-1"}}
    body = workflow_object(
        owner, run, ci, token_seed="s" * 32, run_number=3, protected_environments=()
    )
    size = len(json.dumps(body["spec"], separators=(",", ":")))
    assert size < 1024 * 1024, f"{size} bytes of spec for a {len(text)}-byte file"
    full = len(ci.plan.model_dump_json(by_alias=True))
    assert size < full * 0.8  # the defaults are really left out
    # and the compact form is the same run
    parsed = CIWorkflowSpec.model_validate(body["spec"])
    assert parsed.workflow_run.plan == ci.plan

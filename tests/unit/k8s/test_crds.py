"""The CRDs: structural, complete, and in step with the Python models.

A real API server prunes every field its schema does not declare, silently.
These tests validate realistic objects (the examples, fully populated statuses,
a real engine checkpoint) with pruning reported as an error, and walk the
pydantic models to find any field the CRDs forgot.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cairn.engine.run import RunLimits, WorkflowRun
from cairn.engine.state import WorkflowState
from cairn.k8s import resources
from cairn.k8s.resources import (
    CIRunSpec,
    CIRunStatus,
    CIWorkflowSpec,
    CIWorkflowStatus,
    Condition,
    JobCounts,
    WorkflowReference,
)
from cairn.k8s.runnerclass import RunnerClassSpec
from cairn.workflow import compile_plan, parse_workflow
from tests.unit.k8s.structural import problems, structural_problems

ROOT = Path(__file__).resolve().parents[3]
CRDS = ROOT / "crds"
EXAMPLES = ROOT / "examples" / "ciruns"


def load_crd(file: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((CRDS / file).read_text()) if d]
    assert len(docs) == 1
    return docs[0]


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def assert_valid(obj: Any, schema: dict[str, Any]) -> None:
    found = list(problems(obj, schema))
    assert not found, "\n".join(found)


CIRUN = load_crd("cirun.yaml")
CIWORKFLOW = load_crd("ciworkflow.yaml")
RUNNERCLASS = load_crd("runnerclass.yaml")


def all_crds() -> list[dict[str, Any]]:
    out = []
    for path in sorted(CRDS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["metadata"]["name"])
def test_every_crd_is_structural(crd: dict[str, Any]) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object"
        assert list(structural_problems(schema)) == []


def test_the_validator_finds_non_structural_schemas_and_pruned_fields() -> None:
    bad = {"type": "object", "properties": {"a": {"description": "no type"}}}
    assert list(structural_problems(bad)) == [".a: no type"]
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert list(problems({"a": "x", "b": 1}, schema)) == [
        ".b: not declared in the schema (the API server prunes it)"
    ]
    assert list(problems({"a": 1}, schema)) == [".a: expected string, got int 1"]


def test_cairn_crds_share_group_version_and_category() -> None:
    for crd, plural, kind, scope in (
        (CIRUN, resources.CIRUN_PLURAL, resources.CIRUN_KIND, "Namespaced"),
        (CIWORKFLOW, resources.CIWORKFLOW_PLURAL, resources.CIWORKFLOW_KIND, "Namespaced"),
        (RUNNERCLASS, resources.RUNNERCLASS_PLURAL, resources.RUNNERCLASS_KIND, "Cluster"),
    ):
        spec = crd["spec"]
        assert spec["group"] == resources.GROUP
        assert [v["name"] for v in spec["versions"]] == [resources.VERSION]
        assert spec["names"]["plural"] == plural
        assert spec["names"]["kind"] == kind
        assert spec["scope"] == scope
        assert "cairn" in spec["names"]["categories"]
    assert "cirun" in CIRUN["spec"]["names"]["shortNames"]
    assert "ciwf" in CIWORKFLOW["spec"]["names"]["shortNames"]
    # "rc" belongs to replicationcontrollers; kubectl would never resolve it to us.
    assert "rc" not in RUNNERCLASS["spec"]["names"]["shortNames"]


@pytest.mark.parametrize("crd", [CIRUN, CIWORKFLOW], ids=["cirun", "ciworkflow"])
def test_runs_have_status_subresource_and_the_promised_columns(crd: dict[str, Any]) -> None:
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert columns["Status"]["jsonPath"] == ".status.phase"
    assert columns["Jobs"]["jsonPath"] == ".status.progress"
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }
    assert columns["Duration"]["jsonPath"] == ".status.duration"
    status = schema_of(crd)["properties"]["status"]["properties"]
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"]
        if path.startswith(".status."):
            assert path.split(".")[2].split("[")[0] in status, path
    # Kopf keeps its progress in status.kopf: it must survive pruning.
    assert status["kopf"]["x-kubernetes-preserve-unknown-fields"] is True


def test_conditions_follow_kubernetes_conventions() -> None:
    for crd in (CIRUN, CIWORKFLOW):
        conditions = schema_of(crd)["properties"]["status"]["properties"]["conditions"]
        item = conditions["items"]
        assert set(item["properties"]) == {
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        }
        assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]


# --- examples -----------------------------------------------------------------------


def example(name: str, **substitutions: str) -> dict[str, Any]:
    text = (EXAMPLES / name).read_text()
    if substitutions:
        text = string.Template(text).safe_substitute(substitutions)  # as envsubst does
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@pytest.mark.parametrize("name", ["hello.yaml", "failing.yaml"])
def test_inline_examples_are_valid_runs_whose_workflows_compile(name: str) -> None:
    run = example(name)
    assert run["apiVersion"] == resources.API_VERSION and run["kind"] == "CIRun"
    assert_valid(run, schema_of(CIRUN))
    spec = CIRunSpec.model_validate(run["spec"])
    for workflow in spec.workflows:
        plan = compile_plan(parse_workflow(workflow.content, workflow.name))
        assert plan.instances


def test_git_example_is_a_template_that_validates_once_filled_in() -> None:
    sha = "9fceb02d0ae598e95dc970b74767f19372d61af8"
    run = example("git-source.yaml", REPO="https://github.com/example/app.git", SHA=sha)
    assert_valid(run, schema_of(CIRUN))
    assert CIRunSpec.model_validate(run["spec"]).source is not None
    unfilled = example("git-source.yaml")
    assert list(problems(unfilled, schema_of(CIRUN))), "placeholders must be rejected"


def test_cirun_spec_needs_exactly_one_source() -> None:
    schema = schema_of(CIRUN)
    both = {
        "spec": {
            "workflows": [{"name": "a.yml", "content": "on: push"}],
            "source": {"repo": "https://x/y.git", "sha": "a" * 40},
        }
    }
    assert any("oneOf" in p for p in problems(both, schema))
    assert any("oneOf" in p for p in problems({"spec": {}}, schema))
    bad_sha = {"spec": {"source": {"repo": "https://x/y.git", "sha": "main"}}}
    assert any("does not match" in p for p in problems(bad_sha, schema))


# --- full statuses and specs written by the operator --------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def condition(type_: str, status: str, reason: str) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message="2 of 3 jobs failed",
        last_transition_time="2026-03-01T12:00:00Z",
        observed_generation=1,
    )


def test_a_fully_populated_cirun_status_survives_pruning() -> None:
    status = CIRunStatus(
        phase="Failed",
        conditions=[
            condition("Ready", "True", "Compiled"),
            condition("Succeeded", "False", "JobsFailed"),
        ],
        workflows=[
            WorkflowReference(
                name="hello-ci-abcdefgh",
                file="ci.yml",
                workflow_name="CI",
                phase="Failed",
                progress="3/3",
            )
        ],
        counts=JobCounts(total=3, completed=3, succeeded=1, failed=2),
        progress="3/3",
        started_at="2026-03-01T12:00:00Z",
        completed_at="2026-03-01T12:03:12Z",
        duration="3m12s",
        sha="9fceb02d0ae598e95dc970b74767f19372d61af8",
        message="jobs failed: test, lint",
        observed_generation=1,
    )
    document = {"status": {**status.to_dict(), "kopf": {"progress": {}}}}
    assert_valid(document, schema_of(CIRUN))


WORKFLOW = """
name: CI
on: push
env:
  CI_MODE: strict
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.11", "3.12"]
    steps:
      - run: echo build ${{ matrix.python }}
  test:
    needs: build
    runs-on: [self-hosted, linux]
    outputs:
      report: ${{ steps.t.outputs.report }}
    steps:
      - id: t
        run: echo "report=ok" >> "$GITHUB_OUTPUT"
"""


def workflow_run() -> WorkflowRun:
    plan = compile_plan(parse_workflow(WORKFLOW, "ci.yml"))
    return WorkflowRun(
        name="default/hello-ci-abcdefgh",
        plan=plan,
        github={
            "event_name": "push",
            "event": {"ref": "refs/heads/main", "commits": [{"id": "x"}]},
        },
        inputs={"debug": True, "level": 3},
        vars={"REGION": "eu"},
        secret_names=("NPM_TOKEN",),
        token_seed="0123456789abcdef0123",
        protected_environments=("production",),
        limits=RunLimits(queue_timeout_minutes=30),
    )


def test_a_ciworkflow_spec_with_a_real_plan_validates() -> None:
    spec = CIWorkflowSpec(
        run="hello", file="ci.yml", secret_name="hello-secrets", workflow_run=workflow_run()
    )
    document = {
        "apiVersion": resources.API_VERSION,
        "kind": "CIWorkflow",
        "metadata": {"name": "hello-ci-abcdefgh"},
        "spec": spec.model_dump(mode="json", by_alias=True),
    }
    assert_valid(document, schema_of(CIWORKFLOW))
    again = CIWorkflowSpec.model_validate(document["spec"])
    assert again.workflow_run.plan == spec.workflow_run.plan


def full_state() -> WorkflowState:
    """A checkpoint with every field of every model set to a non-default value."""
    at = NOW.isoformat()
    later = (NOW + timedelta(minutes=5)).isoformat()
    claim = {
        "g": "deploy-main",
        "k": "default/hello-ci#test",
        "at": at,
        "x": True,
        "h": True,
        "d": later,
    }
    return WorkflowState.from_dict(
        {
            "v": 1,
            "p": "running",
            "c": "failure",
            "r": "jobs_failed",
            "ra": 2,
            "x": "cancelled by user",
            "ct": at,
            "s": at,
            "e": later,
            "d": later,
            "k": claim,
            "j": {
                "build.1": {
                    "p": "completed",
                    "w": "needs",
                    "c": "failure",
                    "r": "step_failed",
                    "a": 2,
                    "t": "tok_abcdefghijklmnopqrst",
                    "d": later,
                    "q": at,
                    "s": at,
                    "e": later,
                    "ce": True,
                    "x": "fail_fast",
                    "k": claim,
                    "o": {"artifact": "build.tar"},
                    "z": 4,
                    "st": [{"n": "Run make", "i": "make", "c": "success", "o": "failure"}],
                    "so": 12,
                }
            },
            "m": {"build": [{"python": "3.11", "extra": {"nested": [1, 2]}}]},
            "n": {"running": 1, "completed": 2},
            "z": 4,
            "w": later,
            "ab": {"n": 3, "l": ["callback:stale", "job:unknown"]},
        }
    )


def test_a_full_engine_checkpoint_survives_pruning_in_ciworkflow_status() -> None:
    state = full_state()
    status = CIWorkflowStatus(
        state=state.to_dict(),
        phase="Running",
        conditions=[condition("Succeeded", "Unknown", "Running")],
        counts=JobCounts(total=3, running=1, completed=2, succeeded=2),
        progress="2/3",
        started_at="2026-03-01T12:00:00Z",
        duration="5m0s",
        message="waiting on build",
        observed_generation=1,
    )
    document = {"status": {**status.to_dict(), "kopf": {"progress": {"x": 1}}}}
    assert_valid(document, schema_of(CIWORKFLOW))
    assert WorkflowState.from_dict(document["status"]["state"]) == state


# --- drift: every field of the Python models is declared -----------------------------


def undeclared(
    model_schema: dict[str, Any], crd_schema: dict[str, Any], path: str = ""
) -> list[str]:
    """Properties of a pydantic JSON schema that the CRD schema does not declare."""
    defs = model_schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        for key in ("anyOf", "oneOf"):
            if key in node:
                options = [resolve(o) for o in node[key] if o.get("type") != "null"]
                objects = [o for o in options if o.get("type") == "object" or "properties" in o]
                return objects[0] if objects else options[0]
        return node

    def walk(model: dict[str, Any], crd: dict[str, Any], where: str) -> list[str]:
        model = resolve(model)
        if crd.get("x-kubernetes-preserve-unknown-fields"):
            return []
        out = []
        for name, sub in (model.get("properties") or {}).items():
            declared = (crd.get("properties") or {}).get(name)
            if declared is None:
                out.append(f"{where}.{name}")
            else:
                out += walk(sub, declared, f"{where}.{name}")
        extra = model.get("additionalProperties")
        if isinstance(extra, dict) and isinstance(crd.get("additionalProperties"), dict):
            out += walk(extra, crd["additionalProperties"], f"{where}.*")
        items = model.get("items")
        if isinstance(items, dict) and isinstance(crd.get("items"), dict):
            out += walk(items, crd["items"], f"{where}[]")
        return out

    return walk({**model_schema, "$defs": defs}, crd_schema, path)


def test_no_model_field_is_missing_from_the_crds() -> None:
    cirun = schema_of(CIRUN)["properties"]
    ciworkflow = schema_of(CIWORKFLOW)["properties"]
    runnerclass = schema_of(RUNNERCLASS)["properties"]
    pairs: list[tuple[type[BaseModel], dict[str, Any], str]] = [
        (CIRunSpec, cirun["spec"], "cirun.spec"),
        (CIRunStatus, cirun["status"], "cirun.status"),
        (CIWorkflowSpec, ciworkflow["spec"], "ciworkflow.spec"),
        (CIWorkflowStatus, ciworkflow["status"], "ciworkflow.status"),
        (WorkflowState, ciworkflow["status"]["properties"]["state"], "ciworkflow.status.state"),
        (RunnerClassSpec, runnerclass["spec"], "runnerclass.spec"),
    ]
    missing = []
    for model, crd, where in pairs:
        missing += undeclared(model.model_json_schema(by_alias=True), crd, where)
    assert missing == []


def test_the_drift_check_notices_a_missing_field() -> None:
    crd = {"type": "object", "properties": {"phase": {"type": "string"}}}
    assert "x.conditions" in undeclared(CIRunStatus.model_json_schema(by_alias=True), crd, "x")


def test_manifests_and_examples_never_use_kubectl_reserved_short_names() -> None:
    # kubectl's own short names; a CRD claiming one is unreachable through it.
    reserved = {
        "cm",
        "cs",
        "ds",
        "ep",
        "ev",
        "hpa",
        "ing",
        "limits",
        "no",
        "ns",
        "pdb",
        "po",
        "psp",
        "pv",
        "pvc",
        "quota",
        "rc",
        "rs",
        "sa",
        "sc",
        "sts",
        "svc",
        "deploy",
        "crd",
        "csr",
        "netpol",
        "pc",
    }
    for crd in all_crds():
        assert not reserved & set(crd["spec"]["names"].get("shortNames", [])), crd["metadata"][
            "name"
        ]


def test_default_runner_class_in_manifests_validates() -> None:
    docs = [
        d for d in yaml.safe_load_all((ROOT / "manifests" / "runnerclass.yaml").read_text()) if d
    ]
    assert docs and all(d["kind"] == "RunnerClass" for d in docs)
    for doc in docs:
        assert_valid(doc, schema_of(RUNNERCLASS))
        RunnerClassSpec.model_validate(doc["spec"])

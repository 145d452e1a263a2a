"""Protected environments in the cluster: names, the CIRun field, the operator
setting, what reaches the engine, and how a waiting job is shown."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from cairn.engine.testing import EPOCH, EngineHarness, make_run
from cairn.k8s.environments import (
    InvalidEnvironmentNameError,
    check_environment_name,
    protected_for_plan,
    unique_names,
)
from cairn.k8s.resources import CIRunSpec, CIWorkflowSpec
from cairn.k8s.run_setup import compile_workflows, workflow_object
from cairn.k8s.settings import InvalidSettingError, OperatorSettings, from_env
from cairn.k8s.source import WorkflowFile
from cairn.k8s.status import (
    REASON_AWAITING_APPROVAL,
    job_table,
    workflow_conditions,
    workflow_message,
)

DEPLOY = """
name: Deploy
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps: [{run: make}]
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: Production
    steps: [{run: ./deploy}]
  docs:
    runs-on: ubuntu-latest
    environment: ${{ 'docs' }}
    steps: [{run: ./publish}]
"""


def spec(**fields: object) -> CIRunSpec:
    return CIRunSpec.model_validate(
        {"workflows": [{"name": "deploy.yml", "content": DEPLOY}], **fields}
    )


@pytest.mark.parametrize("name", ["production", "Staging EU", "review/pr-12", "é" * 255])
def test_names_github_accepts_are_accepted(name: str) -> None:
    assert check_environment_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" production", "whitespace"),
        ("x" * 256, "at most 255"),
        ("prod\nuction", "control character"),
        ("prod,staging", "comma"),
        ("${{ inputs.env }}", "expression"),
    ],
)
def test_names_that_cannot_be_used_are_refused_saying_why(name: str, why: str) -> None:
    with pytest.raises(InvalidEnvironmentNameError, match=why):
        check_environment_name(name)


def test_duplicates_differing_only_in_case_are_one_name() -> None:
    assert unique_names(["production", "Production", "staging"]) == ("production", "staging")


def test_the_cirun_field_is_parsed_and_validated_with_its_location() -> None:
    parsed = spec(protectedEnvironments=["production", "PRODUCTION", "staging"])
    assert parsed.protected_environments == ("production", "staging")
    with pytest.raises(ValidationError) as error:
        spec(protectedEnvironments=["ok", "bad,name"])
    (problem,) = error.value.errors()
    assert problem["loc"] == ("protectedEnvironments",)
    assert "comma" in problem["msg"]
    with pytest.raises(ValidationError):
        spec(protectedEnvironments=[f"env-{n}" for n in range(101)])


def test_the_operator_setting_is_parsed_and_validated() -> None:
    settings = from_env({"CAIRN_PROTECTED_ENVIRONMENTS": "production, staging ,"})
    assert settings.protected_environments == ("production", "staging")
    with pytest.raises(InvalidSettingError, match=r"protected_environments.*at most 255"):
        OperatorSettings(protected_environments=("x" * 300,))


def test_the_union_matches_literal_spellings_case_insensitively() -> None:
    plan = make_run(DEPLOY).plan
    assert protected_for_plan(["production"], [], plan) == ("Production", "production")
    # a run adds protection to the operator's, never removes it
    assert protected_for_plan(["production"], ["docs"], plan) == (
        "Production",
        "docs",
        "production",
    )
    assert protected_for_plan([], [], plan) == ()


def _ciworkflow_spec(run: CIRunSpec, operator_wide: tuple[str, ...]) -> CIWorkflowSpec:
    (compiled,) = compile_workflows(
        run, [WorkflowFile("deploy.yml", "deploy.yml", DEPLOY)]
    ).triggered
    owner = {"metadata": {"name": "r", "namespace": "ci", "uid": "u"}}
    body = workflow_object(
        owner,
        run,
        compiled,
        token_seed="s" * 32,
        run_number=1,
        protected_environments=operator_wide,
    )
    return CIWorkflowSpec.model_validate(body["spec"])


def test_the_ciworkflow_gets_the_operator_wide_and_the_runs_environments() -> None:
    operator_only = _ciworkflow_spec(spec(), ("PRODUCTION",))
    assert operator_only.workflow_run.protected_environments == ("PRODUCTION", "Production")
    both = _ciworkflow_spec(spec(protectedEnvironments=["docs"]), ("production",))
    assert both.workflow_run.protected_environments == ("Production", "docs", "production")


def test_a_job_waiting_on_approval_says_for_which_environment_and_how_to_answer() -> None:
    run = make_run(DEPLOY, protected_environments=["Production", "docs"])
    harness = EngineHarness(run)
    harness.start("build")
    harness.complete("build")
    assert harness.phase("deploy") == "waiting:approval"
    state = harness.state
    rows = "\n".join(job_table(run, state, EPOCH))
    assert "approval of environment Production" in rows
    assert "cairn approve RUN deploy" in rows
    message = workflow_message(run, state)
    assert "waiting on approval of ${{ 'docs' }}, Production: deploy, docs" in message
    _, succeeded = workflow_conditions(state, message)
    assert succeeded.reason == REASON_AWAITING_APPROVAL
    assert succeeded.status == "Unknown"


def test_the_example_is_a_valid_run_that_protects_its_deploy() -> None:
    from tests.unit.k8s.test_crds import CIRUN, EXAMPLES, assert_valid, schema_of

    run = yaml.safe_load((EXAMPLES / "protected-deploy.yaml").read_text())
    assert_valid(run, schema_of(CIRUN))
    parsed = CIRunSpec.model_validate(run["spec"])
    files = [WorkflowFile(w.name, w.name, w.content) for w in parsed.workflows]
    (compiled,) = compile_workflows(parsed, files).triggered
    assert compiled.plan.workflow.jobs["deploy"].environment is not None
    assert "production" in protected_for_plan((), parsed.protected_environments, compiled.plan)

"""Display names, the DAG and compile_plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.workflow import (
    WorkflowError,
    compile_plan,
    instance_name,
    load_workflow,
    parse_workflow,
)
from cairn.workflow.dag import dependency_problems, topological_order
from cairn.workflow.model import Job, Matrix, RunsOn, Step, Strategy, Triggers, Workflow

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "workflows" / "valid"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "workflows"


def job(job_id: str, name: str | None = None, needs: tuple[str, ...] = (), **kw: object) -> Job:
    return Job(
        id=job_id,
        name=name,
        needs=needs,
        runs_on=RunsOn(labels=("ubuntu-latest",)),
        steps=(Step(index=0, run="true"),),
        **kw,
    )


# -- names ----------------------------------------------------------------------------


def test_a_job_without_matrix_is_shown_by_name_or_id() -> None:
    assert instance_name(job("build"), {}) == "build"
    assert instance_name(job("build", "Build it"), {}) == "Build it"


def test_matrix_values_are_appended_in_order() -> None:
    matrix = {"os": "ubuntu-latest", "python": 3.1, "experimental": True}
    assert instance_name(job("test"), matrix) == "test (ubuntu-latest, 3.1, true)"
    assert instance_name(job("test", "Tests"), matrix) == "Tests (ubuntu-latest, 3.1, true)"


def test_empty_and_null_values_are_left_out_and_objects_are_json() -> None:
    assert instance_name(job("t"), {"a": "", "b": None}) == "t"
    assert instance_name(job("t"), {"a": None, "b": 3.0}) == "t (3)"
    assert (
        instance_name(job("t"), {"cfg": {"node": 20, "lts": True}}) == 't ({"node":20,"lts":true})'
    )


def test_a_name_with_matrix_expressions_is_rendered_without_suffix() -> None:
    named = job("test", "py${{ matrix.python }} on ${{ matrix.os }}")
    assert instance_name(named, {"os": "macos-14", "python": "3.12"}) == "py3.12 on macos-14"


def test_a_name_that_needs_run_time_contexts_keeps_its_text() -> None:
    named = job("deploy", "deploy ${{ inputs.env }} (${{ matrix.region }})")
    assert (
        instance_name(named, {"region": "eu"}) == "deploy ${{ inputs.env }} (${{ matrix.region }})"
    )


# -- dependencies ---------------------------------------------------------------------------


def test_topological_order_keeps_file_order_between_independent_jobs() -> None:
    needs = {"docs": (), "lint": (), "test": ("lint",), "build": ("test", "docs"), "notify": ()}
    assert topological_order(needs) == ["docs", "lint", "test", "build", "notify"]
    needs = {"deploy": ("build",), "build": ("test",), "test": ()}
    assert topological_order(needs) == ["test", "build", "deploy"]


def test_cycles_name_every_job_and_edge() -> None:
    needs = {"a": ("c",), "b": ("a",), "c": ("b",), "d": ("a",), "e": ("e",)}
    messages = [p.message for p in dependency_problems(needs)]
    assert "dependency cycle between jobs a, b, c (a needs c; b needs a; c needs b)" in messages
    assert "dependency cycle between jobs e (e needs e)" in messages
    assert len(messages) == 2


def test_a_long_chain_does_not_hit_the_recursion_limit() -> None:
    needs = {f"j{i}": ((f"j{i - 1}",) if i else ()) for i in range(5000)}
    assert dependency_problems(needs) == []
    assert topological_order(needs)[-1] == "j4999"
    needs["j0"] = ("j4999",)
    (problem,) = dependency_problems(needs)
    assert problem.job == "j0" and "j4999 needs j4998" in problem.message


# -- plans ----------------------------------------------------------------------------------


def test_the_ci_example_plan() -> None:
    plan = compile_plan(load_workflow(EXAMPLES / "ci.yml"))
    assert [i.id for i in plan.instances] == [
        "lint",
        "test.0",
        "test.1",
        "test.2",
        "test.3",
        "package",
        "report",
    ]
    assert [i.name for i in plan.instances[1:5]] == [
        "test (unit, 0)",
        "test (unit, 1)",
        "test (doctest, 0)",
        "test (doctest, 1)",
    ]
    assert plan.instances[1].matrix == {"suite": "unit", "optimize": "0"}
    assert plan.instances[5].needs == ("lint", "test")
    assert plan.instances[0].name == "Lint"


def test_plans_are_in_topological_order_for_every_corpus_workflow() -> None:
    for path in [*CORPUS.glob("*.yml"), *EXAMPLES.glob("*.yml")]:
        plan = compile_plan(load_workflow(path))
        seen: set[str] = set()
        for instance in plan.instances:
            assert set(instance.needs) <= seen, (path.name, instance.id)
            seen.add(instance.job_id)
        assert len({i.id for i in plan.instances}) == len(plan.instances)


def test_dynamic_matrix_jobs_get_one_placeholder() -> None:
    plan = compile_plan(load_workflow(CORPUS / "dynamic-matrix.yml"))
    build = [i for i in plan.instances if i.job_id == "build"]
    assert len(build) == 1
    assert build[0].id == "build" and build[0].dynamic_matrix and build[0].matrix == {}
    assert build[0].needs == ("discover",)


def test_reusable_caller_matrix_jobs_expand_too() -> None:
    plan = compile_plan(load_workflow(CORPUS / "reusable-caller.yml"))
    assert [i.name for i in plan.instances if i.job_id == "deploy"] == [
        "deploy (eu-west-1)",
        "deploy (us-east-1)",
    ]


def _workflow(**jobs: Job) -> Workflow:
    return Workflow(file="hand.yml", name="hand", on=Triggers(events={"push": {}}), jobs=jobs)


def test_compile_plan_checks_workflows_built_by_hand() -> None:
    with pytest.raises(WorkflowError) as caught:
        compile_plan(_workflow(a=job("a", needs=("b",)), b=job("b", needs=("a",))))
    assert "dependency cycle between jobs a, b" in str(caught.value)
    with pytest.raises(WorkflowError, match="needs 'x', which is not a job"):
        compile_plan(_workflow(a=job("a", needs=("x",))))
    too_big = Strategy(matrix=Matrix(dimensions={"a": list(range(20)), "b": list(range(20))}))
    with pytest.raises(WorkflowError, match="400 combinations"):
        compile_plan(_workflow(a=job("a", strategy=too_big)))


def test_a_plan_round_trips_through_json() -> None:
    plan = compile_plan(load_workflow(CORPUS / "python-matrix-ci.yml"))
    assert type(plan).model_validate_json(plan.model_dump_json(by_alias=True)) == plan


def test_matrix_expressions_in_names_are_rendered_in_the_plan() -> None:
    plan = compile_plan(load_workflow(CORPUS / "python-matrix-ci.yml"))
    names = [i.name for i in plan.instances if i.job_id == "test"]
    assert names[0] == "test ubuntu-latest py3.10"
    assert names[-1] == "test ubuntu-latest py3.13"
    assert len(names) == 9


def test_expression_checks_report_syntax_and_context_errors_in_place() -> None:
    text = (
        "on: push\njobs:\n  a:\n    if: ${{ matrix.os == 'x' }}\n"
        "    runs-on: ${{ secrets.RUNNER }}\n    steps:\n"
        "      - run: echo ${{ github. }} done\n"
        "      - run: echo ok\n        if: github.ref ==\n"
    )
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "wf.yml")
    assert [str(d) for d in caught.value.diagnostics] == [
        "wf.yml:4:13: context 'matrix' is not available in jobs.<job_id>.if "
        "(available: github, inputs, needs, vars)",
        "wf.yml:5:18: context 'secrets' is not available in jobs.<job_id>.runs-on "
        "(available: github, inputs, matrix, needs, strategy, vars)",
        "wf.yml:7:29: invalid expression: unexpected end of expression",
        "wf.yml:9:24: invalid expression: unexpected end of expression",
    ]


def test_runner_groups_and_labels_are_checked_where_they_are() -> None:
    text = (
        "on: push\njobs:\n  a:\n    runs-on:\n      group: ${{ vars.GROUP }}\n"
        "      labels: [linux, '${{ secrets.LABEL }}']\n"
        "    steps:\n      - run: make\n"
        "  b:\n    runs-on:\n      labels: ${{ steps.x.outputs.label }}\n"
        "    steps:\n      - run: make\n"
    )
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "wf.yml")
    assert [str(d) for d in caught.value.diagnostics] == [
        "wf.yml:6:28: context 'secrets' is not available in jobs.<job_id>.runs-on "
        "(available: github, inputs, matrix, needs, strategy, vars)",
        "wf.yml:11:19: context 'steps' is not available in jobs.<job_id>.runs-on "
        "(available: github, inputs, matrix, needs, strategy, vars)",
    ]


def test_needs_name_jobs_case_insensitively_and_the_ir_uses_their_ids() -> None:
    text = (
        "on: push\njobs:\n  Build:\n    runs-on: x\n    steps:\n      - run: make\n"
        "  test:\n    needs: BUILD\n    runs-on: x\n    steps:\n      - run: make test\n"
        "  deploy:\n    needs: [build, Test]\n    if: needs.TEST.result == 'success'\n"
        "    runs-on: x\n    steps:\n      - run: make deploy\n"
    )
    workflow = parse_workflow(text, "wf.yml")
    assert workflow.jobs["test"].needs == ("Build",)
    assert workflow.jobs["deploy"].needs == ("Build", "test")
    plan = compile_plan(workflow)
    assert [i.id for i in plan.instances] == ["Build", "test", "deploy"]
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text.replace("needs: BUILD", "needs: [DEPLOY, build, Build]"), "wf.yml")
    assert [str(d) for d in caught.value.diagnostics] == [
        "wf.yml:7:3: dependency cycle between jobs test, deploy "
        "(test needs deploy; deploy needs test)",
        "wf.yml:8:28: job 'test' lists 'Build' twice in 'needs'",
    ]

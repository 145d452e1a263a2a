"""parse_workflow: the IR built from realistic workflows, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.workflow import MAX_FILE_BYTES, WorkflowError, load_workflow, parse_workflow
from cairn.workflow.model import (
    Concurrency,
    Container,
    Environment,
    EventFilter,
    Matrix,
    RunDefaults,
    RunsOn,
    Workflow,
)

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "workflows" / "valid"


def parse(text: str, file: str = "wf.yml") -> Workflow:
    return parse_workflow(text, file)


def errors(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "wf.yml")
    return [str(d) for d in caught.value.diagnostics]


MINIMAL_JOBS = "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"


# -- on --------------------------------------------------------------------------------


def test_on_as_a_string_a_list_and_a_mapping() -> None:
    assert list(parse("on: push\n" + MINIMAL_JOBS).on.events) == ["push"]
    wf = parse("on: [push, pull_request, workflow_dispatch]\n" + MINIMAL_JOBS)
    assert list(wf.on.events) == ["push", "pull_request", "workflow_dispatch"]
    assert all(f == EventFilter() for f in wf.on.events.values())
    wf = parse("on:\n  push:\n  pull_request:\n    branches: [main]\n" + MINIMAL_JOBS)
    assert wf.on.events["push"] == EventFilter()
    assert wf.on.events["pull_request"].branches == ("main",)


def test_filters_are_kept_in_order_and_a_single_string_is_a_list() -> None:
    wf = parse(
        "on:\n  push:\n    branches: main\n    tags: ['v*', '!v*-rc*']\n"
        "    paths-ignore: ['docs/**']\n" + MINIMAL_JOBS
    )
    push = wf.on.events["push"]
    assert push.branches == ("main",)
    assert push.tags == ("v*", "!v*-rc*")
    assert push.paths_ignore == ("docs/**",)
    assert push.branches_ignore is None and push.paths is None


def test_schedule_dispatch_and_call_appear_in_events() -> None:
    wf = load_workflow(CORPUS / "scheduled-nightly.yml")
    assert [s.cron for s in wf.on.schedule] == ["30 2 * * 1-5", "0 6 * * SUN"]
    assert set(wf.on.events) == {"schedule", "workflow_dispatch"}
    called = load_workflow(CORPUS / "reusable-called.yml")
    assert "workflow_call" in called.on.events
    assert called.on.call_inputs["environment"].required is True
    assert called.on.call_inputs["replicas"].type == "number"
    assert called.on.call_inputs["replicas"].default == 1
    assert called.on.call_inputs["canary"].default is False
    assert called.on.call_outputs["image"].value == "${{ jobs.check.outputs.image }}"
    assert called.on.call_secrets["registry-token"].required is False
    assert called.on.call_secrets["signing-key"].required is False


def test_dispatch_inputs() -> None:
    wf = load_workflow(CORPUS / "release-pipeline.yml")
    inputs = wf.on.dispatch_inputs
    assert inputs["channel"].type == "choice"
    assert inputs["channel"].options == ("stable", "beta", "nightly")
    assert inputs["channel"].default == "beta"
    assert inputs["dry-run"].type == "boolean" and inputs["dry-run"].default is True
    assert inputs["retries"].default == 2


# -- workflow-level ----------------------------------------------------------------------


def test_workflow_name_defaults_to_the_file_path() -> None:
    assert parse("on: push\n" + MINIMAL_JOBS, ".github/workflows/ci.yml").name == (
        ".github/workflows/ci.yml"
    )
    assert parse("name: CI\non: push\n" + MINIMAL_JOBS).name == "CI"


def test_workflow_level_sections() -> None:
    wf = parse(
        "name: CI\nrun-name: Deploy by @${{ github.actor }}\non: push\n"
        "env:\n  A: 1\n  B: 3.10\n  C: true\n  D:\n"
        "defaults:\n  run:\n    shell: bash\n    working-directory: app\n"
        "permissions: read-all\n"
        "concurrency: ci-${{ github.ref }}\n" + MINIMAL_JOBS
    )
    assert wf.run_name == "Deploy by @${{ github.actor }}"
    # scalars become strings the way GitHub converts them
    assert wf.env == {"A": "1", "B": "3.1", "C": "true", "D": ""}
    assert wf.defaults == RunDefaults(shell="bash", working_directory="app")
    assert wf.permissions == "read-all"
    assert wf.concurrency == Concurrency(group="ci-${{ github.ref }}")


def test_permission_mappings_and_concurrency_mappings() -> None:
    wf = parse(
        "on: push\npermissions:\n  contents: read\n  id-token: write\n"
        "concurrency:\n  group: g\n  cancel-in-progress: ${{ github.ref != 'refs/heads/main' }}\n"
        + MINIMAL_JOBS
    )
    assert wf.permissions == {"contents": "read", "id-token": "write"}
    assert wf.concurrency == Concurrency(
        group="g", cancel_in_progress="${{ github.ref != 'refs/heads/main' }}"
    )
    assert parse("on: push\npermissions: {}\n" + MINIMAL_JOBS).permissions == {}


# -- jobs --------------------------------------------------------------------------------


def test_a_python_matrix_ci() -> None:
    wf = load_workflow(CORPUS / "python-matrix-ci.yml")
    assert list(wf.jobs) == ["lint", "test", "coverage"]
    test = wf.jobs["test"]
    assert test.line == 30
    assert test.needs == ("lint",)
    assert test.name == "test ${{ matrix.os }} py${{ matrix.python-version }}"
    assert test.runs_on == RunsOn(expression="${{ matrix.os }}")
    assert test.timeout_minutes == 30
    assert test.continue_on_error == "${{ matrix.experimental }}"
    assert test.strategy is not None
    assert test.strategy.fail_fast is False
    assert test.strategy.max_parallel == 6
    matrix = test.strategy.matrix
    assert matrix is not None and not matrix.is_dynamic
    assert matrix.dimensions["python-version"] == ["3.10", "3.11", "3.12"]
    assert matrix.exclude == [{"os": "macos-latest", "python-version": "3.10"}]
    steps = test.steps
    assert [s.index for s in steps] == [0, 1, 2, 3, 4]
    assert steps[0].uses == "actions/checkout@v4"
    assert steps[1].with_ == {
        "python-version": "${{ matrix.python-version }}",
        "allow-prereleases": "true",
    }
    assert steps[3].id == "pytest" and steps[3].line == 58
    assert steps[4].if_ == "${{ always() }}"
    assert wf.jobs["coverage"].if_ == "github.event_name == 'push'"
    assert wf.jobs["lint"].timeout_minutes == 360


def test_runs_on_forms_and_defaults() -> None:
    wf = load_workflow(CORPUS / "scheduled-nightly.yml")
    assert wf.jobs["fuzz"].runs_on == RunsOn(group="large-runners", labels=("linux", "x64"))
    assert wf.jobs["bench"].runs_on == RunsOn(labels=("self-hosted", "linux", "bench"))
    fuzz = wf.jobs["fuzz"].steps[1]
    assert fuzz.timeout_minutes == 60 and fuzz.continue_on_error is True


def test_containers_and_services() -> None:
    wf = load_workflow(CORPUS / "container-services.yml")
    job = wf.jobs["integration"]
    assert job.container == Container(
        image="python:3.12-slim", env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"}, options="--cpus 2"
    )
    postgres = job.services["postgres"]
    assert postgres.ports == ("5432:5432",)
    assert postgres.options is not None and postgres.options.startswith("--health-cmd pg_isready")
    redis = job.services["redis"]
    assert redis.credentials == {
        "username": "${{ github.actor }}",
        "password": "${{ secrets.GHCR_TOKEN }}",
    }
    assert redis.ports == ("6379",) and redis.volumes == ("redis-data:/data",)
    assert wf.jobs["lint-image"].container == Container(image="hadolint/hadolint:latest-debian")


def test_environments_outputs_and_step_env() -> None:
    wf = load_workflow(CORPUS / "release-pipeline.yml")
    assert wf.jobs["build"].outputs == {
        "version": "${{ steps.meta.outputs.version }}",
        "digest": "${{ steps.image.outputs.digest }}",
    }
    assert wf.jobs["publish"].environment == Environment(
        name="${{ inputs.channel || 'stable' }}",
        url="https://example.com/releases/${{ needs.build.outputs.version }}",
    )
    assert wf.jobs["publish"].steps[0].env == {"TOKEN": "${{ secrets.PUBLISH_TOKEN }}"}
    assert parse(
        "on: push\njobs:\n  d:\n    runs-on: x\n    environment: production\n"
        "    steps:\n      - run: deploy\n"
    ).jobs["d"].environment == Environment(name="production")


def test_reusable_workflow_callers() -> None:
    wf = load_workflow(CORPUS / "reusable-caller.yml")
    checks = wf.jobs["checks"]
    assert checks.uses == "./.github/workflows/reusable-called.yml"
    # values for a called workflow's inputs keep their types
    assert checks.with_ == {"environment": "staging", "replicas": 2, "canary": False}
    assert checks.secrets == "inherit"
    assert checks.steps == () and checks.runs_on is None
    deploy = wf.jobs["deploy"]
    assert deploy.uses == "octo-org/infra/.github/workflows/deploy.yml@v2"
    assert deploy.secrets == {"aws-role": "${{ secrets.AWS_ROLE }}"}


def test_dynamic_matrices_are_recorded_for_run_time() -> None:
    wf = load_workflow(CORPUS / "dynamic-matrix.yml")
    build = wf.jobs["build"].strategy
    assert build is not None and build.matrix is not None
    assert build.matrix.dimensions["package"] == "${{ fromJSON(needs.discover.outputs.packages) }}"
    assert build.matrix.is_dynamic
    whole = wf.jobs["everything"].strategy
    assert whole is not None
    assert whole.matrix == Matrix(expression="${{ fromJSON(needs.discover.outputs.packages) }}")


def test_yaml_1_2_quirks_as_github_reads_them() -> None:
    wf = load_workflow(CORPUS / "yaml-quirks.yml")
    assert wf.on.events["push"].branches == ("yes", "off")
    quirks = wf.jobs["quirks"]
    assert quirks.env == {"ENABLED": "yes", "OCTAL": "10", "COUNT": "16"}
    assert quirks.strategy is not None and quirks.strategy.matrix is not None
    assert quirks.strategy.matrix.dimensions["python"] == [3.1, "3.10"]


def test_anchors_and_aliases_are_expanded_into_the_ir() -> None:
    wf = load_workflow(CORPUS / "anchors.yml")
    assert wf.on.events["pull_request"].paths == ("src/**", "tests/**")
    assert wf.jobs["integration"].env == wf.jobs["unit"].env == {"LANG": "C.UTF-8", "TZ": "UTC"}
    assert wf.jobs["integration"].steps == wf.jobs["unit"].steps


def test_if_accepts_literals_as_github_does() -> None:
    wf = parse(
        "on: push\njobs:\n  a:\n    if: false\n    runs-on: x\n    steps:\n"
        "      - run: make\n        if: 0\n"
    )
    assert wf.jobs["a"].if_ == "false"
    assert wf.jobs["a"].steps[0].if_ == "0"


def test_step_display_names() -> None:
    wf = parse(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
        "      - run: |\n          make build\n          make test\n"
        "      - uses: actions/checkout@v4\n      - name: Named\n        run: x\n"
    )
    assert [s.display_name for s in wf.jobs["a"].steps] == [
        "Run make build",
        "Run actions/checkout@v4",
        "Named",
    ]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yml")), ids=lambda p: p.name)
def test_the_ir_round_trips_through_json(path: Path) -> None:
    wf = load_workflow(path)
    assert Workflow.model_validate_json(wf.model_dump_json(by_alias=True)) == wf


# -- errors --------------------------------------------------------------------------------


def test_all_errors_of_a_file_are_reported_together_sorted_by_position() -> None:
    found = errors(
        "on:\n  push:\n    branchez: [main]\n"
        "jobs:\n  b:\n    runs-on: x\n    steps:\n      - run: a\n        uses: b/c@v1\n"
        "  a:\n    needs: [nope]\n    runs-on: x\n    timeout-minutes: soon\n    steps:\n"
        "      - run: ok\n"
    )
    assert found == [
        "wf.yml:3:5: unknown key 'branchez' in 'on.push'; did you mean 'branches'?",
        "wf.yml:9:9: jobs.b.steps[0] has both 'run' and 'uses'; a step does one or the other",
        "wf.yml:11:13: job 'a' needs 'nope', which is not a job of this workflow",
        "wf.yml:13:22: jobs.a.timeout-minutes must be a number or an expression, "
        "not the string 'soon'",
    ]


def test_expression_errors_point_inside_block_scalars() -> None:
    found = errors(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: |\n"
        "          echo ok\n          echo ${{ matrix.os }} ${{ github.sha\n"
    )
    assert found == [
        "wf.yml:8:33: jobs.a.steps[0].run: unclosed expression: '${{' has no matching '}}'"
    ]


def test_unknown_keys_without_a_close_match_list_the_expected_keys() -> None:
    (message,) = errors("on: push\nconcurrency:\n  zzz: 1\n  group: g\n" + MINIMAL_JOBS)
    assert message == (
        "wf.yml:3:3: unknown key 'zzz' in 'concurrency' "
        "(expected one of 'group', 'cancel-in-progress')"
    )


def test_empty_and_non_mapping_files() -> None:
    assert errors("") == ["wf.yml:1:1: the workflow file is empty"]
    assert errors("# just a comment\n") == ["wf.yml:1:1: the workflow file is empty"]
    assert errors("hello\n") == ["wf.yml:1:1: a workflow must be a mapping, not the string 'hello'"]


def test_an_empty_jobs_section_and_missing_sections() -> None:
    assert errors("on: push\njobs: {}\n") == ["wf.yml:2:7: 'jobs' must define at least one job"]
    assert errors("name: x\n") == [
        "wf.yml:1:1: the workflow is missing the required key 'jobs'",
        "wf.yml:1:1: the workflow is missing the required key 'on'",
    ]
    assert errors("on:\n" + MINIMAL_JOBS) == [
        "wf.yml:1:4: 'on' must name at least one event (it is empty)"
    ]
    assert errors("on: []\n" + MINIMAL_JOBS) == ["wf.yml:1:5: 'on' must list at least one event"]
    assert errors("on: {}\n" + MINIMAL_JOBS) == ["wf.yml:1:5: 'on' must name at least one event"]


def test_unsupported_features_fail_with_a_clear_message() -> None:
    found = errors(
        "on:\n  image_version:\njobs:\n  a:\n    runs-on: x\n    snapshot: img\n    steps:\n"
        "      - run: server\n        background: true\n"
    )
    assert found == [
        "wf.yml:2:3: the image_version event (custom runner images) is not supported by Cairn",
        "wf.yml:6:5: custom runner image snapshots (jobs.<job_id>.snapshot) are not supported "
        "by Cairn",
        "wf.yml:9:9: parallel steps ('background') are not supported by Cairn; steps run one "
        "after another",
    ]


def test_file_size_limit() -> None:
    big = "on: push\n" + MINIMAL_JOBS + "# " + "x" * MAX_FILE_BYTES + "\n"
    (message,) = errors(big)
    assert message.startswith("wf.yml:1:1: the workflow file is ")
    assert f"the limit is {MAX_FILE_BYTES} bytes ({MAX_FILE_BYTES // 1024} KiB)" in message


def test_bytes_input_utf8_with_bom_and_invalid_utf8() -> None:
    wf = parse_workflow(("\ufeffname: Ünïcode\non: push\n" + MINIMAL_JOBS).encode(), "wf.yml")
    assert wf.name == "Ünïcode"
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(b"on: push\nname: \xff\xfe\n", "wf.yml")
    assert str(caught.value) == ("wf.yml:2:7: the file is not valid UTF-8 (invalid start byte)")


def test_workflow_error_needs_diagnostics() -> None:
    with pytest.raises(ValueError):
        WorkflowError([])


def test_sections_with_a_short_form_need_their_main_value() -> None:
    found = errors(
        "on: push\nconcurrency: {cancel-in-progress: true}\njobs:\n  a:\n    runs-on: x\n"
        "    environment: {url: 'https://x'}\n    container:\n      image: ''\n"
        "    services:\n      db: ''\n    steps:\n      - run: make\n"
    )
    assert found == [
        "wf.yml:2:14: 'concurrency' is missing the required key 'group'",
        "wf.yml:6:18: 'jobs.a.environment' is missing the required key 'name'",
        "wf.yml:8:14: jobs.a.container.image must not be empty",
        "wf.yml:10:11: jobs.a.services.db must not be empty",
    ]


def test_descriptions_are_plain_text() -> None:
    found = errors(
        "on:\n  workflow_dispatch:\n    inputs:\n      env:\n"
        "        description: Deploy ${{ github.ref }}\n"
        "  workflow_call:\n    secrets:\n      token:\n        description: ${{ vars.X }}\n"
        + MINIMAL_JOBS
    )
    assert found == [
        "wf.yml:5:29: expressions ('${{ }}') are not allowed in "
        "on.workflow_dispatch.inputs.env.description",
        "wf.yml:9:22: expressions ('${{ }}') are not allowed in "
        "on.workflow_call.secrets.token.description",
    ]


def test_call_input_defaults_read_only_their_contexts() -> None:
    found = errors(
        "on:\n  workflow_call:\n    inputs:\n      tag:\n        type: string\n"
        "        default: v-${{ steps.x.outputs.tag }}\n"
        "      ref:\n        type: string\n        default: ${{ needs.a.outputs.ref }}\n"
        "      name:\n        type: string\n        default: ${{ github.repository }}-x\n"
        + MINIMAL_JOBS
    )
    assert found == [
        "wf.yml:6:24: context 'steps' is not available in "
        "on.workflow_call.inputs.<inputs_id>.default (available: github, inputs, vars)",
        "wf.yml:9:22: context 'needs' is not available in "
        "on.workflow_call.inputs.<inputs_id>.default (available: github, inputs, vars)",
    ]


def test_every_diagnostic_is_one_line_even_for_names_with_line_breaks() -> None:
    found = errors(
        'on: push\njobs:\n  b:\n    runs-on: x\n    strategy:\n      matrix:\n        "k\\ney": 3\n'
        "    steps:\n      - run: make\n"
    )
    assert found == [
        "wf.yml:7:18: jobs.b.strategy.matrix.k\\ney must be a sequence of values or an "
        "expression, not the number 3"
    ]

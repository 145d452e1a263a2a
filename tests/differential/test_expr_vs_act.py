"""Differential tests: Cairn's expression results against act's (nektos/act).

One workflow is generated with a step per case; each step renders its case
into an environment variable (exactly where a workflow author would put it)
and writes it to a file, or, for conditions, records whether its ``if:`` let
it run. act runs it on the host (``-P ubuntu-latest=-self-hosted``: no Docker,
no network) and Cairn evaluates the same cases against the same contexts.

Where act departs from GitHub's documentation Cairn follows GitHub: those
cases are listed in ``ACT_DEPARTURES`` with what act gives and why, and the
test checks that act still gives it (so the list stays true). The same list
is in docs/expressions.md.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cairn.expr import ExpressionError, parse_condition, parse_template, truthy

pytestmark = pytest.mark.differential

EVENT: dict[str, Any] = {
    "ref": "refs/heads/main",
    "number": 7,
    "labels": [{"name": "bug", "id": 1}, {"name": "CI", "id": 2}, {"id": 3}],
    "pull_request": {"draft": False, "title": "Fix: it's broken", "head": {"ref": "feature/x"}},
    "commits": [{"id": "a1", "message": "first"}, {"id": "b2", "message": "second"}],
    "size": 1.5,
    "empty": "",
}
WORKFLOW_ENV = {"GREETING": "Hello", "COUNT": "3", "EMPTY": "", "FLAG": "true"}
MATRIX = {"os": "ubuntu-latest", "node": 20, "flag": True}
VARS = {"DEPLOY": "yes", "REGION": "eu-west-1"}
# The first steps of the job produce these.
STEPS = {
    "producer": {
        "outputs": {"greeting": "hi there", "num": "42"},
        "outcome": "success",
        "conclusion": "success",
    },
    "broken": {"outputs": {}, "outcome": "failure", "conclusion": "success"},
}
PRODUCER_STEPS: list[dict[str, Any]] = [
    # act does not fetch this action for the local repository: it copies the
    # working tree into the job's workspace (no network), for hashFiles.
    {"uses": "actions/checkout@v4"},
    {
        "id": "producer",
        "run": 'echo "greeting=hi there" >> "$GITHUB_OUTPUT"; echo "num=42" >> "$GITHUB_OUTPUT"',
    },
    {"id": "broken", "continue-on-error": True, "run": "exit 3"},
]
# Files of the repository, for hashFiles.
FILES = {
    "b.txt": "b",
    "a-c.txt": "a-c",
    "a/x.txt": "x",
    "a/deep/y.txt": "y",
    "src/main.py": "print('hi')",
    "package-lock.json": "{}",
}

ERROR = "<error>"

VALUES: list[str] = [
    # literals and rendering
    "${{ null }}",
    "${{ true }}",
    "${{ false }}",
    "${{ 1 }}",
    "${{ -1 }}",
    "${{ 1.5 }}",
    "${{ 1.50 }}",
    "${{ 3.0 }}",
    "${{ 0.1 }}",
    "${{ 2.99e-2 }}",
    "${{ 1e3 }}",
    "${{ 1e20 }}",
    "${{ 0xff }}",
    "${{ 0x0 }}",
    "${{ 'text' }}",
    "${{ 'It''s' }}",
    "${{ '' }}",
    "${{ '}}' }}",
    "a ${{ 'x}}y' }} b",
    "plain text",
    "a ${{ 1 }} b ${{ 'c' }} d",
    "${{ 1 }}${{ 2 }}",
    "${{ github.event }}",
    "${{ github.event.labels }}",
    "x${{ fromJSON('[1]') }}",
    # operators
    "${{ '' || 'default' }}",
    "${{ 'value' || 'default' }}",
    "${{ null || 0 }}",
    "${{ 0 && 'x' }}",
    "${{ 1 && 'x' }}",
    "${{ 'a' && '' }}",
    "${{ true && 'a' && 3 }}",
    "${{ !'' }}",
    "${{ !'a' }}",
    "${{ !0 }}",
    "${{ !null }}",
    "${{ !!'x' }}",
    "${{ true || false && false }}",
    "${{ false && true || true }}",
    "${{ !true == false }}",
    "${{ !(1 == 2) }}",
    "${{ (1 || 2) == 1 }}",
    "${{ github.event_name == 'push' && 'yes' || 'no' }}",
    # equality and coercion
    "${{ null == null }}",
    "${{ null == 0 }}",
    "${{ null == '' }}",
    "${{ null == false }}",
    "${{ false == 0 }}",
    "${{ true == 1 }}",
    "${{ true == 2 }}",
    "${{ true == '1' }}",
    "${{ true == 'true' }}",
    "${{ 1 == '1' }}",
    "${{ 1 == '1.0' }}",
    "${{ 1 == ' 1 ' }}",
    "${{ 16 == '0x10' }}",
    "${{ 0 == '' }}",
    "${{ 1 == 'one' }}",
    "${{ 'abc' == 'ABC' }}",
    "${{ 'abc' != 'abd' }}",
    "${{ 'é' == 'É' }}",
    "${{ 'ß' == 'SS' }}",
    "${{ '1.0' == '1' }}",
    "${{ github.event.number == 7 }}",
    "${{ github.event.number == '7' }}",
    "${{ github.event.size == 1.5 }}",
    "${{ github.event.empty == 0 }}",
    "${{ github.event.pull_request.draft == false }}",
    "${{ env.COUNT == 3 }}",
    "${{ env.FLAG == 'TRUE' }}",
    "${{ matrix.node == 20 }}",
    "${{ matrix.node == '20' }}",
    "${{ matrix.flag == true }}",
    "${{ github.event == github.event }}",
    "${{ fromJSON('{}') == fromJSON('{}') }}",
    "${{ fromJSON('[]') == fromJSON('[]') }}",
    # ordering
    "${{ 1 < 2 }}",
    "${{ 2 <= 1 }}",
    "${{ 1.5 > 1.25 }}",
    "${{ 'a' < 'b' }}",
    "${{ 'a' < 'B' }}",
    "${{ 'abc' >= 'ABC' }}",
    "${{ 'a_' > 'AZ' }}",
    "${{ '10' < '9' }}",
    "${{ 10 < '9' }}",
    "${{ true > false }}",
    "${{ null < 1 }}",
    "${{ null >= null }}",
    "${{ 'abc' < 1 }}",
    "${{ 1 < 2 < 3 }}",
    "${{ github.event.number >= 7 }}",
    # property access and filters
    "${{ github.event_name }}",
    "${{ github.EVENT_NAME }}",
    "${{ github['event_name'] }}",
    "${{ github.event.pull_request.head.ref }}",
    "${{ github.event.pull_request.title }}",
    "${{ github.event['pull_request']['head']['ref'] }}",
    "${{ github.event.labels[0].name }}",
    "${{ github.event.labels[1].NAME }}",
    "${{ github.event.labels[5].name }}",
    "${{ github.event.labels[1.9].name }}",
    "${{ github.event.labels['1'].name }}",
    "${{ github.event.missing }}",
    "${{ github.event.missing.deeper }}",
    "${{ github.event.number.value }}",
    "${{ env.GREETING }}",
    "${{ env.greeting }}",
    "${{ env.MISSING }}",
    "${{ matrix.os }}",
    "${{ matrix.missing }}",
    "${{ toJSON(github.event.labels.*.name) }}",
    "${{ toJSON(github.event.labels.*.id) }}",
    "${{ toJSON(github.event.commits.*.message) }}",
    "${{ toJSON(github.event.missing.*) }}",
    "${{ join(github.event.labels.*.name) }}",
    "${{ join(github.event.commits.*.id, ' ') }}",
    # functions
    "${{ contains('Hello world', 'WORLD') }}",
    "${{ contains('abc', '') }}",
    "${{ contains(github.event.labels.*.name, 'ci') }}",
    "${{ contains(github.event.labels.*.name, 'b') }}",
    "${{ contains(fromJSON('[1, 2, 3]'), 2) }}",
    "${{ contains(fromJSON('[1, 2, 3]'), '2') }}",
    '${{ contains(fromJSON(\'["push", "pull_request"]\'), github.event_name) }}',
    "${{ contains(github.event, 'labels') }}",
    "${{ contains(123, 2) }}",
    "${{ startsWith('Hello world', 'hello') }}",
    "${{ startsWith(github.event.pull_request.head.ref, 'feature/') }}",
    "${{ startsWith(123, 12) }}",
    "${{ endsWith('Hello world', 'LD') }}",
    "${{ endsWith(github.event.pull_request.head.ref, '/y') }}",
    "${{ format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat') }}",
    "${{ format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat') }}",
    "${{ format('{0}', null) }}",
    "${{ format('{0}', true) }}",
    "${{ format('{0}', 1.50) }}",
    "${{ format('{0}{0}', 'a') }}",
    "${{ format('{1}{0}', 'a', 'b') }}",
    "${{ format('{0}', fromJSON('[1]')) }}",
    "${{ format('{{0}}', 1) }}",
    "${{ format('{1}', 1) }}",
    "${{ format('{0:x}', 1) }}",
    '${{ join(fromJSON(\'["a", "b"]\')) }}',
    "${{ join(fromJSON('[\"a\", \"b\"]'), ' | ') }}",
    "${{ join('abc') }}",
    "${{ join(fromJSON('[1, true, null]')) }}",
    "${{ join(fromJSON('[]')) }}",
    "${{ toJSON(null) }}",
    "${{ toJSON(true) }}",
    "${{ toJSON(1.5) }}",
    "${{ toJSON('text') }}",
    "${{ toJSON(fromJSON('[1, 2.0]')) }}",
    '${{ toJSON(fromJSON(\'{"a": [1, {"b": null}]}\')) }}',
    "${{ toJSON(fromJSON('{}')) }}",
    "${{ toJSON(matrix) }}",
    "${{ toJSON('<a&b>') }}",
    "${{ toJSON(github.event.missing) }}",
    "${{ fromJSON('true') }}",
    "${{ fromJSON('1.5') }}",
    "${{ fromJSON('\"x\"') }}",
    '${{ fromJSON(\'{"a": {"b": 2}}\').a.b }}',
    "${{ fromJSON(env.COUNT) == 3 }}",
    "${{ fromJSON(env.FLAG) }}",
    "${{ fromJSON('not json') }}",
    "${{ toJSON(fromJSON(toJSON(github.event.labels))) == toJSON(github.event.labels) }}",
    # other contexts
    "${{ vars.DEPLOY }}",
    "${{ vars.deploy == 'YES' }}",
    "${{ vars.MISSING }}",
    "${{ format('{0}-{1}', vars.DEPLOY, vars.REGION) }}",
    "${{ steps.producer.outputs.greeting }}",
    "${{ steps.producer.outputs.num == 42 }}",
    "${{ steps.producer.outputs.missing }}",
    "${{ steps.producer.outcome }}",
    "${{ steps.broken.outcome }}",
    "${{ steps.broken.conclusion }}",
    "${{ steps.missing.outputs.x }}",
    # hashFiles over the repository
    "${{ hashFiles('package-lock.json') }}",
    "${{ hashFiles('**/*.py') }}",
    "${{ hashFiles('**/*.lock') }}",
    "${{ hashFiles('src/**', 'package-lock.json') }}",
    "${{ hashFiles('**/*.txt') }}",
    "${{ hashFiles('**/*.txt', '!a/**') }}",
]

CONDITIONS: list[str] = [
    "true",
    "false",
    "${{ true }}",
    "${{ false }}",
    "github.event_name == 'push'",
    "github.event_name != 'push'",
    "${{ github.event.number > 5 }}",
    "contains(github.event.labels.*.name, 'bug')",
    "matrix.flag",
    "env.EMPTY",
    "env.FLAG == 'true'",
    "success()",
    "failure()",
    "always()",
    "cancelled()",
    "!cancelled()",
    "success() || failure()",
    "${{ false }} && true",
    "steps.broken.outcome == 'failure'",
    "steps.producer.outputs.greeting == 'HI THERE'",
    "vars.DEPLOY == 'yes'",
    "hashFiles('**/*.py') != ''",
]

# Conditions evaluated after a failed step (job status: failure).
FAILED_CONDITIONS: list[str] = [
    "always()",
    "failure()",
    "success()",
    "!cancelled()",
    "github.event_name == 'push'",
    "failure() && github.event.number == 7",
    "${{ failure() }}",
    "true",
]

_SAME_INSTANCE = "GitHub: objects and arrays are equal only to the same instance; act errors"
_FILTER_SKIPS = "GitHub's object filter keeps only the elements that have the property"
_ACT_SWALLOWS = "GitHub fails the step on this error; act logs it and renders ''"

# case -> (what act gives, why GitHub's documented behaviour differs). Cairn
# follows GitHub; docs/expressions.md lists the same departures.
ACT_DEPARTURES: dict[str, tuple[str, str]] = {
    "${{ github.event == github.event }}": ("", _SAME_INSTANCE),
    "${{ fromJSON('{}') == fromJSON('{}') }}": ("", _SAME_INSTANCE),
    "${{ fromJSON('[]') == fromJSON('[]') }}": ("", _SAME_INSTANCE),
    "${{ 'a_' > 'AZ' }}": (
        "false",
        "GitHub compares strings upper-cased ('_' sorts after 'Z'); act lower-cases them",
    ),
    "${{ 1 < 2 < 3 }}": ("false", "GitHub: (1 < 2) is true, and true < 3 compares 1 < 3"),
    "${{ github.event.labels[1.9].name }}": ("", "GitHub floors a fractional array index"),
    "${{ github.event.labels['1'].name }}": (
        "Array",
        "GitHub converts a string index of an array to a number",
    ),
    "${{ toJSON(github.event.labels.*.name) }}": ('[\n  "bug",\n  "CI",\n  null\n]', _FILTER_SKIPS),
    "${{ join(github.event.labels.*.name) }}": ("bug,CI,", _FILTER_SKIPS),
    "${{ toJSON(github.event.missing.*) }}": (
        "null",
        "GitHub's object filter of a missing value is an empty array",
    ),
    "${{ format('{1}', 1) }}": ("", _ACT_SWALLOWS),
    "${{ format('{0:x}', 1) }}": ("", _ACT_SWALLOWS),
    "${{ fromJSON('not json') }}": ("", _ACT_SWALLOWS),
    "${{ toJSON(matrix) }}": (
        '{\n  "flag": true,\n  "node": 20,\n  "os": "ubuntu-latest"\n}',
        "GitHub keeps an object's keys in their order; act sorts them",
    ),
    "${{ toJSON('<a&b>') }}": (
        '"\\u003ca\\u0026b\\u003e"',
        "GitHub's toJSON does not escape <, > and &; act's Go encoder does",
    ),
}

# Values act refuses to load at all (its workflow validation fails), which
# GitHub accepts: case -> why. Each is checked with `act --validate`.
ACT_REJECTS: dict[str, str] = {
    "${{ NaN }}": "NaN is a number literal in GitHub's lexer",
    "${{ Infinity }}": "Infinity is a number literal in GitHub's lexer",
    "${{ 1234567890123456 }}": "GitHub's numbers are doubles; act parses 32-bit integers",
    "${{ 0xffffffff }}": "GitHub reads 8 hex digits as a signed 32-bit integer (-1)",
    "if: ''": "GitHub treats an empty if as success()",
    "${{ case(github.event_name == 'push', 'Pushed', 'Other') }}": (
        "case() is a documented GitHub function act does not know"
    ),
}


def our_contexts() -> dict[str, Any]:
    return {
        "github": {"event_name": "push", "event": EVENT},
        "env": WORKFLOW_ENV,
        "matrix": MATRIX,
        "vars": VARS,
        "steps": STEPS,
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository act runs in, with the files hashFiles reads."""
    repo = tmp_path_factory.mktemp("workspace")
    for name, content in FILES.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return repo


def ours_value(case: str, workspace: Path | None = None) -> str:
    try:
        return parse_template(case).render(our_contexts(), workspace=workspace)
    except ExpressionError:
        return ERROR


def ours_condition(case: str, status: str, workspace: Path | None = None) -> bool:
    condition = parse_condition(case)
    return truthy(condition.evaluate(our_contexts(), status=status, workspace=workspace))  # type: ignore[arg-type]


@dataclass
class ActRun:
    values: dict[int, str | None]
    conditions: dict[int, bool]
    failed_conditions: dict[int, bool]
    log: str


def _workflow(out: Path) -> dict[str, Any]:
    value_steps = [
        {
            "name": f"value-{i}",
            "continue-on-error": True,
            "env": {"V": case},
            "run": f"printf '%s' \"$V\" > '{out}/value-{i}'",
        }
        for i, case in enumerate(VALUES)
    ]
    condition_steps = [
        {"name": f"cond-{i}", "if": case, "run": f"touch '{out}/cond-{i}'"}
        for i, case in enumerate(CONDITIONS)
    ]
    failed_steps = [{"name": "fail", "run": "exit 1"}] + [
        {"name": f"failed-{i}", "if": case, "run": f"touch '{out}/failed-{i}'"}
        for i, case in enumerate(FAILED_CONDITIONS)
    ]
    job = {
        "runs-on": "ubuntu-latest",
        "strategy": {"matrix": {k: [v] for k, v in MATRIX.items()}},
    }
    return {
        "name": "differential",
        "on": "push",
        "env": WORKFLOW_ENV,
        "jobs": {
            "values": {**job, "steps": PRODUCER_STEPS + value_steps + condition_steps},
            "failing": {**job, "steps": failed_steps},
        },
    }


@pytest.fixture(scope="module")
def act_run(act_path: str, workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    root = tmp_path_factory.mktemp("act")
    repo, home, out = workspace, root / "home", root / "out"
    for directory in (repo / ".github" / "workflows", home, out):
        directory.mkdir(parents=True)
    # JSON is YAML, and it spares us any quoting of the expressions.
    (repo / ".github" / "workflows" / "differential.yml").write_text(
        json.dumps(_workflow(out), indent=1, ensure_ascii=False)
    )
    (root / "event.json").write_text(json.dumps(EVENT))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    # An existing (empty) .actrc keeps act from asking, on first run, which
    # image to use: CI has no terminal to answer.
    (home / ".actrc").write_text("")
    empty = root / "empty"
    empty.write_text("")
    command = [
        act_path,
        "push",
        "-P",
        "ubuntu-latest=-self-hosted",
        "--eventpath",
        str(root / "event.json"),
        "--action-offline-mode",
        "--no-cache-server",
        "--action-cache-path",
        str(root / "cache"),
        "--env-file",
        str(empty),
        "--secret-file",
        str(empty),
        "--var-file",
        str(empty),
        "--input-file",
        str(empty),
        *(arg for name, value in VARS.items() for arg in ("--var", f"{name}={value}")),
    ]
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    result = subprocess.run(
        command,
        cwd=repo,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    if "workflow is not valid" in log or "Error:" in log.split("\n", 1)[0]:
        pytest.fail(f"act rejected the generated workflow:\n{log[-4000:]}")

    def read(name: str) -> str | None:
        path = out / name
        return path.read_text() if path.exists() else None

    return ActRun(
        values={i: read(f"value-{i}") for i in range(len(VALUES))},
        conditions={i: (out / f"cond-{i}").exists() for i in range(len(CONDITIONS))},
        failed_conditions={
            i: (out / f"failed-{i}").exists() for i in range(len(FAILED_CONDITIONS))
        },
        log=log,
    )


def _act_value(run: ActRun, index: int) -> str:
    value = run.values[index]
    return "<step failed>" if value is None else value


@pytest.mark.parametrize("index", range(len(VALUES)), ids=lambda i: VALUES[i])
def test_value_agrees_with_act(act_run: ActRun, workspace: Path, index: int) -> None:
    case = VALUES[index]
    theirs = _act_value(act_run, index)
    ours = ours_value(case, workspace)
    if case in ACT_DEPARTURES:
        recorded, reason = ACT_DEPARTURES[case]
        assert theirs == recorded, f"act changed on a listed departure ({reason}): {theirs!r}"
        assert ours != theirs, f"listed as a departure but we agree with act: {reason}"
        return
    assert ours == theirs, f"{case!r}: cairn {ours!r}, act {theirs!r}"


@pytest.mark.parametrize("index", range(len(CONDITIONS)), ids=lambda i: CONDITIONS[i] or "''")
def test_condition_agrees_with_act(act_run: ActRun, workspace: Path, index: int) -> None:
    case = CONDITIONS[index]
    ours = ours_condition(case, "success", workspace)
    _check_condition(case, ours, act_run.conditions[index])


@pytest.mark.parametrize("index", range(len(FAILED_CONDITIONS)), ids=lambda i: FAILED_CONDITIONS[i])
def test_condition_after_failure_agrees_with_act(act_run: ActRun, index: int) -> None:
    case = FAILED_CONDITIONS[index]
    _check_condition(case, ours_condition(case, "failure"), act_run.failed_conditions[index])


def _check_condition(case: str, ours: bool, theirs: bool) -> None:
    key = f"if: {case}"
    if key in ACT_DEPARTURES:
        recorded, reason = ACT_DEPARTURES[key]
        assert str(theirs).lower() == recorded, f"act changed on a listed departure ({reason})"
        assert ours != theirs
        return
    assert ours == theirs, f"if: {case!r}: cairn ran={ours}, act ran={theirs}"


def _validate(act_path: str, root: Path, case: str) -> subprocess.CompletedProcess[str]:
    repo, home = root / "repo", root / "home"
    (repo / ".github" / "workflows").mkdir(parents=True)
    home.mkdir()
    (home / ".actrc").write_text("")
    step: dict[str, Any] = {"run": "true"}
    if case.startswith("if: "):
        step["if"] = json.loads(case[4:].replace("'", '"'))
    else:
        step["env"] = {"V": case}
    workflow = {"on": "push", "jobs": {"j": {"runs-on": "ubuntu-latest", "steps": [step]}}}
    (repo / ".github" / "workflows" / "w.yml").write_text(json.dumps(workflow))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return subprocess.run(
        [act_path, "push", "-P", "ubuntu-latest=-self-hosted", "--validate"],
        cwd=repo,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("case", list(ACT_REJECTS))
def test_act_rejects_what_github_accepts(act_path: str, tmp_path: Path, case: str) -> None:
    result = _validate(act_path, tmp_path, case)
    assert result.returncode != 0, f"act now accepts {case!r}: remove it from ACT_REJECTS"
    if case.startswith("if: "):
        assert ours_condition(case[4:].strip("'"), "success") is True
    else:
        assert ours_value(case) != ERROR


def test_validation_accepts_a_plain_case(act_path: str, tmp_path: Path) -> None:
    # The control for the test above: a valid value passes `act --validate`.
    assert _validate(act_path, tmp_path, "${{ 1.5 }}").returncode == 0


def test_every_departure_is_a_case() -> None:
    cases = set(VALUES) | {f"if: {c}" for c in CONDITIONS + FAILED_CONDITIONS}
    assert set(ACT_DEPARTURES) <= cases

"""Bad input to ``cairn run`` gets one clear message and exit status 2, and
leaves no run behind."""

from __future__ import annotations

import argparse
import errno
import subprocess
from pathlib import Path

import pytest

from tests.unit.local.conftest import Repo, RunCairn, cairn_command, run_process

GOOD = """
on: [push, workflow_dispatch]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""


@pytest.fixture
def good(repo: Repo) -> Repo:
    repo.workflow(GOOD)
    repo.commit()
    return repo


def no_runs(repo: Repo) -> bool:
    state = repo.path / ".cairn"
    return not state.exists() or not [p for p in state.iterdir() if p.name.isdigit()]


def test_compile_errors_are_listed_as_path_line_col(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(GOOD, name="good.yml")
    repo.workflow(
        """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    needs: nothing
    steps:
      - run: echo ${{ github.sha
""",
        name="broken.yml",
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 2
    lines = outcome.stderr.strip().splitlines()
    assert lines and all(line.startswith(".github/workflows/broken.yml:") for line in lines)
    assert any(":6:" in line and "nothing" in line for line in lines), lines
    assert outcome.stdout == ""
    assert no_runs(repo)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"event": "pushh"}, "unknown event 'pushh'; did you mean 'push'?"),
        ({"max_parallel": 0}, "--max-parallel must be at least 1, got 0"),
        ({"secrets": ("TOKEN",)}, "--secret TOKEN: no value given and $TOKEN is not set"),
        ({"secrets": ("1TOKEN=x",)}, "--secret '1TOKEN': a name is made of letters"),
        ({"secrets": ("GITHUB_SHA=x",)}, "names starting with GITHUB_ are reserved"),
        ({"vars": ("REGION",)}, "--var 'REGION': expected NAME=VALUE"),
        ({"vars": ("A=1", "A=2")}, "--var A is given twice"),
        ({"job": "biuld"}, "no triggered workflow has a job 'biuld'"),
        ({"inputs": ("x=1",)}, "--input is for workflow_dispatch and workflow_call events"),
        (
            {"event": "workflow_dispatch", "inputs": ("x=1",)},
            "unexpected input(s) x (the workflows declare: none)",
        ),
        ({"path": Path("missing.yml")}, "no such file or directory"),
        ({"payload": Path("nope.json")}, "cannot read payload"),
        ({"resume": "12345"}, "no run 12345 in"),
        ({"resume": "abc"}, "'abc' is not a run id"),
        ({"resume": "latest"}, "there is no run in"),
        ({"resume": "1", "job": "build"}, "--job cannot be combined with --resume"),
    ],
)
def test_bad_options_exit_2(
    good: Repo,
    cairn: RunCairn,
    options: dict[str, object],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOKEN", raising=False)
    outcome = cairn(**options)
    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("cairn run: "), outcome.stderr
    assert message in outcome.stderr
    assert no_runs(good)


def test_a_payload_must_be_a_json_object(good: Repo, cairn: RunCairn) -> None:
    (good.path / "list.json").write_text("[1, 2]")
    (good.path / "bad.json").write_text("{nope")
    assert "must be a JSON object" in cairn(payload=Path("list.json")).stderr
    assert "is not valid JSON" in cairn(payload=Path("bad.json")).stderr


def test_dispatch_inputs_are_checked_as_declared(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on:
  workflow_dispatch:
    inputs:
      target:
        type: choice
        options: [staging, production]
        required: true
      dry-run:
        type: boolean
      count:
        type: number
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo ok
"""
    )
    repo.commit()
    dispatch = {"event": "workflow_dispatch"}
    missing = cairn(**dispatch)
    assert "input 'target' is required; give it with --input target=VALUE" in missing.stderr
    wrong_choice = cairn(**dispatch, inputs=("target=dev",))
    assert "input 'target' must be one of 'staging', 'production', got 'dev'" in (
        wrong_choice.stderr
    )
    not_boolean = cairn(**dispatch, inputs=("target=staging", "dry-run=yes"))
    assert "input 'dry-run' is a boolean, got 'yes'" in not_boolean.stderr
    not_number = cairn(**dispatch, inputs=("target=staging", "count=many"))
    assert "input 'count' is a number, got 'many'" in not_number.stderr
    for outcome in (missing, wrong_choice, not_boolean, not_number):
        assert outcome.exit_code == 2
    assert cairn(**dispatch, inputs=("target=staging", "count=2.5")).exit_code == 0


def test_outside_a_repository_a_workflow_path_is_needed(tmp_path: Path, cairn: RunCairn) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    outcome = cairn(cwd=outside)
    assert outcome.exit_code == 2
    assert "is not in a git repository: give a workflow file or directory" in outcome.stderr


def test_a_workflow_outside_a_repository_runs_without_checkout(
    tmp_path: Path, cairn: RunCairn
) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "wf.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "repo=${{ github.repository }}"\n'
        "      - uses: actions/checkout@v4\n"
    )
    outcome = cairn(cwd=outside, path=Path("wf.yml"))
    assert outcome.exit_code == 1
    assert "[a] repo=local/plain" in outcome.stdout
    assert "actions/checkout needs the run's repository" in outcome.stdout
    assert "cairn: no git repository here: actions/checkout steps will fail" in outcome.stdout


def test_a_repository_without_a_commit_says_checkout_will_fail(
    tmp_path: Path, cairn: RunCairn
) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    subprocess.run(["git", "init", "-q", str(fresh)], check=True)
    (fresh / "wf.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n"
    )
    outcome = cairn(cwd=fresh, path=Path("wf.yml"))
    assert outcome.exit_code == 0, outcome.stdout
    assert "cairn: no commit yet here: actions/checkout steps will fail" in outcome.stdout


def test_resume_needs_the_secrets_again(good: Repo, cairn: RunCairn) -> None:
    first = cairn(secrets=("TOKEN=abc",))
    assert first.exit_code == 0
    assert first.summary is not None
    run_id = first.summary["run_id"]
    stored = (good.path / ".cairn" / run_id / "run.json").read_text()
    assert "abc" not in stored and '"TOKEN"' in stored
    missing = cairn(resume=run_id)
    assert missing.exit_code == 2
    assert "give them again: --secret TOKEN=..." in missing.stderr
    extra = cairn(resume=run_id, secrets=("TOKEN=abc", "OTHER=x"))
    assert "was started without the secret(s) OTHER" in extra.stderr
    assert cairn(resume=run_id, secrets=("TOKEN=abc",)).exit_code == 0


def test_a_corrupt_checkpoint_is_refused_clearly(good: Repo, cairn: RunCairn) -> None:
    first = cairn()
    assert first.summary is not None
    run_id = first.summary["run_id"]
    state = good.path / ".cairn" / run_id / "state.json"
    state.write_text('{"v": 1, "run_id": "x", "workflows": {"ci.yml": {"p": "flying"}}}')
    outcome = cairn(resume=run_id)
    assert outcome.exit_code == 2
    assert "state.json: workflow ci.yml: malformed checkpoint" in outcome.stderr
    state.write_text(
        '{"v": 1, "run_id": "x", "workflows": {"ci.yml": {"ct": "2026-01-01T00:00:00Z",'
        ' "d": "2027-01-01T00:00:00Z", "j": {"deploy": {}}}}}'
    )
    other_plan = cairn(resume=run_id)
    assert other_plan.exit_code == 2
    assert "checkpoint does not belong to this run's plan" in other_plan.stderr
    state.write_text("{not json")
    assert "state.json is not JSON" in cairn(resume=run_id).stderr
    (good.path / ".cairn" / run_id / "run.json").write_text('{"version": 99}')
    assert "run.json has version 99; this cairn reads version 1" in cairn(resume=run_id).stderr


def test_the_command_line_reports_compile_errors_with_exit_2(repo: Repo) -> None:
    repo.workflow("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: 3\n")
    repo.commit()
    outcome = run_process(repo)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.stderr.startswith(".github/workflows/ci.yml:5:")


def test_help_lists_every_option() -> None:
    result = subprocess.run(cairn_command("--help"), capture_output=True, text=True, check=True)
    for option in (
        "--event",
        "--payload",
        "--job",
        "--secret",
        "--var",
        "--input",
        "--max-parallel",
        "--state-dir",
        "--resume",
        "--json",
    ):
        assert option in result.stdout


def test_ctrl_c_while_starting_up_exits_130_without_a_traceback(
    good: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the run's loop handles Ctrl-C the GitHub way (reading the
    repository, compiling), it stops the command plainly and leaves no run."""
    from cairn.local import cli, session

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "compile_all", interrupted)
    monkeypatch.chdir(good.path)
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    try:
        code = cli.main(parser.parse_args([]))
    except KeyboardInterrupt:  # escaping, it would stop pytest itself
        pytest.fail("KeyboardInterrupt escaped cairn run")
    assert code == 130
    assert capsys.readouterr().err == "cairn run: interrupted\n"
    assert no_runs(good)


def test_a_state_directory_that_cannot_be_written_is_reported(
    good: Repo, cairn: RunCairn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.local import store

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "run.json")

    monkeypatch.setattr(store, "atomic_write", full)
    outcome = cairn()
    assert outcome.exit_code == 2
    assert outcome.stderr == "cairn run: No space left on device (run.json)\n"
    assert no_runs(good)


def test_a_checkpoint_that_cannot_be_written_stops_the_run_resumably(
    good: Repo, cairn: RunCairn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.local.store import RunDir

    write_states = RunDir.write_states

    def full(self: RunDir, states: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path / "state.json"))

    monkeypatch.setattr(RunDir, "write_states", full)
    outcome = cairn()
    assert outcome.exit_code == 1
    run_id = next(p.name for p in (good.path / ".cairn").iterdir() if p.name.isdigit())
    assert outcome.stderr == (
        f"cairn run: run {run_id} stopped: No space left on device "
        f"({good.path / '.cairn' / run_id / 'state.json'}). "
        f"Resume it with: cairn run --resume {run_id}\n"
    )
    monkeypatch.setattr(RunDir, "write_states", write_states)
    resumed = cairn(resume=run_id)
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.conclusions() == {"build": "success"}

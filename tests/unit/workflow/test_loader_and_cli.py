"""load_workflow, discover_workflows and `cairn plan` (its JSON contract and exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cairn.cli import main as cairn_main
from cairn.workflow import (
    MAX_FILE_BYTES,
    WorkflowError,
    WorkflowNotFoundError,
    discover_workflows,
    load_workflow,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "workflows" / "ci.yml"
CORPUS = ROOT / "tests" / "corpus" / "workflows"

JOBS = "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"


def test_discover_a_directory_sorted_without_subdirectories(tmp_path: Path) -> None:
    for name in ["b.yaml", "a.yml", "notes.txt", "c.YML.bak"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "d.yml").write_text("x")
    assert discover_workflows(tmp_path) == [tmp_path / "a.yml", tmp_path / "b.yaml"]
    assert discover_workflows(tmp_path / "a.yml") == [tmp_path / "a.yml"]
    with pytest.raises(WorkflowNotFoundError, match="no such file or directory"):
        discover_workflows(tmp_path / "missing")


def test_load_refuses_big_files_before_reading_them(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    assert str(caught.value) == (
        f"{path}:1:1: the workflow file is {MAX_FILE_BYTES + 1} bytes; "
        f"the limit is {MAX_FILE_BYTES} bytes ({MAX_FILE_BYTES // 1024} KiB)"
    )


def test_load_reports_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="cannot read the file"):
        load_workflow(tmp_path)
    with pytest.raises(WorkflowError, match="cannot read the file"):
        load_workflow(tmp_path / "missing.yml")


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "ci.yml"
    os.mkfifo(pipe)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            load_workflow(pipe)
        except WorkflowError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "load_workflow blocked on a named pipe"
    assert [str(e) for e in outcome] == [
        f"{pipe}:1:1: cannot read the file: it is not a regular file"
    ]


def run_plan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cairn_main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_plan(capsys, str(EXAMPLE), "--format", "json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert list(document) == ["workflows"]
    (workflow,) = document["workflows"]
    assert list(workflow) == ["file", "name", "triggered", "jobs"]
    assert workflow["file"] == str(EXAMPLE)
    assert workflow["name"] == "CI"
    assert workflow["triggered"] is True
    keys = ["key", "name", "matrix", "needs", "runs_on", "if", "timeout_minutes", "steps"]
    assert all(list(job) == keys for job in workflow["jobs"])
    assert workflow["jobs"][0] == {
        "key": "lint",
        "name": "Lint",
        "matrix": {},
        "needs": [],
        "runs_on": ["ubuntu-latest"],
        "if": None,
        "timeout_minutes": 360,
        "steps": 3,
    }
    assert workflow["jobs"][1] == {
        "key": "test",
        "name": "test (unit, 0)",
        "matrix": {"suite": "unit", "optimize": "0"},
        "needs": ["lint"],
        "runs_on": ["ubuntu-latest"],
        "if": None,
        "timeout_minutes": 5,
        "steps": 2,
    }
    report = workflow["jobs"][-1]
    assert report["needs"] == ["lint", "test", "package"]
    assert report["if"] == "${{ always() }}"


def test_runs_on_is_rendered_per_instance_and_null_for_callers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_plan(
        capsys, str(CORPUS / "valid" / "python-matrix-ci.yml"), "--format", "json"
    )
    assert code == 0
    jobs = json.loads(out)["workflows"][0]["jobs"]
    assert [j["runs_on"] for j in jobs if j["key"] == "test"][3] == ["macos-latest"]
    code, out, _ = run_plan(
        capsys, str(CORPUS / "valid" / "reusable-caller.yml"), "--format", "json"
    )
    jobs = json.loads(out)["workflows"][0]["jobs"]
    assert jobs[0]["key"] == "checks" and jobs[0]["runs_on"] is None and jobs[0]["steps"] == 0
    code, out, _ = run_plan(
        capsys, str(CORPUS / "valid" / "scheduled-nightly.yml"), "--format", "json"
    )
    jobs = json.loads(out)["workflows"][0]["jobs"]
    assert jobs[0]["runs_on"] == ["group:large-runners", "linux", "x64"]


def test_triggered_follows_event_ref_and_payload(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def triggered(*argv: str) -> bool:
        code, out, _ = run_plan(capsys, str(EXAMPLE), "--format", "json", *argv)
        assert code == 0
        return bool(json.loads(out)["workflows"][0]["triggered"])

    assert triggered()
    assert not triggered("--ref", "refs/heads/dev")
    assert triggered("--ref", "releases/v1")
    assert triggered("--event", "pull_request")
    assert not triggered("--event", "schedule")
    payload = tmp_path / "closed.json"
    payload.write_text(json.dumps({"action": "closed", "pull_request": {"base": {"ref": "main"}}}))
    assert not triggered("--event", "pull_request", "--payload", str(payload))


def test_directories_and_the_invalid_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "good.yml").write_text("name: good\non: push\n" + JOBS)
    (tmp_path / "bad.yml").write_text("on: push\njobs:\n  a:\n    runs-on: x\n    stepz: []\n")
    code, out, err = run_plan(capsys, str(tmp_path), "--format", "json")
    assert code == 2
    assert [w["name"] for w in json.loads(out)["workflows"]] == ["good"]
    assert err.splitlines() == [
        f"{tmp_path / 'bad.yml'}:3:3: job 'a' must have 'steps' (to run on a runner) or 'uses' "
        "(to call a reusable workflow)",
        f"{tmp_path / 'bad.yml'}:5:5: unknown key 'stepz' in job 'a'; did you mean 'steps'?",
    ]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_plan(capsys, str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in err
    code, _, err = run_plan(capsys, str(tmp_path))
    assert code == 2 and "no workflow files" in err
    code, _, err = run_plan(capsys, str(EXAMPLE), "--event", "pushh")
    assert code == 2 and "unknown event 'pushh'; did you mean 'push'?" in err
    bad = tmp_path / "payload.json"
    bad.write_text("{not json")
    code, _, err = run_plan(capsys, str(EXAMPLE), "--payload", str(bad))
    assert code == 2 and "is not valid JSON" in err
    bad.write_text("[1, 2]")
    code, _, err = run_plan(capsys, str(EXAMPLE), "--payload", str(bad))
    assert code == 2 and "must be a JSON object" in err
    code, _, err = run_plan(capsys, str(EXAMPLE), "--payload", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read payload" in err
    bad.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run_plan(capsys, str(EXAMPLE), "--payload", str(bad))
    assert (
        code == 2 and err == f"cairn plan: payload {bad} nests its values too deeply to be read\n"
    )


def test_nothing_on_stdout_in_text_when_no_file_compiles(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "bad.yml").write_text("on: push\njobs: {}\n")
    code, out, err = run_plan(capsys, str(tmp_path / "bad.yml"))
    assert (code, out) == (2, "")
    assert err == f"{tmp_path / 'bad.yml'}:2:7: 'jobs' must define at least one job\n"
    code, out, _ = run_plan(capsys, str(tmp_path / "bad.yml"), "--format", "json")
    assert (code, json.loads(out)) == (2, {"workflows": []})


def test_default_path_is_dot_github_workflows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text("name: from default\non: push\n" + JOBS)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_plan(capsys, "--format", "json")
    assert code == 0
    assert json.loads(out)["workflows"][0]["file"] == str(Path(".github/workflows/ci.yml"))


def test_text_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_plan(capsys, str(EXAMPLE))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"CI  ({EXAMPLE})"
    assert lines[1] == "  on push: runs - branch 'main' passes the branch filters"
    assert lines[2] == "  4 job(s), 7 instance(s)"
    assert lines[3] == "  ├─ Lint  [ubuntu-latest]  3 steps"
    assert lines[4] == "  ├─ test  (4 instances)  2 steps  needs lint"
    assert lines[5] == "  │  ├─ test (unit, 0)  [ubuntu-latest]"
    assert (
        lines[-1]
        == "  └─ report  [ubuntu-latest]  1 step  needs lint, test, package  if ${{ always() }}"
    )


def test_mermaid_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_plan(
        capsys, str(EXAMPLE), str(CORPUS / "valid" / "dynamic-matrix.yml"), "--format", "mermaid"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  subgraph w0["CI"]' in lines
    assert '    subgraph w0j1["test (4 instances)"]' in lines
    assert '      w0j1i0["test (unit, 0)"]' in lines
    assert "  w0j0 --> w0j1" in lines and "  w0j2 --> w0j3" in lines
    assert '    w1j1[["build (matrix at run time)"]]' in lines
    assert "  w1j0 --> w1j1" in lines
    assert out.count("subgraph") == out.count("\n  end") + out.count("\n    end")


def test_the_installed_command_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "plan", str(EXAMPLE), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["workflows"][0]["name"] == "CI"


def test_mermaid_labels_escape_what_mermaid_reads_as_syntax(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text(
        'name: "Build #1 <\\"fast\\">"\non: push\njobs:\n  a:\n'
        '    name: "line one\\nline two"\n    runs-on: x\n    steps:\n      - run: make\n'
    )
    code, out, _ = run_plan(capsys, str(workflow), "--format", "mermaid")
    assert code == 0
    assert out.splitlines() == [
        "flowchart LR",
        '  subgraph w0["Build #35;1 #lt;#quot;fast#quot;#gt;"]',
        '    w0j0["line one line two"]',
        "  end",
    ]
